"""Query/Retrieve against real peers: Orthanc, DCMTK dcmqrscp, and misbehaving pynetdicom SCPs.

Each test asserts what a user sees: the matches, the per-AE state, the retrieve verdict,
and the instances actually in the local store.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pacslink.api import Pacslink, Query, QueryLevel, QueryModel, RetrieveTarget
from pacslink.cli.main import app as cli
from pacslink.models import RemoteAE, RetrieveMethod
from tests.peers import free_port
from tests.qr_peers import (
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


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Samples:
    return sample_studies(tmp_path_factory.mktemp("samples"))


@pytest.fixture(scope="module")
def our_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory, samples: Samples, our_port: int) -> Iterator[Any]:
    with orthanc_server(tmp_path_factory.mktemp("orthanc"),
                        modalities={"PACSLINK": ("PACSLINK", "127.0.0.1", our_port)}) as server:
        upload(server, samples[0])
        yield server


@pytest.fixture(scope="module")
def dcmqrscp(tmp_path_factory: pytest.TempPathFactory, samples: Samples, our_port: int) -> Iterator[Any]:
    with dcmqrscp_server(tmp_path_factory.mktemp("dcmqrscp"),
                         peers={"PACSLINK": ("127.0.0.1", our_port)}) as server:
        load(server, samples[0])
        yield server


def make_app(tmp_path: Path, port: int, aes: dict[str, tuple[str, int]], **flags: Any) -> Pacslink:
    app = Pacslink.from_home(tmp_path / "home", flags={"port": port, "min_free_mb": 1, **flags},
                             environ={})
    for name, (aet, ae_port) in aes.items():
        app.registry.add(RemoteAE(name, aet, "127.0.0.1", ae_port))
    return app


def study(samples: Samples, patient_id: str, index: int = 0) -> tuple[str, dict[str, list[str]]]:
    uid, info = list(samples[1][patient_id]["studies"].items())[index]
    return uid, info["series"]


def instances(series: dict[str, list[str]]) -> set[str]:
    return {uid for uids in series.values() for uid in uids}


# --- find ------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [QueryModel.STUDY_ROOT, QueryModel.PATIENT_ROOT])
async def test_find_all_levels_on_orthanc_and_dcmqrscp(tmp_path: Path, samples: Samples, orthanc: Any,
                                                      dcmqrscp: Any, model: QueryModel) -> None:
    app = make_app(tmp_path, free_port(), {"ORTHANC": (orthanc.aet, orthanc.dicom_port),
                                           "DCMQR": (dcmqrscp.aet, dcmqrscp.port)})
    studies = await app.find(Query(QueryLevel.STUDY, patient_id="VET001"), model=model)
    assert all(r.ok for r in studies.per_ae), [r.error for r in studies.per_ae]
    expected = set(samples[1]["VET001"]["studies"])
    assert {row.match.key for row in studies.rows} == expected
    assert all(sorted(row.aes) == ["DCMQR", "ORTHANC"] for row in studies.rows)  # de-duplicated
    study_uid, series = study(samples, "VET001")
    found = await app.find(Query(QueryLevel.SERIES, patient_id="VET001", study_instance_uid=study_uid),
                           model=model)
    assert {row.match.key for row in found.rows} == set(series)
    series_uid, sops = next(iter(series.items()))
    images = await app.find(Query(QueryLevel.IMAGE, patient_id="VET001", study_instance_uid=study_uid,
                                  series_instance_uid=series_uid), model=model)
    assert {row.match.key for row in images.rows} == set(sops)
    assert all(row.match.get("SOPClassUID") == "1.2.840.10008.5.1.4.1.1.2" for row in images.rows)


async def test_latin1_names_are_decoded(tmp_path: Path, orthanc: Any) -> None:
    app = make_app(tmp_path, free_port(), {"ORTHANC": (orthanc.aet, orthanc.dicom_port)})
    result = await app.find(Query(QueryLevel.STUDY, patient_id="VET003"))
    assert [row.match.get("PatientName") for row in result.rows] == ["Müller^Jürgen"]


async def test_federated_search_survives_a_dead_and_a_rejecting_ae(tmp_path: Path, orthanc: Any,
                                                                  dcmqrscp: Any) -> None:
    with rogue_qr_scp("reject") as rogue:
        app = make_app(tmp_path, free_port(), {
            "ORTHANC": (orthanc.aet, orthanc.dicom_port), "DCMQR": (dcmqrscp.aet, dcmqrscp.port),
            "DEAD": ("DEAD", free_port()), "PICKY": (rogue.aet, rogue.port)},
            query_timeout=3)
        start = time.monotonic()
        result = await app.find(Query(QueryLevel.STUDY, patient_id="VET001"))
        elapsed = time.monotonic() - start
    states = {r.ae.name: (r.state, r.error) for r in result.per_ae}
    assert states["ORTHANC"][0] == states["DCMQR"][0] == "ok"
    assert states["DEAD"][0] == "failed" and "refused" in states["DEAD"][1]
    assert states["PICKY"] == (
        "failed", f"association rejected: called AE title not recognized; 127.0.0.1:{rogue.port} "
        f"is not {rogue.aet}: ask its administrator for its AE title and correct it "
        "(pacslink ae edit PICKY --aet TITLE)")
    assert len(result.rows) == 2
    assert elapsed < 3 + 2  # bounded by the per-AE timeout, not the sum


async def test_slow_ae_times_out_without_holding_up_the_others(tmp_path: Path, orthanc: Any) -> None:
    with rogue_qr_scp("no_final", delay=0.1, hang=30) as rogue:
        app = make_app(tmp_path, free_port(), {"ORTHANC": (orthanc.aet, orthanc.dicom_port),
                                               "STUCK": (rogue.aet, rogue.port)}, query_timeout=2)
        start = time.monotonic()
        result = await app.find(Query(QueryLevel.STUDY, patient_id="VET001"))
        elapsed = time.monotonic() - start
    by = {r.ae.name: r for r in result.per_ae}
    assert by["STUCK"].state == "timeout" and by["STUCK"].error == "timed out after 2 s"
    assert by["ORTHANC"].ok and len(by["ORTHANC"].matches) == 2
    assert elapsed < 5


async def test_result_cap_cancels_and_reports_truncation(tmp_path: Path) -> None:
    with rogue_qr_scp("many", matches=5000) as rogue:
        app = make_app(tmp_path, free_port(), {"MANY": (rogue.aet, rogue.port)}, max_results=100)
        result = await app.find(Query(QueryLevel.STUDY, patient_id="VET001"))
        uncapped = make_app(tmp_path / "b", free_port(), {"MANY": (rogue.aet, rogue.port)},
                            max_results=10_000)
        full = await uncapped.find(Query(QueryLevel.STUDY, patient_id="VET001"))
    (capped,) = result.per_ae
    assert capped.state == "truncated" and len(capped.matches) == 100
    assert full.per_ae[0].state == "ok" and len(full.rows) == 5000


# --- retrieve --------------------------------------------------------------------------


@pytest.mark.parametrize("method", [RetrieveMethod.MOVE, RetrieveMethod.GET])
async def test_retrieve_from_orthanc_is_complete(tmp_path: Path, samples: Samples, orthanc: Any,
                                                our_port: int, method: RetrieveMethod) -> None:
    set_modality(orthanc, "PACSLINK", "PACSLINK", our_port)  # another test may have moved it
    app = make_app(tmp_path, our_port, {"ORTHANC": (orthanc.aet, orthanc.dicom_port)})
    study_uid, series = study(samples, "VET001")
    report = await app.retrieve("ORTHANC", RetrieveTarget(study_uid, patient_id="VET001"), method=method)
    assert report.complete, (report.error, report.notes, report.missing)
    assert report.method == method.value
    assert set(report.expected) == instances(series) == report.present
    for uid in instances(series):
        row = app.index.get_instance(uid)
        assert row is not None and app.store.path_of(row).exists()


async def test_retrieve_series_from_dcmqrscp_by_move(tmp_path: Path, samples: Samples, dcmqrscp: Any,
                                                    our_port: int) -> None:
    app = make_app(tmp_path, our_port, {"DCMQR": (dcmqrscp.aet, dcmqrscp.port)})
    study_uid, series = study(samples, "VET001")
    series_uid, sops = next(iter(series.items()))
    report = await app.retrieve("DCMQR", RetrieveTarget(study_uid, series_uid), method=RetrieveMethod.MOVE)
    assert report.complete, (report.error, report.missing)
    assert report.present == set(sops)
    assert app.index.get_instance(sops[0]) is not None


async def test_auto_falls_back_to_get_when_move_destination_is_unknown(
        tmp_path: Path, samples: Samples, orthanc: Any) -> None:
    app = make_app(tmp_path, free_port(), {"ORTHANC": (orthanc.aet, orthanc.dicom_port)},
                   ae_title="UNKNOWNTOIT")
    study_uid, series = study(samples, "VET002")
    report = await app.retrieve("ORTHANC", RetrieveTarget(study_uid), method=RetrieveMethod.AUTO)
    assert report.complete and report.method == "get"
    assert any("fell back to C-GET" in note for note in report.notes)
    assert report.present == instances(series)


async def test_success_with_all_suboperations_failed_is_not_complete(tmp_path: Path, samples: Samples) -> None:
    from pydicom import dcmread

    datasets = [dcmread(p) for p in samples[0]][:3]
    port = free_port()
    with rogue_qr_scp("success_all_failed", datasets, failed=2,
                      destinations={"PACSLINK": ("127.0.0.1", port)}) as rogue:
        app = make_app(tmp_path, port, {"LIAR": (rogue.aet, rogue.port)})
        uid = str(datasets[0].StudyInstanceUID)
        report = await app.retrieve("LIAR", RetrieveTarget(uid), method=RetrieveMethod.MOVE)
    assert not report.complete and report.verdict == "incomplete"
    assert report.final_status == 0 and report.failed_count == 2
    assert report.missing and not report.arrived


async def test_unsolicited_instances_are_stored_and_reported(tmp_path: Path, samples: Samples) -> None:
    from pydicom import dcmread

    datasets = [dcmread(p) for p in samples[0]][:3]
    port = free_port()
    with rogue_qr_scp("unsolicited", datasets, unsolicited=2,
                      destinations={"PACSLINK": ("127.0.0.1", port)}) as rogue:
        app = make_app(tmp_path, port, {"PUSHY": (rogue.aet, rogue.port)})
        uid = str(datasets[0].StudyInstanceUID)
        report = await app.retrieve("PUSHY", RetrieveTarget(uid), method=RetrieveMethod.MOVE)
        extra = set(rogue.unsolicited_uids)
    assert report.complete
    assert extra and extra <= report.unsolicited | {e.sop_instance_uid for e in app.retrieves.unsolicited}
    assert all(app.index.get_instance(u) is not None for u in extra)


async def test_parallel_retrieves_keep_their_counts_apart(tmp_path: Path, samples: Samples, orthanc: Any,
                                                         our_port: int) -> None:
    set_modality(orthanc, "PACSLINK", "PACSLINK", our_port)  # another test may have moved it
    app = make_app(tmp_path, our_port, {"ORTHANC": (orthanc.aet, orthanc.dicom_port)})
    uids = list(samples[1]["VET001"]["studies"].items())
    async with app.receiving() as retriever:
        ae = app.resolve("ORTHANC")
        reports = await asyncio.gather(*(
            retriever.retrieve(ae, RetrieveTarget(uid), method=RetrieveMethod.MOVE) for uid, _ in uids))
    for report, (_, info) in zip(reports, uids, strict=True):
        assert report.complete
        assert report.arrived == instances(info["series"])  # nobody else's instances counted


async def test_retry_fetches_only_what_is_missing(tmp_path: Path, samples: Samples, orthanc: Any,
                                                 our_port: int) -> None:
    set_modality(orthanc, "PACSLINK", "PACSLINK", our_port)  # another test may have moved it
    app = make_app(tmp_path, our_port, {"ORTHANC": (orthanc.aet, orthanc.dicom_port)})
    study_uid, series = study(samples, "VET001")
    first = await app.retrieve("ORTHANC", RetrieveTarget(study_uid), method=RetrieveMethod.MOVE)
    assert first.complete
    victim = sorted(instances(series))[0]
    row = app.index.get_instance(victim)
    assert row is not None
    app.store.path_of(row).unlink()
    with app.index.engine.begin() as conn:  # simulate a lost instance
        from sqlalchemy import text

        conn.execute(text("DELETE FROM instance WHERE sop_instance_uid = :u"), {"u": victim})
    second = await app.retrieve("ORTHANC", RetrieveTarget(study_uid), method=RetrieveMethod.MOVE, retries=1)
    assert second.complete and victim in second.present


# --- CLI -------------------------------------------------------------------------------


def test_cli_find_and_retrieve_against_orthanc(tmp_path: Path, samples: Samples, orthanc: Any) -> None:
    runner = CliRunner()
    home = str(tmp_path / "home")
    port = free_port()
    set_modality(orthanc, "PACSLINK", "PACSLINK", port)
    base = ["--home", home]
    assert runner.invoke(cli, [*base, "ae", "add", "PACS1", "--aet", orthanc.aet, "--host",
                               "127.0.0.1", "--port", str(orthanc.dicom_port)]).exit_code == 0
    assert runner.invoke(cli, [*base, "config", "show"]).exit_code == 0
    found = runner.invoke(cli, [*base, "find", "--patient-id", "VET001", "--json"])
    assert found.exit_code == 0, found.output
    doc = json.loads(found.stdout)
    assert {r["StudyInstanceUID"] for r in doc["results"]} == set(samples[1]["VET001"]["studies"])
    assert doc["aes"][0]["state"] == "ok"
    env = {"PACSLINK_PORT": str(port)}
    done = runner.invoke(cli, [*base, "retrieve", "--patient-id", "VET001", "--json"], env=env)
    assert done.exit_code == 0, done.output
    reports = json.loads(done.stdout)["retrieves"]
    assert len(reports) == 2 and all(r["complete"] for r in reports)
    listing = json.loads(runner.invoke(cli, [*base, "store", "list", "--json"]).stdout)
    assert sum(s["instances"] for s in listing) == sum(
        len(sops) for st in samples[1]["VET001"]["studies"].values() for sops in st["series"].values())


async def test_slow_ae_that_answers_in_time_is_waited_for(tmp_path: Path, samples: Samples) -> None:
    from pydicom import dcmread

    datasets = [dcmread(p) for p in samples[0]]
    with rogue_qr_scp("slow", datasets, delay=0.4) as rogue:
        app = make_app(tmp_path, free_port(), {"SLOW": (rogue.aet, rogue.port)}, query_timeout=2)
        result = await app.find(Query(QueryLevel.STUDY, patient_id="VET001"))
    (slow,) = result.per_ae
    assert slow.state == "ok" and len(slow.matches) == 2 and slow.seconds >= 0.8


def test_cli_reports_a_lying_pacs_and_a_dead_ae(tmp_path: Path, samples: Samples) -> None:
    from pydicom import dcmread

    datasets = [dcmread(p) for p in samples[0]][:3]
    port = free_port()
    runner = CliRunner()
    base = ["--home", str(tmp_path / "home")]
    with rogue_qr_scp("success_all_failed", datasets, failed=3,
                      destinations={"PACSLINK": ("127.0.0.1", port)}) as rogue:
        runner.invoke(cli, [*base, "ae", "add", "LIAR", "--aet", rogue.aet, "--host", "127.0.0.1",
                            "--port", str(rogue.port), "--retrieve", "move"])
        runner.invoke(cli, [*base, "ae", "add", "DEAD", "--aet", "DEAD", "--host", "127.0.0.1",
                            "--port", str(free_port())])
        found = runner.invoke(cli, [*base, "find", "--patient-id", "VET001"])
        uid = str(datasets[0].StudyInstanceUID)
        done = runner.invoke(cli, [*base, "retrieve", "LIAR", "--study", uid],
                             env={"PACSLINK_PORT": str(port)})
    assert found.exit_code == 0
    assert "FAIL DEAD" in found.output and "Connection refused" in found.output
    assert uid in found.output
    assert done.exit_code == 1
    assert "INCOMPLETE" in done.output and "failed=3" in done.output
    assert "complete " not in done.output.replace("INCOMPLETE", "")


def test_retrieve_uses_a_running_pacslink_listen(tmp_path: Path, samples: Samples, orthanc: Any) -> None:
    import subprocess
    import sys

    from tests.peers import stop, wait_for_port

    home = tmp_path / "home"
    port = free_port()
    set_modality(orthanc, "PACSLINK", "PACSLINK", port)
    proc = subprocess.Popen([sys.executable, "-m", "pacslink", "--home", str(home), "listen",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc)
        runner = CliRunner()
        base = ["--home", str(home)]
        runner.invoke(cli, [*base, "ae", "add", "PACS1", "--aet", orthanc.aet, "--host", "127.0.0.1",
                            "--port", str(orthanc.dicom_port)])
        study_uid, series = study(samples, "VET002")
        done = runner.invoke(cli, [*base, "retrieve", "PACS1", "--study", study_uid, "--method",
                                   "move", "--json"], env={"PACSLINK_PORT": str(port)})
    finally:
        stop(proc)
        out = proc.stdout.read().decode() if proc.stdout else ""
    assert done.exit_code == 0, done.output
    (report,) = json.loads(done.stdout)["retrieves"]
    assert report["complete"] and report["present"] == len(instances(series))
    assert all(uid in out for uid in instances(series))  # the running listener stored them


async def test_find_stream_yields_matches_then_per_ae_results(tmp_path: Path, orthanc: Any,
                                                             dcmqrscp: Any) -> None:
    from pacslink.api import AEQueryResult

    app = make_app(tmp_path, free_port(), {"ORTHANC": (orthanc.aet, orthanc.dicom_port),
                                           "DCMQR": (dcmqrscp.aet, dcmqrscp.port)})
    events = [e async for e in app.find_stream(Query(QueryLevel.STUDY, patient_id="VET001"))]
    matches = [e for e in events if isinstance(e, tuple)]
    done = [e for e in events if isinstance(e, AEQueryResult)]
    assert len(matches) == 4 and {r.ae.name for r in done} == {"ORTHANC", "DCMQR"}
    for result in done:  # each AE's matches come before its result
        last_match = max(i for i, e in enumerate(events) if isinstance(e, tuple) and e[0].name == result.ae.name)
        assert last_match < events.index(result)
