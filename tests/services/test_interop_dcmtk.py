"""pacslink's SCP and SCU against real DCMTK processes (echoscu, storescu, dcmsend, storescp)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pacslink.api import Pacslink, scan_paths
from pacslink.services.part10 import read_part10_info
from tests.factory import make_ct
from tests.peers import allow_callers, dcmtk_server, free_port, require, run_tool

pytestmark = pytest.mark.interop


def ct(rows: int = 64, columns: int = 64) -> Dataset:
    ds = make_ct(rows=rows, columns=columns)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def write_ct(folder: Path, name: str, transfer_syntax: str) -> Path:
    ds = ct()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    path = folder / name
    folder.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def dataset_part(path: Path) -> bytes:
    info = read_part10_info(path)
    return path.read_bytes()[info.dataset_offset:]


@pytest.fixture
def app(tmp_path: Path) -> Pacslink:
    app = Pacslink.from_home(tmp_path / "home", flags={"port": free_port(), "min_free_mb": 1},
                             environ={})
    allow_callers(app.registry, "STORESCU", "DCMSEND")  # DCMTK's default calling AE titles
    return app


async def test_echoscu_and_storescu_into_pacslink(app: Pacslink, tmp_path: Path) -> None:
    files = tmp_path / "in"
    implicit = write_ct(files, "implicit.dcm", ImplicitVRLittleEndian)
    explicit = write_ct(files, "explicit.dcm", ExplicitVRLittleEndian)
    server = await app.start_listener()
    try:
        rc, out = await run_tool("echoscu", "-aec", "PACSLINK", "127.0.0.1", str(server.port))
        assert rc == 0, out
        # storescu proposes Explicit VR LE first, and would convert an implicit file to it;
        # -xi makes it propose only Implicit VR LE so the bytes travel unchanged.
        rc, out = await run_tool("storescu", "-xi", "-aec", "PACSLINK", "127.0.0.1",
                                 str(server.port), str(implicit))
        assert rc == 0, out
        rc, out = await run_tool("storescu", "-aec", "PACSLINK", "127.0.0.1",
                                 str(server.port), str(explicit))
        assert rc == 0, out
    finally:
        await server.close()
    for path in (implicit, explicit):
        uid = pydicom.dcmread(path).SOPInstanceUID
        row = app.index.get_instance(uid)
        assert row is not None, f"{path.name} not indexed"
        stored = app.store.path_of(row)
        assert dataset_part(stored) == dataset_part(path)  # bit for bit
        assert pydicom.dcmread(stored).file_meta.TransferSyntaxUID == pydicom.dcmread(path).file_meta.TransferSyntaxUID


async def test_big_endian_and_compressed_keep_their_transfer_syntax(app: Pacslink, tmp_path: Path) -> None:
    require("dcmcjpeg")
    files = tmp_path / "in"
    big = write_ct(files, "big.dcm", ExplicitVRBigEndian)
    source = write_ct(files, "src.dcm", ExplicitVRLittleEndian)
    jpeg = files / "jpeg.dcm"
    rc, out = await run_tool("dcmcjpeg", "+e1", str(source), str(jpeg))  # JPEG lossless SV1
    assert rc == 0, out
    source.unlink()
    rle = ct()
    rle.compress("1.2.840.10008.1.2.5", generate_instance_uid=False)
    rle.save_as(files / "rle.dcm", enforce_file_format=True)
    server = await app.start_listener()
    try:
        # storescu -xb proposes Explicit VR Big Endian first; dcmsend proposes the
        # compressed files' own transfer syntaxes.
        rc, out = await run_tool("storescu", "-xb", "-aec", "PACSLINK", "127.0.0.1",
                                 str(server.port), str(big))
        assert rc == 0, out
        rc, out = await run_tool("dcmsend", "-aec", "PACSLINK", "127.0.0.1", str(server.port),
                                 str(jpeg), str(files / "rle.dcm"))
        assert rc == 0, out
    finally:
        await server.close()
    for path in (big, jpeg, files / "rle.dcm"):
        sent = pydicom.dcmread(path)
        row = app.index.get_instance(sent.SOPInstanceUID)
        assert row is not None, f"{path.name} not stored"
        assert row.transfer_syntax_uid == sent.file_meta.TransferSyntaxUID
        assert dataset_part(app.store.path_of(row)) == dataset_part(path)


async def test_pacslink_send_and_echo_to_storescp(app: Pacslink, tmp_path: Path) -> None:
    files = tmp_path / "in"
    sent = [write_ct(files, f"ct{i}.dcm", ImplicitVRLittleEndian) for i in range(3)]
    (files / "notes.txt").write_text("not DICOM")
    port = free_port()
    out_dir = tmp_path / "storescp"
    out_dir.mkdir()
    with dcmtk_server(["storescp", "--bit-preserving", "-aet", "STORESCP", "-od", str(out_dir),
                       str(port)], port, tmp_path):
        ae = f"STORESCP@127.0.0.1:{port}"
        echo = await app.echo(ae)
        assert echo.ok, echo.error
        scan = scan_paths([files])
        assert [Path(s.path).name for s in scan.skipped] == ["notes.txt"]
        outcomes = await app.send(ae, scan.files)
    assert [o.category for o in outcomes] == ["Success"] * 3
    received = sorted(out_dir.iterdir())
    assert len(received) == 3
    by_uid = {pydicom.dcmread(p).SOPInstanceUID: p for p in received}
    for path in sent:
        uid = pydicom.dcmread(path).SOPInstanceUID
        assert dataset_part(by_uid[uid]) == dataset_part(path)


async def test_send_decompresses_when_peer_takes_only_uncompressed(app: Pacslink, tmp_path: Path) -> None:
    files = tmp_path / "in"
    files.mkdir()
    ds = ct(32, 32)
    ds.compress("1.2.840.10008.1.2.5", generate_instance_uid=False)
    ds.save_as(files / "rle.dcm", enforce_file_format=True)
    port = free_port()
    out_dir = tmp_path / "storescp"
    out_dir.mkdir()
    # storescp accepts only uncompressed syntaxes by default
    with dcmtk_server(["storescp", "-aet", "STORESCP", "-od", str(out_dir), str(port)], port, tmp_path):
        outcomes = await app.send(f"STORESCP@127.0.0.1:{port}", scan_paths([files]).files)
    assert outcomes[0].category == "Success", outcomes
    assert outcomes[0].converted_to in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
    (received,) = out_dir.iterdir()
    got = pydicom.dcmread(received)
    original_uid = pydicom.dcmread(files / "rle.dcm").SOPInstanceUID
    assert got.SOPInstanceUID == original_uid == outcomes[0].sop_instance_uid
    assert not got.file_meta.TransferSyntaxUID.is_compressed
    original = pydicom.dcmread(files / "rle.dcm")
    assert (got.pixel_array == original.pixel_array).all()


async def test_many_parallel_storescu_associations(app: Pacslink, tmp_path: Path) -> None:
    files = [write_ct(tmp_path / "in" / str(i), "ct.dcm", ImplicitVRLittleEndian) for i in range(8)]
    server = await app.start_listener()
    try:
        results = await asyncio.gather(*(
            run_tool("storescu", "-aec", "PACSLINK", "127.0.0.1", str(server.port), str(f))
            for f in files))
    finally:
        await server.close()
    assert all(rc == 0 for rc, _ in results), results
    assert sum(s.instance_count for s in app.list_studies()) == 8
