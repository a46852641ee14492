"""A read deadline that is cheap to re-arm: one per association.

Every read of a PDU that has to wait for the network runs under a deadline (the
network, DIMSE or PDU timeout; PS3.8 9.1.5 leaves the values to the implementation).
``asyncio.timeout()`` creates a timer handle, puts it on the event loop's heap and
cancels it for each such read; a C-ECHO loop waits once per message, so that is a
measurable part of its cost. :class:`ReadDeadline` keeps one timer handle per
association instead: arming it only records the time, and the handle is moved when it
fires before the deadline then in force (or when a shorter deadline is armed).

Use::

    deadline.arm(timeout)
    try:
        data = await reader.readexactly(n)
    except asyncio.CancelledError:
        deadline.raise_if_expired()
        raise
    finally:
        deadline.disarm()

:meth:`raise_if_expired` turns the cancellation the deadline caused into
:class:`TimeoutError`, as ``asyncio.timeout()`` does, and leaves any other cancellation
of the task alone.
"""

from __future__ import annotations

import asyncio


class ReadDeadline:
    """One deadline at a time for the task reading an association's connection."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._when = 0.0
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self._expired = False

    def arm(self, timeout: float | None) -> None:
        """Start a deadline ``timeout`` seconds from now for the current task (``None``:
        no deadline)."""
        if timeout is None:
            self._task = None
            return
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - reads always run in a task
            raise RuntimeError("ReadDeadline.arm outside a task")
        when = loop.time() + timeout
        self._when = when
        self._task = task
        self._cancelling = task.cancelling()
        self._expired = False
        handle = self._handle
        if handle is None or handle.when() > when:
            if handle is not None:
                handle.cancel()
            self._handle = loop.call_at(when, self._fire)

    def disarm(self) -> None:
        """The read finished (or failed): the deadline no longer applies."""
        self._task = None

    def raise_if_expired(self) -> None:
        """Raise :class:`TimeoutError` if the deadline cancelled the read, else return."""
        if self._expired:
            self._expired = False
            task = self._task
            if task is not None and task.uncancel() <= self._cancelling:
                raise TimeoutError

    def close(self) -> None:
        """Cancel the timer (the association is over)."""
        self._task = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        task = self._task
        if task is None or task.done():
            return  # nobody is reading now: the next arm schedules again
        assert self._loop is not None
        if self._loop.time() < self._when:
            self._handle = self._loop.call_at(self._when, self._fire)
            return
        self._expired = True
        task.cancel()


__all__ = ["ReadDeadline"]
