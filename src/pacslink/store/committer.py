"""Group commit: instances received at the same time share their fsyncs and index commit.

A durable commit costs a few fsyncs (the file, its directory, the index's write-ahead
log) whatever it holds. The :class:`GroupCommitter` runs commits in one background
thread: when it finishes a batch, everything submitted meanwhile (by other associations)
becomes the next batch, committed together by
:meth:`pacslink.store.Store.commit_batch`: one fsync per directory and one index
transaction for all of them. Each submitter's future is resolved only after its own
instance is committed, so a C-STORE response still goes out only once its instance is
durable. With one sender there is nothing to wait for: a batch of one starts as soon as
it is submitted.

The futures are resolved on the submitter's event loop, one wake-up per batch.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from pacslink.errors import StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: Most instances in one batch (bounds one index transaction).
MAX_BATCH = 64
#: The thread ends after this long without work, and is started again when needed.
IDLE_SECONDS = 30.0

def _settle(results: list[tuple[asyncio.Future[R], R | Exception]]) -> None:
    for future, outcome in results:
        if future.done():  # the receiving task was cancelled; the commit happened anyway
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class GroupCommitter(Generic[T, R]):
    """Runs ``commit_batch`` in a background thread over whatever has been submitted.

    Parameters
    ----------
    commit_batch : callable
        Commits a sequence of items; returns one result or exception per item, in
        order. It must not raise (an exception fails every item of the batch).
    max_batch : int
        The most items committed together.
    idle_seconds : float
        The thread stops after this long without work.
    """

    def __init__(
        self,
        commit_batch: Callable[[Sequence[T]], Sequence[R | Exception]],
        *,
        max_batch: int = MAX_BATCH,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self._commit_batch = commit_batch
        self._max_batch = max_batch
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: list[tuple[T, asyncio.AbstractEventLoop, asyncio.Future[R]]] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self._busy = False

    @property
    def idle(self) -> bool:
        """Nothing queued and no batch being committed."""
        return not self._queue and not self._busy

    def submit(self, item: T) -> asyncio.Future[R]:
        """Queue ``item``; the future resolves to its result once it is committed.

        Raises
        ------
        StoreError
            If the committer was closed.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed; nothing more can be committed")
            self._queue.append((item, loop, future))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="pacslink-group-commit", daemon=True)
                self._thread.start()
            else:
                self._wake.notify()
        return future

    def close(self) -> None:
        """Commit what is queued, then stop the thread (waits for it)."""
        with self._lock:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _next_batch(self) -> list[tuple[T, asyncio.AbstractEventLoop, asyncio.Future[R]]]:
        with self._lock:
            while not self._queue:
                if self._closed or not self._wake.wait(self._idle_seconds):
                    if not self._queue:
                        self._thread = None
                        return []
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            self._busy = True
            return batch

    def _run(self) -> None:
        while batch := self._next_batch():
            items = [item for item, _, _ in batch]
            outcomes: Sequence[R | Exception]
            try:
                outcomes = self._commit_batch(items)
            except Exception as exc:  # commit_batch reports per item; this is a bug
                log.exception("group commit failed")
                outcomes = [exc] * len(items)
            self._busy = False  # committed: only the answers are left to deliver
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[R], R | Exception]]] = {}
            for (_, loop, future), outcome in zip(batch, outcomes, strict=True):
                by_loop.setdefault(loop, []).append((future, outcome))
            for loop, results in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_settle, results)
                except RuntimeError:  # that event loop is closed: nobody waits any more
                    pass


__all__ = ["IDLE_SECONDS", "MAX_BATCH", "GroupCommitter"]
