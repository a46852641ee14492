"""Self-test of tests/qr_peers.py: each Q/R peer answers DCMTK's findscu, movescu and getscu."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest

from tests.peers import dcmtk_server, free_port, run_tool
from tests.qr_peers import (
    DcmqrscpServer,
    OrthancServer,
    catalog_counts,
    dcmqrscp_server,
    load,
    orthanc_server,
    rogue_qr_scp,
    sample_studies,
    set_modality,
    upload,
)

pytestmark = pytest.mark.interop

Samples = tuple[list[Path], dict[str, dict[str, Any]]]
HOST = "127.0.0.1"


def pendings(output: str) -> int:
    """Number of C-FIND pending responses findscu printed."""
    return len(re.findall(r"Find Response: \d+ \(Pending\)", output))


def received_uids(folder: Path) -> set[str]:
    return {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)
            for p in folder.iterdir() if p.is_file()}


def study_of(samples: Samples, patient_id: str, index: int = 0) -> tuple[str, set[str]]:
    """(StudyInstanceUID, its SOP Instance UIDs) of a sample patient's ``index``-th study."""
    study_uid, study = list(samples[1][patient_id]["studies"].items())[index]
    return study_uid, {uid for uids in study["series"].values() for uid in uids}


def study_keys(patient_id: str) -> list[str]:
    return ["-k", "QueryRetrieveLevel=STUDY", "-k", f"PatientID={patient_id}",
            "-k", "StudyInstanceUID", "-k", "PatientName", "-k", "StudyDate"]


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Samples:
    return sample_studies(tmp_path_factory.mktemp("samples"))


def test_sample_studies_describe_what_was_written(samples: Samples) -> None:
    paths, catalog = samples
    assert catalog_counts(catalog, "VET001") == (2, 3, 8)
    assert catalog_counts(catalog, "VET002") == (1, 1, 2)
    assert catalog_counts(catalog, "VET003") == (1, 1, 2)
    assert len(paths) == 12
    modalities = {study["Modality"] for study in catalog["VET001"]["studies"].values()}
    assert modalities == {"CT", "MR"}
    latin1 = next(p for p in paths if pydicom.dcmread(p).PatientID == "VET003")
    assert b"M\xfcller^J\xfcrgen" in latin1.read_bytes()  # ISO_IR 100 on disk
    ds = pydicom.dcmread(latin1)
    assert ds.SpecificCharacterSet == "ISO_IR 100" and ds.PatientName == "Müller^Jürgen"


# -- Orthanc ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory, samples: Samples) -> Iterator[OrthancServer]:
    modalities = {"PACSLINK": ("PACSLINK", HOST, free_port())}
    with orthanc_server(tmp_path_factory.mktemp("orthanc"), modalities=modalities) as server:
        upload(server, samples[0])
        yield server


async def test_orthanc_find_by_patient_id(orthanc: OrthancServer, samples: Samples) -> None:
    assert "PACSLINK" in orthanc.rest("GET", "/modalities")
    address = [HOST, str(orthanc.dicom_port)]
    rc, out = await run_tool("findscu", "-S", "-aec", orthanc.aet, *address, *study_keys("VET001"))
    assert rc == 0 and pendings(out) == 2, out
    rc, out = await run_tool("findscu", "-P", "-aec", orthanc.aet, *address, *study_keys("VET003"))
    assert rc == 0 and pendings(out) == 1, out
    study_uid, instances = study_of(samples, "VET001")
    rc, out = await run_tool("findscu", "-S", "-aec", orthanc.aet, *address,
                             "-k", "QueryRetrieveLevel=IMAGE", "-k", f"StudyInstanceUID={study_uid}",
                             "-k", "SeriesInstanceUID", "-k", "SOPInstanceUID")
    assert rc == 0 and pendings(out) == len(instances), out


async def test_orthanc_moves_to_a_modality_registered_at_runtime(
        orthanc: OrthancServer, samples: Samples, tmp_path: Path) -> None:
    port, received = free_port(), tmp_path / "received"
    received.mkdir()
    study_uid, instances = study_of(samples, "VET001")
    move = ["-S", "-aec", orthanc.aet, HOST, str(orthanc.dicom_port),
            "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}"]
    with dcmtk_server(["storescp", "-aet", "STORESCP", "-od", str(received), str(port)],
                      port, tmp_path):
        # Orthanc resolves the Move Destination by AE title, not by the entry's name.
        set_modality(orthanc, "receiver", "STORESCP", port)
        rc, out = await run_tool("movescu", "-aem", "STORESCP", *move)
        assert rc == 0, out
        # Orthanc 1.10 answers an unknown destination with 0xC000, not 0xA801.
        rc, out = await run_tool("movescu", "-aem", "NOBODY", *move)
        assert rc != 0, out
    assert received_uids(received) == instances


async def test_orthanc_get_and_storescu_upload(orthanc: OrthancServer, samples: Samples,
                                               tmp_path: Path) -> None:
    study_uid, instances = study_of(samples, "VET001", 1)
    rc, out = await run_tool("getscu", "-S", "-od", str(tmp_path), "-aec", orthanc.aet,
                             HOST, str(orthanc.dicom_port), "-k", "QueryRetrieveLevel=STUDY",
                             "-k", f"StudyInstanceUID={study_uid}")
    assert rc == 0, out
    assert received_uids(tmp_path) == instances
    extra, _ = sample_studies(tmp_path / "extra", {"VET900": ("Load^Test", [("CT", [2])])})
    upload(orthanc, extra, via="storescu")
    found = orthanc.rest("POST", "/tools/find", {"Level": "Instance",
                                                 "Query": {"PatientID": "VET900"}})
    assert len(found) == 2


# -- dcmqrscp ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dcmqrscp(tmp_path_factory: pytest.TempPathFactory,
             samples: Samples) -> Iterator[tuple[DcmqrscpServer, int]]:
    move_port = free_port()
    with dcmqrscp_server(tmp_path_factory.mktemp("dcmqrscp"),
                         peers={"MOVESCU": (HOST, move_port)}) as server:
        load(server, samples[0])
        yield server, move_port


async def test_dcmqrscp_find_patient_and_study_root(dcmqrscp: tuple[DcmqrscpServer, int],
                                                    samples: Samples) -> None:
    server, _ = dcmqrscp
    address = ["-aec", server.aet, HOST, str(server.port)]
    assert (server.storage / "index.dat").exists()
    for model in ("-P", "-S"):
        rc, out = await run_tool("findscu", model, *address, *study_keys("VET001"))
        assert rc == 0 and pendings(out) == 2, (model, out)
    rc, out = await run_tool("findscu", "-P", *address, "-k", "QueryRetrieveLevel=PATIENT",
                             "-k", "PatientID=VET003", "-k", "PatientName")
    assert rc == 0 and pendings(out) == 1, out


async def test_dcmqrscp_move_to_movescu_port(dcmqrscp: tuple[DcmqrscpServer, int],
                                             samples: Samples, tmp_path: Path) -> None:
    server, move_port = dcmqrscp
    study_uid, instances = study_of(samples, "VET001")
    rc, out = await run_tool("movescu", "-S", "-aet", "MOVESCU", "-aem", "MOVESCU",
                             "--port", str(move_port), "-od", str(tmp_path),
                             "-aec", server.aet, HOST, str(server.port),
                             "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}")
    assert rc == 0, out
    assert received_uids(tmp_path) == instances


# -- the misbehaving pynetdicom SCP -----------------------------------------------------

async def test_rogue_many_returns_5000_matches() -> None:
    with rogue_qr_scp("many") as scp:
        rc, out = await run_tool("findscu", "-S", "-aec", scp.aet, HOST, str(scp.port),
                                 *study_keys("VET001"))
    assert rc == 0 and pendings(out) == 5000, out[-2000:]


async def test_rogue_reject_says_called_ae_title_not_recognized() -> None:
    with rogue_qr_scp("reject") as scp:
        rc, out = await run_tool("findscu", "-S", "-aec", scp.aet, HOST, str(scp.port),
                                 *study_keys("VET001"))
    assert rc != 0
    assert "Called AE Title Not Recognized" in out, out


async def test_rogue_slow_and_no_final(samples: Samples) -> None:
    datasets = [pydicom.dcmread(p) for p in samples[0]]
    with rogue_qr_scp("slow", datasets, delay=0.3) as scp:
        started = time.monotonic()
        rc, out = await run_tool("findscu", "-S", "-aec", scp.aet, HOST, str(scp.port),
                                 *study_keys("VET001"))
        assert rc == 0 and pendings(out) == 2, out
        assert time.monotonic() - started >= 0.6
    with rogue_qr_scp("no_final", datasets) as scp:
        rc, out = await run_tool("findscu", "-S", "-td", "2", "-aec", scp.aet, HOST,
                                 str(scp.port), *study_keys("VET001"), timeout=20)
        # findscu exits 0 even then; it says the DIMSE timeout expired.
        assert pendings(out) == 2 and "Received Final Find Response" not in out, out
        assert "Find SCU Failed" in out and "timeout" in out, out


async def test_rogue_normal_find_move_get(samples: Samples, tmp_path: Path) -> None:
    datasets = [pydicom.dcmread(p) for p in samples[0]]
    study_uid, instances = study_of(samples, "VET001")
    move_port = free_port()
    retrieve = ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}"]
    with rogue_qr_scp("normal", datasets, destinations={"MOVESCU": (HOST, move_port)}) as scp:
        address = ["-aec", scp.aet, HOST, str(scp.port)]
        rc, out = await run_tool("findscu", "-P", *address, "-k", "QueryRetrieveLevel=SERIES",
                                 "-k", "PatientID=VET001", "-k", f"StudyInstanceUID={study_uid}",
                                 "-k", "SeriesInstanceUID", "-k", "NumberOfSeriesRelatedInstances")
        assert rc == 0 and pendings(out) == 2, out
        rc, out = await run_tool("findscu", "-S", *address, *study_keys("VET003"))
        assert rc == 0 and pendings(out) == 1 and "ISO_IR 100" in out, out
        moved, got = tmp_path / "moved", tmp_path / "got"
        moved.mkdir()
        got.mkdir()
        rc, out = await run_tool("movescu", "-S", "-aet", "MOVESCU", "-aem", "MOVESCU",
                                 "--port", str(move_port), "-od", str(moved), *address, *retrieve)
        assert rc == 0, out
        rc, out = await run_tool("getscu", "-S", "-od", str(got), *address, *retrieve)
        assert rc == 0, out
        rc, out = await run_tool("movescu", "-S", "-aem", "NOBODY", *address, *retrieve)
        assert rc != 0 and "MoveDestinationUnknown" in out, out
    assert received_uids(moved) == instances
    assert received_uids(got) == instances
    assert [operation for operation, _ in scp.requests] == [
        "C-FIND", "C-FIND", "C-MOVE", "C-GET", "C-MOVE"]


async def test_rogue_success_with_all_failed(tmp_path: Path) -> None:
    with rogue_qr_scp("success_all_failed", failed=3) as scp:
        rc, out = await run_tool("movescu", "-S", "-d", "-aem", "MOVESCU", "-aec", scp.aet,
                                 HOST, str(scp.port), "-k", "QueryRetrieveLevel=STUDY",
                                 "-k", "StudyInstanceUID=1.2.3")
    assert rc == 0, out
    final = out[out.rindex("C-MOVE RSP"):]
    assert re.search(r"Failed Suboperations\s+: 3", final), final
    assert re.search(r"Completed Suboperations\s+: 0", final), final
    assert "0x0000: Success" in final, final


async def test_rogue_unsolicited_instances(samples: Samples, tmp_path: Path) -> None:
    datasets = [pydicom.dcmread(p) for p in samples[0]]
    study_uid, instances = study_of(samples, "VET002")
    move_port = free_port()
    with rogue_qr_scp("unsolicited", datasets, unsolicited=2,
                      destinations={"MOVESCU": (HOST, move_port)}) as scp:
        rc, out = await run_tool("movescu", "-S", "-aet", "MOVESCU", "-aem", "MOVESCU",
                                 "--port", str(move_port), "-od", str(tmp_path),
                                 "-aec", scp.aet, HOST, str(scp.port),
                                 "-k", "QueryRetrieveLevel=STUDY",
                                 "-k", f"StudyInstanceUID={study_uid}")
    assert rc == 0, out
    assert len(scp.unsolicited_uids) == 2
    assert received_uids(tmp_path) == instances | set(scp.unsolicited_uids)
