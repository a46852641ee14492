"""Query/Retrieve: C-FIND with 5,000 matches, a federated C-FIND, and a C-MOVE retrieve.

pacslink runs as its CLI (``pacslink find``, ``pacslink retrieve``), timed over the
process's whole life like the DCMTK tools; both sides send the same identifier
(pacslink's own, written to a file for ``findscu``).

* 5,000 matches: both ask one ``pacslink pacs serve`` (the sample PACS) for the images
  of one series. dcmqrscp cannot hold 5,000 instances: its index.dat stops at 32 MiB
  (8,076 bytes per instance, about 4,150 instances; DCMTK 3.6.7 then prints
  "DB ALERT: attempt to seek beyond 33554432 bytes"), and Orthanc takes minutes to
  ingest 5,000 objects on a 2-core machine.
* Federated: 4 dcmqrscp and one sample PACS that waits 2 s before its match; one
  ``pacslink find`` over all five against ``findscu`` run on each in turn.
* Retrieve: a 500-image study from one dcmqrscp, by C-MOVE into ``pacslink retrieve``
  (its own Storage SCP) and into ``movescu --port``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import statistics
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydicom.dataset import FileMetaDataset
from pydicom.uid import UID, ImplicitVRLittleEndian, generate_uid

from benchmarks.common import (
    DCMTK_ENV,
    PACSLINK,
    BenchError,
    Context,
    Server,
    alternate,
    count_files,
    expect,
    free_port,
    pacslink_env,
    run,
    serving,
    sync_disks,
)
from benchmarks.data import PATIENT_ID, Series
from benchmarks.receive import AT_LEAST_DCMTK
from benchmarks.results import INFO, Row, Target
from pacslink.api import Pacslink
from pacslink.identifiers import build_find_identifier, find_sop_class
from pacslink.models import Query, QueryLevel, QueryModel, RemoteAE
from tests.qr_peers import DcmqrscpServer, dcmqrscp_server

SCU_AET = "BENCHSCU"


# --- helpers ------------------------------------------------------------------------------


def _identifier_file(query: Query, path: Path) -> Path:
    """pacslink's C-FIND identifier for ``query`` as a file ``findscu`` sends as is."""
    ds = build_find_identifier(query, QueryModel.STUDY_ROOT)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = UID(find_sop_class(QueryModel.STUDY_ROOT))
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.save_as(path, enforce_file_format=True)
    return path


def _findscu(aet: str, port: int, query_file: Path) -> list[str]:
    return ["findscu", "-S", "-aet", SCU_AET, "-aec", aet, "127.0.0.1", str(port), str(query_file)]


def _responses(findscu_log: Path) -> int:
    """Pending responses ``findscu`` printed (it logs each one at its default level)."""
    text = findscu_log.read_text(errors="replace")
    return text.count("Find Response:") - text.count("(Success)")


def _index(storage: Path, series: Series) -> None:
    """Register ``series`` in a dcmqrscp storage area with DCMTK's dcmqridx (no network)."""
    result = subprocess.run(["dcmqridx", str(storage), *map(str, series.paths)],
                            capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0 or "ALERT" in result.stderr:
        raise BenchError(f"dcmqridx failed: {result.stderr[-300:]}")


@contextlib.contextmanager
def _dcmqrscp(folder: Path, aet: str, series: Series,
              peers: dict[str, tuple[str, int]] | None = None) -> Iterator[DcmqrscpServer]:
    (folder / "storage").mkdir(parents=True, exist_ok=True)
    _index(folder / "storage", series)
    with dcmqrscp_server(folder, aet=aet, peers=peers) as server:
        yield server


@contextlib.contextmanager
def _sample_pacs(ctx: Context, folder: Path, aet: str, *, slow: float = 0.0,
                 max_results: int = 1000) -> Iterator[Server]:
    """``pacslink pacs serve folder`` (it indexes the folder, then listens)."""
    port = free_port()
    args = [*PACSLINK, "pacs", "serve", str(folder), "--aet", aet, "--port", str(port)]
    if slow:
        args += ["--slow", str(slow)]
    with serving(f"pacs-{aet.lower()}", args, port, folder.parent, timeout=300,
                 env=ctx.peer_env(max_results=max_results)) as server:
        yield server


def _json(output: str, what: str) -> Any:
    try:
        return json.loads(output)
    except ValueError:
        raise BenchError(f"{what} printed no JSON: {output[-300:]}") from None


# --- C-FIND with many matches -------------------------------------------------------------


def plan_find(ctx: Context) -> list[Row]:
    n = ctx.sizes.find_matches
    return [Row("find_many", "qr", f"C-FIND, {n:,} matches (image level)", "responses/s",
                "pacslink find --level image --json", "findscu -S (same identifier)",
                AT_LEAST_DCMTK, ratio_definition="pacslink rate / findscu rate, per repetition",
                notes=["both against pacslink pacs serve (dcmqrscp holds < 4,200 instances)",
                       "pacslink includes its start-up"])]


def measure_find(ctx: Context, rows: list[Row]) -> None:
    (row,) = rows
    series = ctx.data.find()
    work = ctx.fresh("find")
    query = Query(QueryLevel.IMAGE, study_instance_uid=series.study_instance_uid,
                  series_instance_uid=series.series_instance_uid)
    query_file = _identifier_file(query, work / "query.dcm")
    limit = series.count * 2
    with _sample_pacs(ctx, series.folder, "SAMPLEPACS", max_results=limit) as pacs:
        ours = [*PACSLINK, "--home", str(work / "home"), "find", "--model", "study",
                "--ae", f"SAMPLEPACS@127.0.0.1:{pacs.port}", "--level", "image",
                "--study-uid", series.study_instance_uid,
                "--series-uid", series.series_instance_uid, "--json"]
        theirs = _findscu("SAMPLEPACS", pacs.port, query_file)
        inside: list[float] = []
        for rep in range(ctx.reps):
            seconds = {}
            for side in alternate(rep, ["pacslink", "dcmtk"]):
                if side == "pacslink":
                    seconds[side], output = run(ours, cwd=work, name="pacslink-find",
                                                env=pacslink_env(max_results=limit))
                    document = _json(output, "pacslink find")
                    expect("pacslink find results", len(document["results"]), series.count)
                    inside.append(series.count / float(document["seconds"]))
                else:
                    seconds[side], _ = run(theirs, cwd=work, env=DCMTK_ENV, name="findscu")
                    expect("findscu responses", _responses(work / "findscu.log"), series.count)
            n = series.count
            row.add_pair(n / seconds["pacslink"], n / seconds["dcmtk"],
                         seconds["dcmtk"] / seconds["pacslink"])
    row.extra["search_only_responses_per_s"] = round(statistics.median(inside), 1)


# --- federated C-FIND ---------------------------------------------------------------------


def plan_federated(ctx: Context) -> list[Row]:
    s = ctx.sizes
    return [Row("find_federated", "qr",
                f"federated C-FIND over {s.federated_aes} AEs, one {s.slow_seconds:g} s slow",
                "s", "pacslink find --patient-id (all AEs at once)",
                f"sum of {s.federated_aes} findscu runs",
                Target("wall <= 1.2x the slowest AE", max_ratio=1.2),
                ratio_definition="pacslink wall / slowest single findscu, per repetition",
                ratio_suffix=" the slowest AE",
                notes=["pacslink includes its start-up"])]


def measure_federated(ctx: Context, rows: list[Row]) -> None:
    (row,) = rows
    s = ctx.sizes
    study = ctx.data.small_study()
    work = ctx.fresh("federated")
    query_file = _identifier_file(Query(QueryLevel.STUDY, patient_id=PATIENT_ID),
                                  work / "query.dcm")
    slow_folder = work / "slowpacs" / "files"
    slow_folder.mkdir(parents=True)
    for path in study.paths:
        shutil.copy(path, slow_folder)
    home = work / "home"
    with contextlib.ExitStack() as stack:
        aes: dict[str, int] = {}
        for i in range(s.federated_aes - 1):
            server = stack.enter_context(_dcmqrscp(work / f"dcmqr{i}", f"DCMQR{i}", study))
            aes[server.aet] = server.port
        slow = stack.enter_context(_sample_pacs(ctx, slow_folder, "SLOWPACS",
                                                slow=s.slow_seconds))
        aes["SLOWPACS"] = slow.port
        app = Pacslink.from_home(home, environ={})
        for aet, port in aes.items():
            app.registry.add(RemoteAE(aet, aet, "127.0.0.1", port))
        app.close()
        ours = [*PACSLINK, "--home", str(home), "find", "--model", "study",
                "--patient-id", PATIENT_ID, "--json"]
        slowest_list, to_sum, inside = [], [], []
        for rep in range(ctx.reps):
            wall = 0.0
            singles: dict[str, float] = {}
            for side in alternate(rep, ["pacslink", "dcmtk"]):
                if side == "pacslink":
                    wall, output = run(ours, cwd=work, name="pacslink-find",
                                       env=pacslink_env(query_timeout=30))
                    document = _json(output, "pacslink find")
                    _check_federated(document, len(aes))
                    inside.append(float(document["seconds"]))
                else:
                    for aet, port in aes.items():
                        singles[aet], _ = run(_findscu(aet, port, query_file), cwd=work,
                                              env=DCMTK_ENV, name=f"findscu-{aet}")
                        expect(f"findscu responses from {aet}",
                               _responses(work / f"findscu-{aet}.log"), 1)
            slowest, total = max(singles.values()), sum(singles.values())
            row.add_pair(wall, total, wall / slowest)
            slowest_list.append(slowest)
            to_sum.append(wall / total)
    row.extra["slowest_single_findscu_s"] = round(statistics.median(slowest_list), 3)
    row.extra["wall_over_sum"] = round(statistics.median(to_sum), 3)
    row.extra["search_only_s"] = round(statistics.median(inside), 3)


def _check_federated(document: dict[str, Any], ae_count: int) -> None:
    answered = [a for a in document.get("aes", []) if a.get("state") == "ok"]
    if len(answered) != ae_count:
        raise BenchError(f"pacslink find: {len(answered)} of {ae_count} AEs answered: "
                         f"{document.get('aes')}")
    expect("studies pacslink find merged", len(document.get("results", [])), 1)


# --- C-MOVE retrieve ----------------------------------------------------------------------

#: (key suffix, title suffix, pacslink settings given through PACSLINK_* variables)
RETRIEVE_MODES: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("durable", "durable (default)", {}), ("never", "sync = never", {"sync": "never"}))


def plan_move(ctx: Context) -> list[Row]:
    n = ctx.sizes.ct_count
    rows = []
    for suffix, label, settings in RETRIEVE_MODES:
        env = " ".join(f"PACSLINK_{k.upper()}={v}" for k, v in settings.items())
        rows.append(Row(
            f"retrieve_move_{suffix}", "qr", f"retrieve a {n}-image study (C-MOVE), {label}",
            "images/s", f"{env} pacslink retrieve --study UID --method move".strip(),
            "movescu --port (both from dcmqrscp)",
            AT_LEAST_DCMTK if suffix == "never" else INFO,
            ratio_definition="pacslink rate / movescu rate, per repetition",
            notes=["pacslink includes its start-up"]
            + (["movescu does not fsync; like-for-like is sync = never"]
               if suffix == "durable" else [])))
    return rows


def measure_move(ctx: Context, rows: list[Row]) -> None:
    series = ctx.data.ct()
    work = ctx.fresh("retrieve")
    by_mode = {suffix: row for (suffix, _, _), row in zip(RETRIEVE_MODES, rows)}
    if not ctx.has_sync_never:
        by_mode["never"].error = "n/a: this pacslink has no sync = never setting"
    modes = {suffix: settings for suffix, _, settings in RETRIEVE_MODES
             if by_mode[suffix].error is None}
    our_port, mover_port = free_port(), free_port()
    peers = {"PACSLINK": ("127.0.0.1", our_port), "MOVESCU": ("127.0.0.1", mover_port)}
    with _dcmqrscp(work / "dcmqrscp", "DCMQR", series, peers) as scp:
        inside: dict[str, list[float]] = {suffix: [] for suffix in modes}
        for rep in range(ctx.reps):
            seconds: dict[str, float] = {}
            for side in alternate(rep, [*modes, "dcmtk"]):
                if side == "dcmtk":
                    seconds[side] = _movescu(ctx, scp, series, mover_port)
                else:
                    seconds[side], itself = _pacslink_retrieve(ctx, scp, series, our_port,
                                                               modes[side])
                    inside[side].append(series.count / itself)
            for suffix in modes:
                by_mode[suffix].add_pair(series.count / seconds[suffix],
                                         series.count / seconds["dcmtk"],
                                         seconds["dcmtk"] / seconds[suffix])
    for suffix, rates in inside.items():
        by_mode[suffix].extra["retrieve_only_images_per_s"] = round(statistics.median(rates), 1)


def _pacslink_retrieve(ctx: Context, scp: DcmqrscpServer, series: Series, port: int,
                       settings: dict[str, str]) -> tuple[float, float]:
    """(wall seconds of the process, seconds the retrieve itself took by its own report)."""
    home = ctx.fresh("retrieve/home")
    args = [*PACSLINK, "--home", str(home), "retrieve", f"{scp.aet}@127.0.0.1:{scp.port}",
            "--study", series.study_instance_uid, "--method", "move", "--json"]
    sync_disks()
    seconds, output = run(args, cwd=home, name="pacslink-retrieve",
                          env=pacslink_env(port=port, min_free_mb=1, **settings))
    document = _json(output, "pacslink retrieve")
    (report,) = document["retrieves"]
    if not report["complete"]:
        raise BenchError(f"pacslink retrieve incomplete: {report}")
    expect("images pacslink retrieve stored", report["present"], series.count)
    return seconds, float(document["seconds"])


def _movescu(ctx: Context, scp: DcmqrscpServer, series: Series, port: int) -> float:
    out = ctx.fresh("retrieve/movescu")
    (out / "files").mkdir()
    args = ["movescu", "-S", "-aet", "MOVESCU", "-aec", scp.aet, "-aem", "MOVESCU",
            "--port", str(port), "-od", str(out / "files"),
            "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={series.study_instance_uid}",
            "127.0.0.1", str(scp.port)]
    sync_disks()
    seconds, _ = run(args, cwd=out, env=DCMTK_ENV, name="movescu")
    expect("images movescu stored", count_files(out / "files"), series.count)
    return seconds
