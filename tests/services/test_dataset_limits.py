"""Data set limits over the wire: what a hostile or broken data set gets from our listener.

Each case sends one C-STORE to a real ``Pacslink.start_listener()`` and checks the status
on the wire, that nothing is left on disk (no temp file, no object file) or in the index,
and that the listener serves on. Covered here: deflate bombs (bounded inflation, bounded
walk, flat memory), deeply nested sequences (10,000 levels, every encoding and place),
a missing SOP Instance UID, and the per-instance size cap streaming to disk with flat
memory. The store-level twins of these are in ``tests/store/test_failures.py``.
"""

from __future__ import annotations

import functools
import os
import struct
import threading
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from pacslink.api import Pacslink
from pacslink.dicomnet.server import DicomServer
from pacslink.store.structure import MAX_SEQUENCE_DEPTH
from tests.factory import (
    CT_IMAGE_STORAGE,
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    make_ct,
    make_dataset_bytes,
    make_deflate_bomb,
)
from tests.services.test_scp_bad_input import (
    echo_ok,
    files_under,
    make_app,
    rows,
    store_bytes,
    store_ds,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:Expected explicit VR", "ignore:Invalid value for VR UI")
MiB = 2**20
ITEM, ITEM_END, SEQUENCE_END = 0xE000, 0xE00D, 0xE0DD
BEFORE_LAST_INDEXED = (0x0008, 0x1115)  # Referenced Series Sequence: parsed for the index
AFTER_LAST_INDEXED = (0x0400, 0x0561)  # Original Attributes Sequence: only walked


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Pacslink]:
    application = make_app(tmp_path)
    yield application
    application.close()


def assert_nothing_kept(app: Pacslink) -> None:
    assert files_under(app.store.tmp_dir) == [], "temp file left behind"
    assert files_under(app.store.objects_dir) == [], "object file created"
    assert rows(app) == [], "index row created"


async def assert_serves_on(app: Pacslink, port: int) -> None:
    await echo_ok(port)
    ds = make_ct()
    assert (await store_ds(port, ds)).Status == 0x0000
    assert app.index.get_instance(ds.SOPInstanceUID) is not None


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


class PeakMemory:
    """Peak growth of this process's resident memory, sampled every 2 ms by a thread.

    The listener runs in this process; tracemalloc would slow its Python loops tenfold.
    """

    def _rss(self) -> int:
        with open("/proc/self/statm") as fp:
            return int(fp.read().split()[1]) * self._page

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self._peak = max(self._peak, self._rss())

    def __enter__(self) -> PeakMemory:
        self._page = os.sysconf("SC_PAGE_SIZE")
        self.growth = 0
        self._base = self._peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.growth = max(self._peak, self._rss()) - self._base


# --- deflate bombs -----------------------------------------------------------------------


@functools.cache
def bomb() -> bytes:
    return make_deflate_bomb(2**30)  # 1 GiB of zeros in about 1 MB


async def test_deflate_bomb_past_the_bound_is_c000_with_flat_memory(
    app: Pacslink, server: DicomServer
) -> None:
    app.store.max_inflated_bytes = 64 * MiB
    data, ds = bomb(), make_ct()
    with PeakMemory() as memory:
        rsp = await store_bytes(server.port, data, CT_IMAGE_STORAGE, ds.SOPInstanceUID,
                                DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    assert rsp.Status == 0xC000, hex(rsp.Status or 0)
    assert "inflates to more than 67108864 bytes" in (rsp.ErrorComment or "")
    assert memory.growth < 16 * MiB, memory.growth
    assert_nothing_kept(app)
    await assert_serves_on(app, server.port)


async def test_deflated_header_then_millions_of_empty_elements_is_c000(
    app: Pacslink, server: DicomServer
) -> None:
    """Inside the inflation bound, but 2**25 empty elements from 256 KB: the walk of the
    inflated elements stops at what the compressed size allows."""
    ds = make_ct(pixel_data=False)
    head = make_dataset_bytes(ds, EXPLICIT_VR_LITTLE_ENDIAN)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(16 * MiB)  # (0000,0000) elements of length 0, 8 bytes each
    start = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    body = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    data = start + body * 16 + compressor.flush()  # 256 MiB inflated, about 256 KB sent
    with PeakMemory() as memory:
        rsp = await store_bytes(server.port, data, CT_IMAGE_STORAGE, ds.SOPInstanceUID,
                                DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    assert rsp.Status == 0xC000, hex(rsp.Status or 0)
    assert "more elements than its size allows" in (rsp.ErrorComment or "")
    assert memory.growth < 16 * MiB, memory.growth
    assert_nothing_kept(app)
    await assert_serves_on(app, server.port)


# --- sequence nesting --------------------------------------------------------------------


def _tag(tag: tuple[int, int]) -> bytes:
    return struct.pack("<HH", *tag)


def _sq_header(tag: tuple[int, int], length: int, implicit: bool) -> bytes:
    if implicit:
        return _tag(tag) + struct.pack("<L", length)
    return _tag(tag) + b"SQ\x00\x00" + struct.pack("<L", length)


def nested_sequences(tag: tuple[int, int], depth: int, *, implicit: bool, defined: bool) -> bytes:
    """``depth`` sequences, each holding one item that holds the next; the last item empty."""
    if not defined:
        undefined = 0xFFFFFFFF
        opening = (_sq_header(tag, undefined, implicit)
                   + _tag((0xFFFE, ITEM)) + struct.pack("<L", undefined))
        closing = (_tag((0xFFFE, ITEM_END)) + struct.pack("<L", 0)
                   + _tag((0xFFFE, SEQUENCE_END)) + struct.pack("<L", 0))
        return opening * depth + closing * depth
    content = b""
    for _ in range(depth):
        item = _tag((0xFFFE, ITEM)) + struct.pack("<L", len(content)) + content
        content = _sq_header(tag, len(item), implicit) + item
    return content


def with_nested(tag: tuple[int, int], depth: int, ts: str, *, defined: bool) -> tuple[str, bytes]:
    """A CT data set (no pixels) with the nested sequences in tag order; returns its UID
    and its bytes in ``ts``."""
    ds = make_ct(pixel_data=False)
    before, after = Dataset(), Dataset()
    for element in ds:
        (before if (element.tag.group, element.tag.elem) < tag else after).add(element)
    encoding = EXPLICIT_VR_LITTLE_ENDIAN if ts == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN else ts
    implicit = ts == IMPLICIT_VR_LITTLE_ENDIAN
    data = (make_dataset_bytes(before, encoding)
            + nested_sequences(tag, depth, implicit=implicit, defined=defined)
            + make_dataset_bytes(after, encoding))
    if ts == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        data = deflate(data)
    return ds.SOPInstanceUID, data


ENCODINGS = pytest.mark.parametrize("ts", [
    EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
], ids=["explicit", "implicit", "deflated"])
PLACES = pytest.mark.parametrize("tag", [BEFORE_LAST_INDEXED, AFTER_LAST_INDEXED],
                                 ids=["indexed-part", "after-indexed-part"])
LENGTHS = pytest.mark.parametrize("defined", [False, True], ids=["undefined", "defined"])


@ENCODINGS
@PLACES
@LENGTHS
async def test_ten_thousand_nested_sequences_are_c000(
    app: Pacslink, server: DicomServer, ts: str, tag: tuple[int, int], defined: bool
) -> None:
    uid, data = with_nested(tag, 10_000, ts, defined=defined)
    rsp = await store_bytes(server.port, data, CT_IMAGE_STORAGE, uid, ts)  # 20 s deadline
    assert rsp.Status == 0xC000, hex(rsp.Status or 0)
    assert f"nests sequences more than {MAX_SEQUENCE_DEPTH} deep" in (rsp.ErrorComment or "")
    assert_nothing_kept(app)
    await assert_serves_on(app, server.port)


@ENCODINGS
@LENGTHS
async def test_nesting_up_to_the_limit_is_stored_bit_for_bit(
    app: Pacslink, server: DicomServer, ts: str, defined: bool
) -> None:
    uid, data = with_nested(AFTER_LAST_INDEXED, MAX_SEQUENCE_DEPTH, ts, defined=defined)
    rsp = await store_bytes(server.port, data, CT_IMAGE_STORAGE, uid, ts)
    assert rsp.Status == 0x0000, (hex(rsp.Status or 0), rsp.ErrorComment)
    row = app.index.get_instance(uid)
    assert row is not None
    assert app.store.path_of(row).read_bytes().endswith(data)
    assert files_under(app.store.tmp_dir) == []


# --- missing SOP Instance UID ------------------------------------------------------------


async def test_data_set_without_sop_instance_uid_is_refused(
    app: Pacslink, server: DicomServer
) -> None:
    ds = make_ct()
    uid = ds.SOPInstanceUID
    del ds.SOPInstanceUID
    rsp = await store_bytes(server.port, make_dataset_bytes(ds), CT_IMAGE_STORAGE, uid)
    assert rsp.Status == 0xA900, hex(rsp.Status or 0)  # does not match the command
    assert (rsp.ErrorComment or "").startswith("data set does not match the C-STORE command")
    assert_nothing_kept(app)
    await assert_serves_on(app, server.port)


async def test_data_set_without_either_sop_uid_is_c000(app: Pacslink, server: DicomServer) -> None:
    ds = make_ct()
    uid = ds.SOPInstanceUID
    del ds.SOPInstanceUID, ds.SOPClassUID
    rsp = await store_bytes(server.port, make_dataset_bytes(ds), CT_IMAGE_STORAGE, uid)
    assert rsp.Status == 0xC000, hex(rsp.Status or 0)
    assert "no SOP Class UID or SOP Instance UID" in (rsp.ErrorComment or "")
    assert_nothing_kept(app)
    await assert_serves_on(app, server.port)


# --- size cap, streamed ------------------------------------------------------------------


async def test_size_cap_streams_and_keeps_nothing(tmp_path: Path) -> None:
    """A 16 MB instance against max_instance_mb=1: refused with 0xA700 without the
    listener ever holding more than a few MB of it."""
    app = make_app(tmp_path, max_instance_mb=1)
    server = await app.start_listener()
    try:
        big = make_ct(rows=2048, columns=4096)  # 16 MiB of pixels
        data = make_dataset_bytes(big)
        with PeakMemory() as memory:
            rsp = await store_bytes(server.port, data, CT_IMAGE_STORAGE, big.SOPInstanceUID)
        assert rsp.Status == 0xA700, hex(rsp.Status or 0)
        assert "max_instance_mb=1" in (rsp.ErrorComment or "")
        # The sender's own copy of the data set is not traced (allocated before): what
        # grows is the listener's buffers, and they stay far below the instance's size.
        assert memory.growth < 4 * MiB, memory.growth
        assert_nothing_kept(app)
        await assert_serves_on(app, server.port)
    finally:
        await server.close()
        app.close()
