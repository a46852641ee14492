"""Committing received instances: together (group commit), or at once on the event loop.

:func:`commit_batch` is what the :class:`~pacslink.store.committer.GroupCommitter`
thread runs over everything submitted meanwhile, and what
:meth:`~pacslink.store.IncomingFile.commit` runs for one instance:

1. each instance not yet prepared is checked, its file fsynced (durable mode) and
   renamed into ``objects/`` (:meth:`~pacslink.store.IncomingFile._prepare`, which may
   also have run earlier in a worker thread, in parallel with other associations');
2. the directories they went to are fsynced, once each (durable mode);
3. the index records them all in one transaction; if that fails, each is retried in a
   transaction of its own, so one bad instance cannot fail the others;
4. only then is any of them done (a duplicate's new file is removed).

:func:`commit_now` is the ``sync = never`` path of
:meth:`~pacslink.store.IncomingFile.commit_async`: the same steps for one instance,
but only if the index grants its write lock at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pacslink.errors import StoreError
from pacslink.models import DuplicatePolicy, IngestResult, StoredInstance, SyncMode
from pacslink.store import paths

if TYPE_CHECKING:
    from pacslink.store.ingest import IncomingFile, Store
    from pacslink.store.record import InstanceRecord

logger = logging.getLogger(__name__)

_Prepared = tuple[int, "IncomingFile", "InstanceRecord"]


def _as_exception(error: BaseException) -> Exception:
    if isinstance(error, Exception):
        return error
    raise error


def commit_batch(store: Store, incoming: Sequence[IncomingFile]) -> list[IngestResult | Exception]:
    """Commit ``incoming`` together; blocking (a worker thread's job).

    Returns
    -------
    list
        Per instance, in order: its :class:`~pacslink.models.IngestResult`, or the
        exception :meth:`~pacslink.store.IncomingFile.commit` raises for it (its files
        are already removed).
    """
    outcomes: list[IngestResult | Exception | None] = [None] * len(incoming)
    prepared: list[_Prepared] = []
    for i, item in enumerate(incoming):
        try:
            prepared.append((i, item, item.record or item._prepare()))
        except Exception as exc:
            outcomes[i] = exc
    if prepared and store.sync is SyncMode.DURABLE:
        try:
            for directory in sorted({item._final.parent for _, item, _ in prepared
                                     if item._final is not None}):
                paths.fsync_dir(directory)
        except Exception as exc:
            for i, item, _ in prepared:
                outcomes[i] = _as_exception(item._failed(exc))
            prepared = []
    for (i, item, record), (added, old) in zip(prepared, _index_all(store, prepared, outcomes)):
        if outcomes[i] is not None:
            continue
        try:
            outcomes[i] = item._indexed(record, added, old)
        except Exception as exc:
            outcomes[i] = exc
    return [outcome for outcome in outcomes if outcome is not None]


def _index_all(
    store: Store, prepared: list[_Prepared], outcomes: list[IngestResult | Exception | None],
) -> list[tuple[bool, StoredInstance | None]]:
    """Record ``prepared`` in the index; failures go to ``outcomes``."""
    answers: list[tuple[bool, StoredInstance | None]] = [(False, None)] * len(prepared)
    if store.duplicate_policy is DuplicatePolicy.KEEP and len(prepared) > 1:
        try:
            added = store.index.add_instances([record for _, _, record in prepared])
            return [(flag, None) for flag in added]
        except StoreError:
            logger.info("group commit of %d instances failed; recording them one by one",
                        len(prepared))
    for n, (i, item, record) in enumerate(prepared):
        try:
            if store.duplicate_policy is DuplicatePolicy.OVERWRITE:
                answers[n] = (True, store.index.replace_instance(record))
            else:
                answers[n] = (store.index.add_instance(record), None)
        except Exception as exc:
            outcomes[i] = _as_exception(item._failed(exc))
    return answers


def commit_now(store: Store, item: IncomingFile) -> IngestResult | Exception | None:
    """Commit ``item`` on this thread if that needs no waiting, else ``None``.

    Only in ``sync = never`` mode with ``duplicates = keep``, while the group committer
    is idle and the index grants its write lock at once (SQLite: see
    :meth:`~pacslink.store.Index.begin_now`). The outcome is as in :func:`commit_batch`.
    """
    committer = store._committer
    if (store.sync is not SyncMode.NEVER or store.duplicate_policy is not DuplicatePolicy.KEEP
            or (committer is not None and not committer.idle)):
        return None
    transaction = store.index.begin_now()
    if transaction is None:
        return None
    try:
        try:
            record = item._prepare()
        except Exception as exc:
            return exc
        try:
            [added] = transaction.add([record])
            transaction.commit()
        except Exception as exc:
            return _as_exception(item._failed(exc))
    finally:
        transaction.close()
    try:
        return item._indexed(record, added, None)
    except Exception as exc:
        return exc


__all__ = ["commit_batch", "commit_now"]
