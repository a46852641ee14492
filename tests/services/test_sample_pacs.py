"""The sample PACS (``pacslink pacs serve`` / ``Pacslink.start_pacs``): a real Q/R SCP.

DCMTK's findscu, movescu and getscu talk to it, pacslink's own find/retrieve use it, and
its misbehaviour switches produce the reports users meet with real PACS.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pydicom
import pytest

from pacslink.api import Pacslink, Query, QueryLevel, Quirks, RetrieveTarget
from pacslink.models import RemoteAE, RetrieveMethod
from tests.peers import allow_callers, dcmtk_server, free_port, run_tool
from tests.qr_peers import sample_studies

pytestmark = pytest.mark.interop
Samples = tuple[list[Path], dict[str, dict[str, Any]]]


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Samples:
    return sample_studies(tmp_path_factory.mktemp("samples"))


def make_pacs(root: Path, samples: Samples, destinations: dict[str, int]) -> Pacslink:
    pacs = Pacslink.from_home(root / "pacs", flags={"ae_title": "SAMPLEPACS", "port": free_port(),
                                                    "min_free_mb": 1}, environ={})
    counts = pacs.import_paths(samples[0])
    assert counts["stored"] == len(samples[0])
    for aet, port in destinations.items():
        pacs.registry.add(RemoteAE(aet, aet, "127.0.0.1", port))
    allow_callers(pacs.registry, "FINDSCU", "GETSCU", "STORESCU")  # DCMTK's default titles
    return pacs


@pytest.fixture
async def running(tmp_path: Path, samples: Samples) -> AsyncIterator[tuple[Pacslink, Pacslink, Any]]:
    """A sample PACS and a pacslink client that knows it (and is known as a destination)."""
    client_port = free_port()
    pacs = make_pacs(tmp_path, samples, {"PACSLINK": client_port, "MOVESCU": free_port()})
    server = await pacs.start_pacs()
    client = Pacslink.from_home(tmp_path / "client", flags={"port": client_port, "min_free_mb": 1},
                                environ={})
    client.registry.add(RemoteAE("SAMPLE", "SAMPLEPACS", "127.0.0.1", server.port))
    try:
        yield pacs, client, server
    finally:
        await server.close()


def study_uids(samples: Samples, patient_id: str) -> list[str]:
    return list(samples[1][patient_id]["studies"])


def all_instances(samples: Samples, patient_id: str, study: str) -> set[str]:
    info = samples[1][patient_id]["studies"][study]
    return {uid for uids in info["series"].values() for uid in uids}


@pytest.mark.parametrize("model", ["-S", "-P"])
async def test_findscu_at_all_levels(running: Any, samples: Samples, model: str) -> None:
    _, _, server = running
    args = ["findscu", model, "-aec", "SAMPLEPACS", "127.0.0.1", str(server.port)]
    rc, out = await run_tool(*args, "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID=VET001",
                             "-k", "StudyInstanceUID", "-k", "NumberOfStudyRelatedInstances")
    assert rc == 0, out
    assert len(re.findall(r"Find Response: \d+ \(Pending\)", out)) == 2
    study = study_uids(samples, "VET001")[0]
    assert study in out
    series = samples[1]["VET001"]["studies"][study]["series"]
    rc, out = await run_tool(*args, "-k", "QueryRetrieveLevel=SERIES", "-k", "PatientID=VET001",
                             "-k", f"StudyInstanceUID={study}", "-k", "SeriesInstanceUID",
                             "-k", "Modality")
    assert rc == 0 and all(uid in out for uid in series), out
    first_series, sops = next(iter(series.items()))
    rc, out = await run_tool(*args, "-k", "QueryRetrieveLevel=IMAGE", "-k", "PatientID=VET001",
                             "-k", f"StudyInstanceUID={study}", "-k", f"SeriesInstanceUID={first_series}",
                             "-k", "SOPInstanceUID")
    assert rc == 0 and all(uid in out for uid in sops), out


async def test_matching_wildcards_ranges_and_names(running: Any, samples: Samples) -> None:
    _, client, _ = running
    by_name = await client.find(Query(QueryLevel.STUDY, patient_name="müller*"), aes=["SAMPLE"])
    assert {r.match.get("PatientID") for r in by_name.rows} == {"VET003"}
    dated = await client.find(Query(QueryLevel.STUDY, patient_id="VET001", study_date="19000101-20991231"),
                              aes=["SAMPLE"])
    assert len(dated.rows) == 2
    none = await client.find(Query(QueryLevel.STUDY, patient_id="VET001", study_date="-19991231"),
                             aes=["SAMPLE"])
    assert none.rows == [] and none.per_ae[0].ok


async def test_movescu_and_getscu(running: Any, samples: Samples, tmp_path: Path) -> None:
    pacs, _, server = running
    study = study_uids(samples, "VET002")[0]
    expected = all_instances(samples, "VET002", study)
    port = next(ae.port for ae in pacs.remote_aes() if ae.ae_title == "MOVESCU")
    moved = tmp_path / "moved"
    moved.mkdir()
    rc, out = await run_tool("movescu", "-S", "-aet", "MOVESCU", "-aec", "SAMPLEPACS", "-aem", "MOVESCU",
                             "--port", str(port), "-od", str(moved), "-k", "QueryRetrieveLevel=STUDY",
                             "-k", f"StudyInstanceUID={study}", "127.0.0.1", str(server.port))
    assert rc == 0, out
    assert {str(pydicom.dcmread(p).SOPInstanceUID) for p in moved.iterdir()} == expected
    got = tmp_path / "got"
    got.mkdir()
    rc, out = await run_tool("getscu", "-S", "-aec", "SAMPLEPACS", "-od", str(got),
                             "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                             "127.0.0.1", str(server.port))
    assert rc == 0, out
    assert {str(pydicom.dcmread(p).SOPInstanceUID) for p in got.iterdir()} == expected
    rc, out = await run_tool("movescu", "-S", "-aec", "SAMPLEPACS", "-aem", "NOBODY",
                             "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                             "127.0.0.1", str(server.port))
    assert "MoveDestinationUnknown" in out, out


@pytest.mark.parametrize("method", [RetrieveMethod.MOVE, RetrieveMethod.GET])
async def test_pacslink_retrieves_from_the_sample_pacs(running: Any, samples: Samples,
                                                       method: RetrieveMethod) -> None:
    _, client, _ = running
    study = study_uids(samples, "VET001")[1]
    report = await client.retrieve("SAMPLE", RetrieveTarget(study), method=method)
    assert report.complete, (report.error, report.missing)
    assert report.present == all_instances(samples, "VET001", study)


async def test_storescu_into_the_sample_pacs_then_find_it(running: Any, tmp_path: Path) -> None:
    from tests.factory import make_ct

    _, client, server = running
    ds = make_ct(patient_id="NEW001", rows=8, columns=8)
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    path = tmp_path / "new.dcm"
    ds.save_as(path, enforce_file_format=True)
    rc, out = await run_tool("storescu", "-aec", "SAMPLEPACS", "127.0.0.1", str(server.port), str(path))
    assert rc == 0, out
    found = await client.find(Query(QueryLevel.STUDY, patient_id="NEW001"), aes=["SAMPLE"])
    assert [r.match.key for r in found.rows] == [ds.StudyInstanceUID]


# --- misbehaviour switches -------------------------------------------------------------


async def _with_quirks(tmp_path: Path, samples: Samples, quirks: Quirks, **client_flags: Any):  # type: ignore[no-untyped-def]
    client_port = free_port()
    pacs = make_pacs(tmp_path, samples, {"PACSLINK": client_port})
    server = await pacs.start_pacs(quirks)
    client = Pacslink.from_home(tmp_path / "client", flags={"port": client_port, "min_free_mb": 1,
                                                            **client_flags}, environ={})
    client.registry.add(RemoteAE("QUIRKY", "SAMPLEPACS", "127.0.0.1", server.port))
    return server, client


async def test_quirk_success_all_failed(tmp_path: Path, samples: Samples) -> None:
    server, client = await _with_quirks(tmp_path, samples, Quirks(success_all_failed=True))
    try:
        study = study_uids(samples, "VET002")[0]
        report = await client.retrieve("QUIRKY", RetrieveTarget(study), method=RetrieveMethod.MOVE)
    finally:
        await server.close()
    assert report.verdict == "incomplete" and report.final_status == 0
    assert report.failed_count == 2 and report.missing == all_instances(samples, "VET002", study)


async def test_quirk_no_final_times_out(tmp_path: Path, samples: Samples) -> None:
    server, client = await _with_quirks(tmp_path, samples, Quirks(no_final=True, hang_seconds=10),
                                        query_timeout=1)
    try:
        result = await client.find(Query(QueryLevel.STUDY, patient_id="VET001"))
    finally:
        await server.close()
    (ae,) = result.per_ae
    assert ae.state == "timeout" and ae.error == "timed out after 1 s" and len(ae.matches) == 2


async def test_quirk_abort_on_cancel(tmp_path: Path, samples: Samples) -> None:
    server, client = await _with_quirks(tmp_path, samples, Quirks(abort_on_cancel=True, delay=0.05),
                                        max_results=1)
    try:
        result = await client.find(Query(QueryLevel.STUDY, patient_id="VET001"))
    finally:
        await server.close()
    (ae,) = result.per_ae
    assert len(ae.matches) == 1 and ae.state in ("truncated", "failed")
    assert "abort" in ae.error.lower() or ae.state == "truncated"


async def test_quirk_no_date_ranges(tmp_path: Path, samples: Samples) -> None:
    server, client = await _with_quirks(tmp_path, samples, Quirks(no_date_ranges=True))
    try:
        ranged = await client.find(Query(QueryLevel.STUDY, patient_id="VET001",
                                         study_date="19000101-20991231"))
        plain = await client.find(Query(QueryLevel.STUDY, patient_id="VET001"))
    finally:
        await server.close()
    assert ranged.rows == [] and len(plain.rows) == 2


async def test_quirk_unsolicited(tmp_path: Path, samples: Samples) -> None:
    server, client = await _with_quirks(tmp_path, samples, Quirks(unsolicited=2))
    try:
        study = study_uids(samples, "VET002")[0]
        report = await client.retrieve("QUIRKY", RetrieveTarget(study), method=RetrieveMethod.MOVE)
    finally:
        await server.close()
    assert report.complete and len(report.unsolicited) == 2
    assert all(client.index.get_instance(uid) is not None for uid in report.unsolicited)


async def test_garbage_identifier_gets_a900_and_the_pacs_serves_on(running: Any) -> None:
    from pacslink.dicomnet.client import associate
    from pacslink.dicomnet.negotiation import build_contexts
    from pacslink.dicomnet.qr import c_find
    from pacslink.dicomnet.status import IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS

    _, client, server = running
    find = "1.2.840.10008.5.1.4.1.2.2.1"
    contexts = build_contexts([(find, ["1.2.840.10008.1.2"])])
    async with await associate("127.0.0.1", server.port, client.local_ae(), "SAMPLEPACS", contexts) as a:
        ctx = a.context_for(find)
        for junk in (b"\xff" * 40, b"\x08\x00\x52\x00\x06\x00\x00\x00NOPE  "):
            responses = [r async for r in c_find(a, ctx, junk)]
            assert [r.status for r in responses] == [IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS]
    found = await client.find(Query(QueryLevel.STUDY, patient_id="VET001"), aes=["SAMPLE"])
    assert len(found.rows) == 2


def test_pacs_serve_command_with_findscu(tmp_path: Path, samples: Samples) -> None:
    import shutil
    import subprocess
    import sys

    from tests.peers import DCMTK_ENV, stop, wait_for_port

    folder = tmp_path / "dicom"
    shutil.copytree(samples[0][0].parent, folder)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pacslink", "pacs", "serve", str(folder), "--port",
                             str(port), "--destination", "ELSEWHERE@127.0.0.1:104"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(port, proc, timeout=60)
        out = subprocess.run(["findscu", "-S", "-aet", "ELSEWHERE", "-aec", "SAMPLEPACS", "-k", "QueryRetrieveLevel=STUDY",
                              "-k", "PatientID=VET00*", "-k", "StudyInstanceUID", "127.0.0.1", str(port)],
                             capture_output=True, text=True, env=DCMTK_ENV, timeout=60)
    finally:
        stop(proc)
    studies = {uid for pid in ("VET001", "VET002") for uid in samples[1][pid]["studies"]}
    assert all(uid in out.stdout + out.stderr for uid in studies), out.stdout + out.stderr
    assert (folder / ".pacslink" / "pacslink.toml").read_text().count("ELSEWHERE") >= 1
