"""ReadDeadline: one re-armable timer per association instead of asyncio.timeout() per read."""

from __future__ import annotations

import asyncio

import pytest

from pacslink.dicomnet.deadline import ReadDeadline


async def _read(deadline: ReadDeadline, reader: asyncio.StreamReader, n: int,
                timeout: float | None) -> bytes:
    deadline.arm(timeout)
    try:
        return await reader.readexactly(n)
    except asyncio.CancelledError:
        deadline.raise_if_expired()
        raise
    finally:
        deadline.disarm()


async def test_a_read_that_waits_too_long_raises_timeout_error() -> None:
    loop = asyncio.get_running_loop()
    deadline, reader = ReadDeadline(), asyncio.StreamReader()
    start = loop.time()
    with pytest.raises(TimeoutError):
        await _read(deadline, reader, 4, 0.05)
    assert 0.04 <= loop.time() - start < 1.0
    reader.feed_data(b"abcd")  # nothing was consumed: the data is still read afterwards
    assert await _read(deadline, reader, 4, 0.05) == b"abcd"


async def test_rearming_keeps_one_timer_and_each_read_gets_its_own_full_deadline() -> None:
    loop = asyncio.get_running_loop()
    deadline, reader = ReadDeadline(), asyncio.StreamReader()
    for _ in range(5):  # each read waits 60 ms of a 150 ms deadline armed afresh
        loop.call_later(0.06, reader.feed_data, b"x")
        assert await _read(deadline, reader, 1, 0.15) == b"x"
    handle = deadline._handle
    assert handle is not None and not handle.cancelled()  # the first timer, moved on
    # a shorter deadline than the timer in force fires at its own time
    start = loop.time()
    with pytest.raises(TimeoutError):
        await _read(deadline, reader, 1, 0.02)
    assert loop.time() - start < 0.12


async def test_no_timeout_waits_as_long_as_it_takes() -> None:
    deadline, reader = ReadDeadline(), asyncio.StreamReader()
    deadline.arm(0.01)  # an earlier deadline armed and released must not hit this read
    deadline.disarm()
    asyncio.get_running_loop().call_later(0.1, reader.feed_data, b"ok")
    assert await _read(deadline, reader, 2, None) == b"ok"


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    deadline, reader = ReadDeadline(), asyncio.StreamReader()
    task = asyncio.create_task(_read(deadline, reader, 1, 5.0))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_close_cancels_the_timer() -> None:
    deadline, reader = ReadDeadline(), asyncio.StreamReader()
    reader.feed_data(b"z")
    await _read(deadline, reader, 1, 30.0)
    handle = deadline._handle
    assert handle is not None
    deadline.close()
    assert handle.cancelled() and deadline._handle is None
