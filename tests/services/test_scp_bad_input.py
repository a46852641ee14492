"""The Storage SCP under bad input: what goes on the wire, onto the disk and into the index.

Every test runs a real ``Pacslink.start_listener()`` on a free loopback port and talks to
it with our own engine (raw bytes where the engine would refuse to misbehave) or with
pynetdicom, then checks the store directory and the index, and that the listener still
serves afterwards.
"""

from __future__ import annotations

import asyncio
import builtins
import errno
import hashlib
import os
import random
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from pacslink.api import Pacslink, StoredEvent
from pacslink.dicomnet import pdu as P
from pacslink.dicomnet.association import AcceptedContext, AEConfig, Limits
from pacslink.dicomnet.client import ClientAssociation, associate, c_echo, c_store
from pacslink.dicomnet.commands import C_STORE_RQ, DATASET_PRESENT, Command
from pacslink.dicomnet.errors import AssociationRejected
from pacslink.dicomnet.negotiation import build_contexts
from pacslink.dicomnet.server import DicomServer
from pacslink.errors import StoreError
from pacslink.store import ingest as ingest_module
from tests.factory import CT_IMAGE_STORAGE, EXPLICIT_VR_LITTLE_ENDIAN, make_ct, make_dataset_bytes
from tests.peers import allow_callers, free_port

VERIFICATION = "1.2.840.10008.1.1"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
pytestmark = pytest.mark.filterwarnings(
    "ignore:Invalid value for VR UI", "ignore:Unknown encoding", "ignore:Expected explicit VR",
)
OBJECT_NAME = re.compile(r"^[0-9a-f]{32}\.dcm$")

SCU = AEConfig("BADSCU", "2.25.999", "BADSCU_1", Limits(connect_timeout=5, acse_timeout=5,
                                                         network_timeout=10, dimse_timeout=10))


def make_app(tmp_path: Path, **flags: Any) -> Pacslink:
    app = Pacslink.from_home(
        tmp_path / "home", flags={"port": free_port(), "min_free_mb": 1, **flags}, environ={}
    )
    allow_callers(app.registry, SCU.ae_title, "PYNETDICOM")
    return app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Pacslink]:
    application = make_app(tmp_path)
    yield application
    application.close()


# --- helpers ----------------------------------------------------------------------------


async def open_assoc(
    port: int, called: str = "PACSLINK", ts: str = EXPLICIT_VR_LITTLE_ENDIAN,
    sop_classes: tuple[str, ...] = (CT_IMAGE_STORAGE, MR_IMAGE_STORAGE),
) -> ClientAssociation:
    wanted = [(VERIFICATION, [IMPLICIT_VR_LITTLE_ENDIAN])] + [(c, [ts]) for c in sop_classes]
    return await associate("127.0.0.1", port, SCU, called, build_contexts(wanted))


async def store_bytes(
    port: int, data: bytes, sop_class_uid: str, sop_instance_uid: str,
    ts: str = EXPLICIT_VR_LITTLE_ENDIAN,
) -> Command:
    """One association, one C-STORE of raw data set bytes; returns the C-STORE-RSP."""
    async with await open_assoc(port, ts=ts) as assoc:
        ctx = assoc.context_for(sop_class_uid, ts)
        return await asyncio.wait_for(
            c_store(assoc, ctx, sop_class_uid, sop_instance_uid, data), 20)


async def store_ds(port: int, ds: Dataset, ts: str = EXPLICIT_VR_LITTLE_ENDIAN) -> Command:
    return await store_bytes(port, make_dataset_bytes(ds, ts), ds.SOPClassUID,
                             ds.SOPInstanceUID, ts)


async def echo_ok(port: int) -> None:
    """The listener still serves: a fresh association and C-ECHO succeed."""
    async with await open_assoc(port) as assoc:
        assert await asyncio.wait_for(c_echo(assoc), 10) == 0x0000


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


def rows(app: Pacslink) -> list[Any]:
    return list(app.index.iter_instances())


def assert_no_residue(app: Pacslink) -> None:
    assert files_under(app.store.tmp_dir) == [], "temp file left behind"
    assert files_under(app.store.objects_dir) == [], "object file created"
    assert rows(app) == [], "index row created"


async def wait_until(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())


def pdata(context_id: int, data: bytes, *, command: bool, last: bool) -> bytes:
    return P.PDataTF((P.PDV(context_id, command, last, data),)).encode()


async def read_until_closed(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection (or ``timeout``)."""
    received = bytearray()
    async with asyncio.timeout(timeout):
        while True:
            try:
                chunk = await reader.read(65536)
            except ConnectionError:  # closed with our bytes unread: RST
                return bytes(received)
            if not chunk:
                return bytes(received)
            received += chunk


# --- path traversal through UIDs --------------------------------------------------------


def snapshot(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


@pytest.mark.parametrize("uid", ["../../x", "/etc/x", "../../../../../../../../tmp/x"])
async def test_traversal_uid_creates_nothing_outside_the_store(
    app: Pacslink, server: DicomServer, tmp_path: Path, uid: str
) -> None:
    outside = [Path("/etc/x"), Path("/x"), Path("/tmp/x"), tmp_path / "x",
               app.settings.home / "x", app.settings.home.parent / "x",
               app.store.root / "x", app.store.objects_dir / "x", app.store.tmp_dir / "x"]
    existed = {p for p in outside if p.exists() or p.is_symlink()}
    before = snapshot(tmp_path)
    ds = make_ct(sop_instance_uid=uid)
    rsp = await store_ds(server.port, ds)
    assert rsp.Status is not None
    assert rsp.Status == 0x0000 or rsp.Status & 0xF000 in (0xA000, 0xC000), hex(rsp.Status)
    for path in outside:
        if path not in existed:
            assert not path.exists() and not path.is_symlink(), f"{path} was created"
    objects = app.store.objects_dir.resolve()
    for path in snapshot(tmp_path) - before:
        resolved = path.resolve()
        allowed = resolved.is_relative_to(objects) or resolved.is_relative_to(
            app.store.tmp_dir.resolve()) or resolved.parent == app.settings.home.resolve()
        assert allowed, f"{path} created outside the store"
        assert "x" != path.name and uid not in str(path)
    assert files_under(app.store.tmp_dir) == []
    stored = files_under(app.store.objects_dir)
    if rsp.Status == 0x0000:
        assert len(stored) == 1
        (only,) = stored
        assert OBJECT_NAME.match(only.name), only.name
        row = app.index.get_instance(uid)
        assert row is not None
        assert app.store.path_of(row) == only.resolve()
    else:
        assert stored == [] and rows(app) == []
    await echo_ok(server.port)


async def test_traversal_uid_in_command_only(app: Pacslink, server: DicomServer) -> None:
    """Command says ``../../x`` but the data set has a real UID: mismatch, nothing stored."""
    ds = make_ct()
    rsp = await store_bytes(server.port, make_dataset_bytes(ds), CT_IMAGE_STORAGE, "../../x")
    assert rsp.Status == 0xA900
    assert_no_residue(app)


# --- data set does not match the command ------------------------------------------------


async def test_sop_instance_uid_mismatch_is_a900(app: Pacslink, server: DicomServer) -> None:
    ds = make_ct(sop_instance_uid="1.2.3.4.5.6.7.1")
    rsp = await store_bytes(server.port, make_dataset_bytes(ds), CT_IMAGE_STORAGE, "1.2.3.4.5.6.7.2")
    assert rsp.Status == 0xA900, hex(rsp.Status or 0)
    assert rsp.AffectedSOPInstanceUID == "1.2.3.4.5.6.7.2"
    assert_no_residue(app)
    assert app.index.get_instance("1.2.3.4.5.6.7.1") is None
    assert app.index.get_instance("1.2.3.4.5.6.7.2") is None


async def test_sop_class_uid_mismatch_is_a900(app: Pacslink, server: DicomServer) -> None:
    """Data set says MR, command and context say CT."""
    ds = make_ct(sop_class_uid=MR_IMAGE_STORAGE)
    rsp = await store_bytes(server.port, make_dataset_bytes(ds), CT_IMAGE_STORAGE, ds.SOPInstanceUID)
    assert rsp.Status == 0xA900, hex(rsp.Status or 0)
    assert_no_residue(app)


async def test_command_sop_class_differs_from_context_is_a900(
    app: Pacslink, server: DicomServer
) -> None:
    """A C-STORE for MR sent on the CT presentation context (our c_store refuses to)."""
    ds = make_ct(sop_class_uid=MR_IMAGE_STORAGE)
    async with await open_assoc(server.port) as assoc:
        ctx = assoc.context_for(CT_IMAGE_STORAGE)
        rq = Command(CommandField=C_STORE_RQ, MessageID=assoc.next_message_id(),
                     AffectedSOPClassUID=MR_IMAGE_STORAGE,
                     AffectedSOPInstanceUID=ds.SOPInstanceUID, Priority=0)
        rsp = await asyncio.wait_for(
            assoc.request(ctx.context_id, rq, make_dataset_bytes(ds)), 10)
    assert rsp.command.Status == 0xA900
    assert_no_residue(app)
    await echo_ok(server.port)


# --- out of resources -------------------------------------------------------------------


async def test_free_space_floor_is_a700_then_next_association_stores(tmp_path: Path) -> None:
    app = make_app(tmp_path, min_free_mb=10**9)
    server = await app.start_listener()
    try:
        ds = make_ct()
        rsp = await store_ds(server.port, ds)
        assert rsp.Status == 0xA700, hex(rsp.Status or 0)
        assert_no_residue(app)
        # The operator frees space (here: lowers the floor); the running listener recovers.
        app.store.min_free_bytes = 1
        rsp = await store_ds(server.port, ds)
        assert rsp.Status == 0x0000, hex(rsp.Status or 0)
        assert app.index.get_instance(ds.SOPInstanceUID) is not None
        assert len(files_under(app.store.objects_dir)) == 1
    finally:
        await server.close()
        app.close()


class _FailingFile:
    """A binary writer that raises ENOSPC on its ``fail_at``-th write."""

    def __init__(self, real: Any, fail_at: int, calls: list[int]) -> None:
        self._real = real
        self._fail_at = fail_at
        self._calls = calls

    def write(self, data: Any) -> int:
        self._calls.append(len(data))
        if len(self._calls) >= self._fail_at:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return int(self._real.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


async def test_enospc_while_writing_is_a700_then_next_association_stores(
    app: Pacslink, server: DicomServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    seen_temp: list[Path] = []

    def failing_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        real = builtins.open(file, mode, *args, **kwargs)  # noqa: SIM115 - returned
        if "w" in mode:
            seen_temp.extend(files_under(app.store.tmp_dir))
            # write 1 is the preamble + file meta, write 2 the first data set fragment:
            # fail on write 3, in the middle of the data set.
            return _FailingFile(real, 3, calls)
        return real

    monkeypatch.setattr(ingest_module, "open", failing_open, raising=False)
    ds = make_ct(rows=512, columns=512)  # 512 KiB: several P-DATA fragments
    rsp = await store_ds(server.port, ds)
    assert rsp.Status == 0xA700, hex(rsp.Status or 0)
    assert len(calls) >= 3, "the fault was never reached"
    assert seen_temp, "no temp file was being written"
    assert_no_residue(app)
    monkeypatch.undo()
    rsp = await store_ds(server.port, ds)
    assert rsp.Status == 0x0000, hex(rsp.Status or 0)
    row = app.index.get_instance(ds.SOPInstanceUID)
    assert row is not None
    data = make_dataset_bytes(ds)
    assert app.store.path_of(row).read_bytes().endswith(data)


async def test_index_failure_is_not_a_success_and_leaves_no_file(
    app: Pacslink, server: DicomServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> bool:
        raise StoreError("index unavailable")

    monkeypatch.setattr(app.index, "add_instance", broken)
    ds = make_ct()
    rsp = await store_ds(server.port, ds)
    assert rsp.Status is not None and rsp.Status != 0x0000
    assert rsp.Status & 0xF000 in (0xA000, 0xC000) or rsp.Status == 0x0110, hex(rsp.Status)
    assert files_under(app.store.tmp_dir) == []
    assert files_under(app.store.objects_dir) == []
    monkeypatch.undo()
    assert (await store_ds(server.port, ds)).Status == 0x0000


# --- cannot understand ------------------------------------------------------------------


@pytest.mark.parametrize("garbage", [
    b"\xff" * 4096,
    random.Random(7).randbytes(5000),
    b"this is not a DICOM data set at all, just text " * 20,
    b"\x08\x00\x05\x00CS\xff\xff" + b"1" * 64,  # element length overruns the data
    b"\x08\x00\x05\x00ZZ\x04\x00abcd" * 20,  # unknown VR
    b"\x00" * 1000,
    b"",
], ids=["ff", "random", "text", "overrun", "bad-vr", "zeros", "empty"])
async def test_unparseable_dataset_is_c000_and_server_serves_on(
    app: Pacslink, server: DicomServer, garbage: bytes
) -> None:
    rsp = await store_bytes(server.port, garbage, CT_IMAGE_STORAGE, "1.2.3.4.99")
    assert rsp.Status is not None and rsp.Status & 0xF000 == 0xC000, hex(rsp.Status or 0)
    assert_no_residue(app)
    ds = make_ct()
    assert (await store_ds(server.port, ds)).Status == 0x0000


# --- association level ------------------------------------------------------------------


async def test_wrong_called_ae_title_is_rejected_permanently_reason_7(
    app: Pacslink, server: DicomServer
) -> None:
    with pytest.raises(AssociationRejected) as info:
        await open_assoc(server.port, called="NOTPACSLINK")
    rj = info.value.rj
    assert (rj.result, rj.source, rj.reason) == (P.RJ_PERMANENT, P.RJ_SOURCE_USER, 7)
    await echo_ok(server.port)


@pytest.mark.parametrize("payload", [
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl\r\n\r\n",
    bytes([0x42]) + random.Random(3).randbytes(8191),
    bytes([0x01, 0x00]) + (2**30).to_bytes(4, "big"),  # A-ASSOCIATE-RQ of 1 GiB
    bytes([0x04, 0x00]) + (2**30).to_bytes(4, "big"),  # P-DATA-TF of 1 GiB, before association
    bytes([0x07, 0x00, 0x00, 0x00, 0x00, 0x09]) + b"\x00" * 9,  # A-ABORT with a wrong length
    bytes([0x01, 0x00, 0x00, 0x00, 0x00, 0x10]) + b"\x00" * 16,  # RQ body too short to decode
], ids=["http", "random", "1GiB-rq", "1GiB-pdata", "bad-abort", "short-rq"])
async def test_garbage_on_the_port_is_closed_quickly(
    app: Pacslink, server: DicomServer, payload: bytes
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    start = time.monotonic()
    try:
        writer.write(payload)
        await writer.drain()
        answer = await read_until_closed(reader, timeout=5)
    finally:
        writer.close()
    assert time.monotonic() - start < 3, "connection not closed quickly"
    # Whatever we got back (nothing, or an A-ABORT / A-ASSOCIATE-RJ) is a DICOM PDU.
    assert answer == b"" or answer[0] in (P.A_ABORT, P.A_ASSOCIATE_RJ), answer[:16]
    await echo_ok(server.port)
    assert_no_residue(app)


async def test_silent_connection_is_dropped_after_artim(tmp_path: Path) -> None:
    app = make_app(tmp_path, acse_timeout=1)
    server = await app.start_listener()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        start = time.monotonic()
        writer.write(b"\x01\x00\x00")  # half a PDU header, then nothing
        await read_until_closed(reader, timeout=5)
        writer.close()
        assert time.monotonic() - start < 3
        await echo_ok(server.port)
    finally:
        await server.close()
        app.close()


async def test_peer_dies_mid_dataset_leaves_nothing(app: Pacslink, server: DicomServer) -> None:
    ds = make_ct(rows=256, columns=256)
    data = make_dataset_bytes(ds)
    assoc = await open_assoc(server.port)
    ctx: AcceptedContext = assoc.context_for(CT_IMAGE_STORAGE, EXPLICIT_VR_LITTLE_ENDIAN)
    command = Command(CommandField=C_STORE_RQ, MessageID=1, AffectedSOPClassUID=CT_IMAGE_STORAGE,
                      AffectedSOPInstanceUID=ds.SOPInstanceUID, Priority=0,
                      CommandDataSetType=DATASET_PRESENT)
    writer = assoc.writer
    writer.write(pdata(ctx.context_id, command.encode(), command=True, last=True))
    fragment = 16_384
    half = len(data) // 2
    for start in range(0, half, fragment):
        writer.write(pdata(ctx.context_id, data[start:min(start + fragment, half)],
                           command=False, last=False))
    await writer.drain()
    assert await wait_until(lambda: files_under(app.store.tmp_dir) != []), \
        "the server never started writing the data set to a temp file"
    writer.transport.abort()  # the peer dies: no A-RELEASE, no A-ABORT
    assert await wait_until(lambda: files_under(app.store.tmp_dir) == []), "temp file left behind"
    assert files_under(app.store.objects_dir) == []
    assert rows(app) == []
    await echo_ok(server.port)
    assert (await store_ds(server.port, ds)).Status == 0x0000


# --- duplicates and durability ordering -------------------------------------------------


def _pynetdicom_store_twice(port: int, first: Dataset, second: Dataset) -> list[int]:
    from pynetdicom import AE

    ae = AE(ae_title="PYNETDICOM")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_requested_context(CT_IMAGE_STORAGE, ExplicitVRLittleEndian)
    statuses = []
    for ds in (first, second):
        assoc = ae.associate("127.0.0.1", port, ae_title="PACSLINK")
        assert assoc.is_established
        try:
            status = assoc.send_c_store(ds)
            statuses.append(int(status.Status))
        finally:
            assoc.release()
    return statuses


def _with_meta(ds: Dataset) -> Dataset:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


async def test_duplicate_sop_instance_uid_keeps_first_copy(app: Pacslink, server: DicomServer) -> None:
    first = _with_meta(make_ct(patient_name="First^Copy"))
    second = _with_meta(make_ct(sop_instance_uid=first.SOPInstanceUID,
                                study_instance_uid=first.StudyInstanceUID,
                                series_instance_uid=first.SeriesInstanceUID,
                                patient_name="Second^Copy"))
    statuses = await asyncio.to_thread(_pynetdicom_store_twice, server.port, first, second)
    assert statuses == [0x0000, 0x0000]
    stored = files_under(app.store.objects_dir)
    assert len(stored) == 1
    assert len(rows(app)) == 1
    assert files_under(app.store.tmp_dir) == []
    row = app.index.get_instance(first.SOPInstanceUID)
    assert row is not None
    content = app.store.path_of(row).read_bytes()
    assert content.endswith(make_dataset_bytes(first))  # the first copy, bit for bit
    assert hashlib.sha256(content).hexdigest() == row.sha256


async def test_success_is_sent_only_after_the_row_exists(app: Pacslink) -> None:
    seen: list[tuple[StoredEvent, bool, bool]] = []

    def on_stored(event: StoredEvent) -> None:
        row = app.index.get_instance(event.sop_instance_uid)
        on_disk = row is not None and app.store.path_of(row).is_file()
        seen.append((event, row is not None, on_disk))

    server = await app.start_listener(on_stored)
    try:
        for _ in range(3):
            ds = make_ct()
            rsp = await store_ds(server.port, ds)
            assert rsp.Status == 0x0000
            # Right after the success arrives, the row and the file are there.
            row = app.index.get_instance(ds.SOPInstanceUID)
            assert row is not None
            path = app.store.path_of(row)
            assert path.is_file() and path.stat().st_size == row.size
            assert hashlib.sha256(path.read_bytes()).hexdigest() == row.sha256
    finally:
        await server.close()
    assert len(seen) == 3
    assert all(event.status == 0 and has_row and on_disk for event, has_row, on_disk in seen)
    assert files_under(app.store.tmp_dir) == []


async def test_instance_over_max_instance_mb_is_a700_then_smaller_ones_store(tmp_path: Path) -> None:
    app = make_app(tmp_path, max_instance_mb=1)
    srv = await app.start_listener()
    try:
        big = make_ct(rows=1024, columns=1024)  # 2 MB of pixels
        rsp = await store_ds(srv.port, big)
        assert rsp.Status == 0xA700
        assert "max_instance_mb=1" in (rsp.ErrorComment or "")
        assert files_under(app.settings.store_dir / "tmp") == []
        assert app.index.get_instance(big.SOPInstanceUID) is None
        small = make_ct(rows=64, columns=64)
        assert (await store_ds(srv.port, small)).Status == 0x0000
        await echo_ok(srv.port)
    finally:
        await srv.close()
        app.close()
