"""The SQL index of the local store (SQLAlchemy 2 Core; SQLite by default, or PostgreSQL).

SQLite runs in WAL mode with ``synchronous=FULL`` (a committed row survives power loss,
which the Storage SCP promises before it answers success), a busy timeout and foreign
keys on. An index opened with ``durable=False`` (setting ``sync = never``) uses
``synchronous=OFF`` on SQLite and ``synchronous_commit=off`` on PostgreSQL instead: the
last commits may be lost on power loss, never the database itself. Writes open with ``BEGIN IMMEDIATE`` so concurrent writers queue on the busy
timeout instead of failing when a read transaction would have to become a write one.
On PostgreSQL, rows of the parent levels are created with ``INSERT ... ON CONFLICT DO
NOTHING`` so concurrent receivers of one study never collide.

Every database error leaves as :class:`~pacslink.errors.StoreError`, with the first line
of the driver's message only: later lines (PostgreSQL's ``DETAIL``) and statement
parameters can carry patient data, which default logs must not.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row
from sqlalchemy.pool import StaticPool

from pacslink.errors import StoreError
from pacslink.models import StoredInstance, StudyDetail, StudySummary
from pacslink.store import query
from pacslink.store.record import InstanceRecord, Value, stored_instance
from pacslink.store.schema import (
    ATTRIBUTES,
    FILE_COLUMNS,
    SCHEMA_VERSION,
    TABLES,
    Level,
    attributes_of,
    instance,
    meta_table,
    metadata,
    patient,
    series,
    study,
)
from pacslink.store.writer import IndexWriter, WriteTransaction

_WRITE = "pacslink_write"
_PARENT_FK = {Level.STUDY: "patient_pk", Level.SERIES: "study_pk", Level.IMAGE: "series_pk"}
_BATCH = 500


def _error(exc: sa.exc.SQLAlchemyError, what: str) -> StoreError:
    orig = getattr(exc, "orig", None) or exc
    first_line = (str(orig).splitlines() or [type(orig).__name__])[0]
    return StoreError(f"index database error while {what}: {first_line}")


def _install_postgresql_hooks(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET synchronous_commit = off")
        cursor.close()
        dbapi_connection.commit()


def _install_sqlite_hooks(engine: sa.Engine, durable: bool) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=OFF",
            "PRAGMA busy_timeout=30000",
            "PRAGMA foreign_keys=ON",
        ):
            cursor.execute(pragma)
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Index:
    """The local store's index of patients, studies, series and instances.

    Parameters
    ----------
    url : str
        A SQLAlchemy database URL: ``sqlite:////abs/path/index.sqlite`` (the parent
        directory is created), ``sqlite://`` for a private in-memory index, or
        ``postgresql+psycopg://user:password@host:port/dbname``.
    durable : bool
        Commits reach the disk before they return (default). ``False`` skips that
        flush (setting ``sync = never``): recent commits may be lost on power loss.

    Raises
    ------
    StoreError
        If the URL is malformed, names another database, the database cannot be
        reached, or it holds an index of another schema version.
    """

    def __init__(self, url: str, *, durable: bool = True) -> None:
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError as exc:  # the message would repeat the URL (secrets)
            raise StoreError(
                "bad index database URL; expected e.g. sqlite:////path/index.sqlite or "
                "postgresql+psycopg://user@host:5432/dbname"
            ) from exc
        backend = parsed.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise StoreError(
                f"index database {backend!r} is not supported; use sqlite or postgresql"
            )
        self._dialect = backend
        self._lock: threading.RLock | None = None
        options: dict[str, Any] = {"hide_parameters": True}
        if backend == "sqlite":
            database = parsed.database or ""
            if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
                # One shared connection, serialised by a lock: an in-memory database
                # exists only inside its connection.
                options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
                self._lock = threading.RLock()
            elif not database.startswith("file:"):
                Path(database).parent.mkdir(parents=True, exist_ok=True)
        else:
            options["pool_pre_ping"] = True
        try:
            self._engine = sa.create_engine(parsed, **options)
        except (sa.exc.SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"cannot open index database: {exc}") from exc
        self.durable = durable
        if backend == "sqlite":
            _install_sqlite_hooks(self._engine, durable)
        elif not durable:
            _install_postgresql_hooks(self._engine)
        self._create()
        self._writer = IndexWriter(self._engine)

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine, for read-only query modules (C-FIND matching)."""
        return self._engine

    # -- transactions -------------------------------------------------------------

    @contextmanager
    def _transaction(self, what: str, *, write: bool) -> Iterator[Connection]:
        lock = self._lock
        if lock is not None:
            lock.acquire()
        try:
            with self._engine.connect() as conn:
                conn.execution_options(**{_WRITE: write})
                with conn.begin():
                    yield conn
        except sa.exc.SQLAlchemyError as exc:
            raise _error(exc, what) from exc
        finally:
            if lock is not None:
                lock.release()

    def _create(self) -> None:
        for attempt in (1, 2):  # a second try if another process created them meanwhile
            try:
                with self._transaction("creating tables", write=True) as conn:
                    metadata.create_all(conn)
                    found = conn.execute(
                        sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")
                    ).scalar()
                    if found is None:
                        conn.execute(
                            meta_table.insert().values(
                                key="schema_version", value=str(SCHEMA_VERSION)
                            )
                        )
                break
            except StoreError:
                if attempt == 2:
                    self._engine.dispose()
                    raise
        if found is not None and found != str(SCHEMA_VERSION):
            self._engine.dispose()
            raise StoreError(
                f"the index has schema version {found}; this pacslink needs {SCHEMA_VERSION}"
            )

    def _insert(self, table: sa.Table) -> Any:
        return (sqlite.insert if self._dialect == "sqlite" else postgresql.insert)(table)

    # -- writing ------------------------------------------------------------------

    def _ensure(
        self,
        conn: Connection,
        level: Level,
        values: Mapping[str, Value],
        parent: int | None,
        overwrite: bool,
    ) -> int:
        """Return the pk of the row of ``level`` for ``values``, creating or updating it.

        An existing row keeps its values (the first instance received wins) and only
        gains those it lacked, unless ``overwrite``: then every value the new instance
        has replaces the old one (a corrected copy was sent on purpose).
        """
        table = TABLES[level]
        attrs = attributes_of(level)
        key = next(a for a in attrs if a.key)
        row: dict[str, Any] = {a.column: values.get(a.keyword) for a in attrs}
        where = table.c[key.column] == row[key.column]
        found = conn.execute(sa.select(table).where(where)).first()
        if found is None:
            if parent is not None:
                row[_PARENT_FK[level]] = parent
            conn.execute(
                self._insert(table)
                .values(**row)
                .on_conflict_do_nothing(index_elements=[key.column])
            )
            found = conn.execute(sa.select(table).where(where)).one()
            return int(found.pk)
        fill = {
            a.column: row[a.column]
            for a in attrs
            if not a.key
            and row[a.column] is not None
            and (found._mapping[a.column] is None or overwrite)
            and found._mapping[a.column] != row[a.column]
        }
        if fill:
            conn.execute(sa.update(table).where(table.c.pk == found.pk).values(**fill))
        return int(found.pk)

    def _instance_row(
        self, conn: Connection, record: InstanceRecord, *, overwrite: bool = False
    ) -> dict[str, Any]:
        values = record.values
        patient_pk = self._ensure(conn, Level.PATIENT, values, None, overwrite)
        study_pk = self._ensure(conn, Level.STUDY, values, patient_pk, overwrite)
        series_pk = self._ensure(conn, Level.SERIES, values, study_pk, overwrite)
        row: dict[str, Any] = {a.column: values.get(a.keyword) for a in attributes_of(Level.IMAGE)}
        row.update(series_pk=series_pk, **record.file_columns(naive_utc=self._dialect == "sqlite"))
        return row

    def add_instance(self, record: InstanceRecord, *, replace: bool = False) -> bool:
        """Record one stored instance (and its patient, study and series) in one transaction.

        Parameters
        ----------
        record : InstanceRecord
            The instance and its file.
        replace : bool
            Replace an existing row with the same SOP Instance UID (see
            :meth:`replace_instance`, which also returns the old row).

        Returns
        -------
        bool
            ``False`` if the SOP Instance UID is already indexed and ``replace`` is false
            (nothing was written); ``True`` otherwise.
        """
        if replace:
            self.replace_instance(record)
            return True
        return self._add_records([record])[0]

    def add_instances(self, records: Sequence[InstanceRecord]) -> list[bool]:
        """Record several instances in one transaction (group commit).

        Each one is recorded as by :meth:`add_instance` (``replace`` false), in order;
        see :mod:`pacslink.store.writer`.

        Returns
        -------
        list of bool
            Per record, ``False`` if its SOP Instance UID was already indexed (by an
            earlier record of the batch too); then nothing was written for it.

        Raises
        ------
        StoreError
            The database failed: none of the records was recorded.
        """
        return self._add_records(records)

    def begin_now(self) -> WriteTransaction | None:
        """A write transaction for :meth:`WriteTransaction.add`, if it needs no waiting.

        Only a SQLite index file answers, and only when no one holds its write lock
        (the lock is tried, not waited for); otherwise ``None``: use
        :meth:`add_instances` from a worker thread.
        """
        if self._lock is not None:
            return None
        return self._writer.begin_now()

    def _add_records(self, records: Sequence[InstanceRecord]) -> list[bool]:
        lock = self._lock
        if lock is None:
            return self._writer.add(records)
        with lock:
            return self._writer.add(records)

    def _insert_instance(self, conn: Connection, row: dict[str, Any]) -> int | None:
        """Insert an instance row; return its pk, or ``None`` if the UID is taken."""
        inserted = conn.execute(
            self._insert(instance)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["sop_instance_uid"])
            .returning(instance.c.pk)
        ).first()
        return None if inserted is None else int(inserted.pk)

    def replace_instance(self, record: InstanceRecord) -> StoredInstance | None:
        """Record ``record``, replacing any row with its SOP Instance UID.

        The patient, study and series rows take the new instance's values (a copy sent
        again on purpose may carry corrections).

        Returns
        -------
        StoredInstance or None
            The row that was replaced (its file is now unreferenced and the caller
            deletes it), or ``None`` if there was none.
        """
        uid = record.sop_instance_uid
        with self._transaction("replacing an instance", write=True) as conn:
            for _ in range(5):
                old = conn.execute(
                    query.instance_select()
                    .where(instance.c.sop_instance_uid == uid)
                    .with_for_update(of=instance)
                ).first()
                row = self._instance_row(conn, record, overwrite=True)
                if old is None:
                    if self._insert_instance(conn, row) is not None:
                        return None
                    continue  # inserted concurrently (PostgreSQL): lock it and update
                conn.execute(
                    sa.update(instance).where(instance.c.pk == old.instance_pk).values(**row)
                )
                if old.series_pk != row["series_pk"]:
                    self._prune(conn, int(old.series_pk))
                return self._to_instance(old)
        raise StoreError(f"could not replace instance {uid}: it kept changing concurrently")

    def _prune(self, conn: Connection, series_pk: int) -> None:
        """Delete the series ``series_pk`` if empty, then its study and patient if empty."""
        study_pk = conn.execute(
            sa.select(series.c.study_pk).where(series.c.pk == series_pk)
        ).scalar()
        patient_pk = conn.execute(
            sa.select(study.c.patient_pk).where(study.c.pk == study_pk)
        ).scalar()
        steps = (
            (series, series_pk, instance.c.series_pk),
            (study, study_pk, series.c.study_pk),
            (patient, patient_pk, study.c.patient_pk),
        )
        for table, pk, child_fk in steps:
            if (
                pk is None
                or conn.execute(sa.select(child_fk).where(child_fk == pk).limit(1)).first()
            ):
                return
            conn.execute(sa.delete(table).where(table.c.pk == pk))

    # -- reading ------------------------------------------------------------------

    def _to_instance(self, row: Row[Any]) -> StoredInstance:
        mapping = row._mapping
        received_at: datetime = mapping["received_at"]
        received_at = (
            received_at.replace(tzinfo=UTC)
            if received_at.tzinfo is None
            else received_at.astimezone(UTC)
        )
        values = {a.keyword: mapping[a.column] for a in ATTRIBUTES}
        files = {c: mapping[c] for c in FILE_COLUMNS if c != "received_at"}
        return stored_instance(values, received_at=received_at, **files)

    def get_instance(self, sop_instance_uid: str) -> StoredInstance | None:
        """Return the indexed instance with this SOP Instance UID, or ``None``."""
        with self._transaction("reading an instance", write=False) as conn:
            row = conn.execute(
                query.instance_select().where(instance.c.sop_instance_uid == sop_instance_uid)
            ).first()
        return None if row is None else self._to_instance(row)

    def present(self, sop_instance_uids: Iterable[str]) -> set[str]:
        """The SOP Instance UIDs among ``sop_instance_uids`` that the index holds."""
        wanted = list(dict.fromkeys(sop_instance_uids))
        found: set[str] = set()
        with self._transaction("reading instances", write=False) as conn:
            for start in range(0, len(wanted), 500):  # bound the size of one IN (...)
                chunk = wanted[start : start + 500]
                found.update(conn.execute(
                    sa.select(instance.c.sop_instance_uid)
                    .where(instance.c.sop_instance_uid.in_(chunk))
                ).scalars())
        return found

    def iter_instances(self) -> Iterator[StoredInstance]:
        """Yield every indexed instance, in insertion order, a page at a time.

        No transaction stays open between pages, so writers are never blocked.
        """
        last = 0
        while True:
            with self._transaction("listing instances", write=False) as conn:
                rows = conn.execute(
                    query.instance_select()
                    .where(instance.c.pk > last)
                    .order_by(instance.c.pk)
                    .limit(_BATCH)
                ).all()
            for row in rows:
                yield self._to_instance(row)
            if len(rows) < _BATCH:
                return
            last = int(rows[-1].instance_pk)

    def list_studies(self, patient_id: str | None = None) -> list[StudySummary]:
        """Return the studies held locally, newest study date first.

        Parameters
        ----------
        patient_id : str, optional
            Only this patient's studies (exact match on Patient ID).
        """
        with self._transaction("listing studies", write=False) as conn:
            return query.study_summaries(conn, patient_id=patient_id)

    def study_detail(self, study_instance_uid: str) -> StudyDetail | None:
        """Return a study with its series and their instances, or ``None`` if unknown."""
        with self._transaction("reading a study", write=False) as conn:
            summaries = query.study_summaries(conn, study_instance_uid=study_instance_uid)
            if not summaries:
                return None
            rows = conn.execute(
                query.instance_select().where(study.c.study_instance_uid == study_instance_uid)
            ).all()
            return query.study_detail(
                conn, summaries[0], [(int(r.series_pk), self._to_instance(r)) for r in rows]
            )

    def close(self) -> None:
        """Release every database connection. The index must not be used afterwards."""
        self._writer.close()
        self._engine.dispose()

    def study_of_series(self, series_instance_uid: str) -> str | None:
        """Return the Study Instance UID of a locally held series, or ``None``."""
        with self._transaction("reading a series", write=False) as conn:
            found = conn.execute(
                sa.select(study.c.study_instance_uid)
                .join(series, series.c.study_pk == study.c.pk)
                .where(series.c.series_instance_uid == series_instance_uid)
            ).scalar()
        return None if found is None else str(found)

    def delete_study(self, study_instance_uid: str) -> list[StoredInstance]:
        """Delete a study's rows (instances, series, the study; its patient if now empty).

        The files are not touched: the caller deletes them once this has committed, so
        no index row ever points at a deleted file.

        Returns
        -------
        list of StoredInstance
            The instances whose rows were deleted (empty for an unknown study).
        """
        with self._transaction("deleting a study", write=True) as conn:
            found = conn.execute(
                sa.select(study.c.pk, study.c.patient_pk)
                .where(study.c.study_instance_uid == study_instance_uid)
            ).first()
            if found is None:
                return []
            rows = conn.execute(
                query.instance_select().where(study.c.pk == found.pk)
            ).all()
            series_pks = sa.select(series.c.pk).where(series.c.study_pk == found.pk)
            conn.execute(sa.delete(instance).where(instance.c.series_pk.in_(series_pks)))
            conn.execute(sa.delete(series).where(series.c.study_pk == found.pk))
            conn.execute(sa.delete(study).where(study.c.pk == found.pk))
            others = conn.execute(
                sa.select(study.c.pk).where(study.c.patient_pk == found.patient_pk).limit(1)
            ).first()
            if others is None:
                conn.execute(sa.delete(patient).where(patient.c.pk == found.patient_pk))
        return [self._to_instance(r) for r in rows]


__all__ = ["Index"]
