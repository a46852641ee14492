"""The index's hot path: recording received instances with precompiled SQL.

The Storage SCP records every instance it receives, often hundreds per second, so this
path avoids what SQLAlchemy Core costs per statement (building, cache-key generation,
result objects: ~0.1 ms each, four or more statements per instance). The statements are
built with SQLAlchemy once per dialect, compiled to SQL text, and executed on the pooled
DBAPI connection's own cursor; every other use of the index keeps going through Core.

One call records a *batch* of instances in one transaction (group commit: one WAL or
PostgreSQL commit for several instances received at once). Per instance, in order:

1. ``SELECT`` the SOP Instance UID: already indexed means a duplicate; nothing is written
   for it. On SQLite the transaction holds the write lock (``BEGIN IMMEDIATE``), so this
   answer stands; on PostgreSQL each instance runs inside a ``SAVEPOINT`` that is rolled
   back if a concurrent transaction inserts the same UID first.
2. patient, study and series rows are looked up by their keys and created when missing
   (``INSERT ... ON CONFLICT DO NOTHING RETURNING pk``); an existing row keeps its
   values and only gains the ones it lacked (as :meth:`pacslink.store.Index.add_instance`
   always did).
3. the instance row is inserted.

DBAPI errors leave as :class:`~pacslink.errors.StoreError` with the first line of the
driver's message only (later lines and parameters can carry patient data).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.compiler import SQLCompiler

from pacslink.errors import StoreError
from pacslink.store.record import InstanceRecord, Value
from pacslink.store.schema import FILE_COLUMNS, TABLES, Level, attributes_of, instance

_SQLITE_BUSY = 5
_PARENT_FK = {Level.STUDY: "patient_pk", Level.SERIES: "study_pk", Level.IMAGE: "series_pk"}


@dataclass(frozen=True)
class _Statement:
    """One compiled statement and how to turn named values into DBAPI parameters."""

    sql: str
    names: tuple[str, ...]
    positional: bool
    processors: tuple[tuple[str, Callable[[Any], Any]], ...]

    def params(self, values: Mapping[str, Any]) -> Any:
        if self.processors:
            values = dict(values)
            for name, process in self.processors:
                values[name] = process(values[name])
        if self.positional:
            return tuple(values[name] for name in self.names)
        return {name: values[name] for name in self.names}


def _compile(stmt: sa.ClauseElement, dialect: sa.Dialect, table: sa.Table) -> _Statement:
    compiled = cast(SQLCompiler, stmt.compile(dialect=dialect))
    names = tuple(compiled.positiontup or compiled.binds)
    processors = []
    for name in names:
        column = table.c.get(name)
        if column is not None:
            process = column.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors.append((name, process))
    return _Statement(compiled.string, names, compiled.positiontup is not None, tuple(processors))


@dataclass(frozen=True)
class _Level:
    level: Level
    columns: tuple[str, ...]  # the attribute columns, key first
    keywords: tuple[str, ...]
    select: _Statement  # pk + columns, by key
    insert: _Statement  # columns (+ parent fk), returning pk


class IndexWriter:
    """Records instances in batches through precompiled statements.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The index's engine (SQLite or PostgreSQL), tables already created.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        dialect = engine.dialect
        self._sqlite = dialect.name == "sqlite"
        self._dbapi_error: type[Exception] = dialect.loaded_dbapi.Error
        insert = sqlite.insert if self._sqlite else postgresql.insert
        self._levels: list[_Level] = []
        for level in (Level.PATIENT, Level.STUDY, Level.SERIES):
            table = TABLES[level]
            attrs = sorted(attributes_of(level), key=lambda a: not a.key)
            columns = tuple(a.column for a in attrs)
            bound = columns + ((_PARENT_FK[level],) if level in _PARENT_FK else ())
            select = sa.select(table.c.pk, *(table.c[c] for c in columns)).where(
                table.c[columns[0]] == sa.bindparam(columns[0])
            )
            ins = (
                insert(table)
                .values({c: sa.bindparam(c) for c in bound})
                .on_conflict_do_nothing(index_elements=[columns[0]])
                .returning(table.c.pk)
            )
            self._levels.append(_Level(
                level, columns, tuple(a.keyword for a in attrs),
                _compile(select, dialect, table), _compile(ins, dialect, table),
            ))
        self._image_attrs = tuple((a.column, a.keyword) for a in attributes_of(Level.IMAGE))
        bound = ("series_pk", *(c for c, _ in self._image_attrs), *FILE_COLUMNS)
        self._insert_instance = _compile(
            insert(instance)
            .values({c: sa.bindparam(c) for c in bound})
            .on_conflict_do_nothing(index_elements=["sop_instance_uid"])
            .returning(instance.c.pk),
            dialect, instance,
        )
        self._find_instance = _compile(
            sa.select(instance.c.pk).where(
                instance.c.sop_instance_uid == sa.bindparam("sop_instance_uid")
            ),
            dialect, instance,
        )
        self._dialect = dialect
        self._now: Any = None  # the connection of begin_now
        self._now_lock = threading.Lock()  # held while a begin_now transaction is open

    def add(self, records: Sequence[InstanceRecord]) -> list[bool]:
        """Record ``records`` in one transaction; ``False`` for each one already indexed.

        Raises
        ------
        StoreError
            If the database fails; then nothing of the batch was recorded.
        """
        transaction = self._begin()
        try:
            added = transaction.add(records)
            transaction.commit()
            return added
        finally:
            transaction.close()

    def begin_now(self) -> WriteTransaction | None:
        """Open a write transaction on SQLite if nobody holds the write lock, else ``None``.

        It never waits for the lock, so the event loop may call it: it runs on a
        connection of its own, kept open, whose busy timeout is 0. On PostgreSQL (a
        network round trip away) it always answers ``None``.

        Raises
        ------
        StoreError
            If the database fails otherwise.
        """
        if not self._sqlite or not self._now_lock.acquire(blocking=False):
            return None  # PostgreSQL, or in use by another thread right now
        try:
            return self._begin_now()
        except BaseException:
            self._now_lock.release()
            raise

    def _begin_now(self) -> WriteTransaction | None:
        if self._now is None:
            self._now = self._connect()
            try:
                self._now.cursor().execute("PRAGMA busy_timeout=0")
            except self._dbapi_error as exc:
                self._drop_now()
                raise _error(exc) from exc
        raw = self._now
        cursor = raw.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except self._dbapi_error as exc:
            cursor.close()
            if getattr(exc, "sqlite_errorcode", None) == _SQLITE_BUSY:
                self._now_lock.release()
                return None
            self._drop_now()
            raise _error(exc) from exc
        return WriteTransaction(self, raw, cursor, keep=True)

    def _drop_now(self) -> None:
        if self._now is not None:
            self._now.invalidate()
            self._now = None

    def close(self) -> None:
        """Close the connection of :meth:`begin_now` (the engine's pool is not ours)."""
        if self._now is not None:
            self._now.close()
            self._now = None

    def _connect(self) -> Any:
        try:
            return self._engine.raw_connection()
        except sa.exc.SQLAlchemyError as exc:
            raise _error(getattr(exc, "orig", None) or exc) from exc

    def _begin(self) -> WriteTransaction:
        raw = self._connect()
        try:
            transaction = WriteTransaction(self, raw, raw.cursor())
        except self._dbapi_error as exc:
            raw.close()
            raise _error(exc) from exc
        try:
            if self._sqlite:
                transaction.cursor.execute("BEGIN IMMEDIATE")
        except self._dbapi_error as exc:
            transaction.close()
            raise _error(exc) from exc
        return transaction

    def _add_one(self, cursor: Any, record: InstanceRecord) -> bool:
        values = record.values
        cursor.execute(self._find_instance.sql,
                       self._find_instance.params({"sop_instance_uid": values["SOPInstanceUID"]}))
        if cursor.fetchone() is not None:
            return False
        savepoint = not self._sqlite
        if savepoint:
            cursor.execute("SAVEPOINT pacslink_instance")
        parent: int | None = None
        for level in self._levels:
            parent = self._ensure(cursor, level, values, parent)
        row: dict[str, Any] = {column: values.get(keyword) for column, keyword in self._image_attrs}
        row.update(series_pk=parent, **record.file_columns(naive_utc=self._sqlite))
        cursor.execute(self._insert_instance.sql, self._insert_instance.params(row))
        inserted = cursor.fetchone() is not None
        if savepoint:
            cursor.execute("RELEASE SAVEPOINT pacslink_instance" if inserted
                           else "ROLLBACK TO SAVEPOINT pacslink_instance")
        return inserted

    def _ensure(
        self, cursor: Any, level: _Level, values: Mapping[str, Value], parent: int | None
    ) -> int:
        row: dict[str, Any] = {c: values.get(k) for c, k in zip(level.columns, level.keywords)}
        key = level.columns[0]
        cursor.execute(level.select.sql, level.select.params({key: row[key]}))
        found = cursor.fetchone()
        if found is None:
            if level.level in _PARENT_FK:
                row[_PARENT_FK[level.level]] = parent
            cursor.execute(level.insert.sql, level.insert.params(row))
            created = cursor.fetchone()
            if created is not None:
                return int(created[0])
            # inserted concurrently by another transaction (PostgreSQL): read it
            cursor.execute(level.select.sql, level.select.params({key: row[key]}))
            found = cursor.fetchone()
            if found is None:  # pragma: no cover - deleted again at once
                raise StoreError(f"index row for {row[key]} vanished while being created")
        pk = int(found[0])
        fill = {
            column: row[column]
            for column, old in zip(level.columns[1:], found[2:])
            if old is None and row[column] is not None
        }
        if fill:
            table = TABLES[level.level]
            update = _compile(
                sa.update(table).where(table.c.pk == sa.bindparam("pk_"))
                .values({c: sa.bindparam(c) for c in fill}),
                self._dialect, table,
            )
            cursor.execute(update.sql, update.params({**fill, "pk_": pk}))
        return pk


class WriteTransaction:
    """An open write transaction of :class:`IndexWriter`; :meth:`close` it in any case."""

    def __init__(self, writer: IndexWriter, raw: Any, cursor: Any, *, keep: bool = False) -> None:
        self._writer = writer
        self._raw = raw
        self.cursor: Any = cursor
        self._keep = keep  # the connection stays open (begin_now's)
        self._open = True

    def add(self, records: Sequence[InstanceRecord]) -> list[bool]:
        """Record ``records``; ``False`` for each one already indexed. Not yet committed.

        Raises
        ------
        StoreError
            If the database fails; the transaction is then rolled back.
        """
        try:
            return [self._writer._add_one(self.cursor, record) for record in records]
        except self._writer._dbapi_error as exc:
            self.close()
            raise _error(exc) from exc
        except BaseException:
            self.close()
            raise

    def commit(self) -> None:
        """Commit what was added.

        Raises
        ------
        StoreError
            If the commit fails (nothing was recorded).
        """
        try:
            self._raw.commit()
        except self._writer._dbapi_error as exc:
            self.close()
            raise _error(exc) from exc
        self._open = False

    def close(self) -> None:
        """Roll back what was not committed and give the connection back (idempotent)."""
        if self.cursor is None:
            return
        broken = False
        try:
            if self._open:
                self._raw.rollback()
        except self._writer._dbapi_error:
            broken = True
        finally:
            self.cursor.close()
            self.cursor = None
        if broken and self._keep:
            self._writer._drop_now()
        elif broken:
            self._raw.invalidate()  # unusable: the pool drops it
        elif not self._keep:
            self._raw.close()
        if self._keep:
            self._writer._now_lock.release()


def _error(exc: BaseException) -> StoreError:
    first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
    return StoreError(f"index database error while adding instances: {first_line}")


__all__ = ["IndexWriter", "WriteTransaction"]
