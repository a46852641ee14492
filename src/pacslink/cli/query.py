"""``pacslink find`` and ``pacslink retrieve``: search every PACS, pull studies in."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from pacslink.api import Pacslink, Query, QueryLevel, QueryModel, describe_status, run
from pacslink.cli.common import EXIT_FAILURE, get_state, print_json, print_plain
from pacslink.models import QueryMatch, RemoteAE, RetrieveMethod

if TYPE_CHECKING:  # find must not import the retrieve side (the store, pydicom)
    from pacslink.api import AEQueryResult, FederatedResult, RetrieveProgress, RetrieveReport

JsonOption = Annotated[bool, typer.Option("--json", help="One JSON document for scripts.")]

#: Columns printed per level: (keyword, heading).
COLUMNS: dict[QueryLevel, tuple[tuple[str, str], ...]] = {
    QueryLevel.PATIENT: (("PatientID", "Patient ID"), ("PatientName", "Name"),
                         ("PatientBirthDate", "Born")),
    QueryLevel.STUDY: (("StudyDate", "Date"), ("PatientID", "Patient ID"), ("PatientName", "Name"),
                       ("ModalitiesInStudy", "Mod"), ("NumberOfStudyRelatedInstances", "Images"),
                       ("StudyDescription", "Description"), ("StudyInstanceUID", "Study UID")),
    QueryLevel.SERIES: (("SeriesNumber", "#"), ("Modality", "Mod"),
                        ("NumberOfSeriesRelatedInstances", "Images"),
                        ("SeriesDescription", "Description"), ("SeriesInstanceUID", "Series UID")),
    QueryLevel.IMAGE: (("InstanceNumber", "#"), ("Rows", "Rows"), ("Columns", "Cols"),
                       ("SOPInstanceUID", "SOP Instance UID")),
}


def _line(match: QueryMatch, aes: list[str]) -> str:
    values = [match.get(k) or "-" for k, _ in COLUMNS[match.level]]
    return "  ".join(values) + f"  [{', '.join(aes)}]"


def _ae_line(result: AEQueryResult, level: QueryLevel) -> str:
    name = result.ae.name
    if result.state == "ok":
        return f"[green]OK[/]   {name}: {len(result.matches)} {level.value.lower()} match(es) in {result.seconds:.2f} s"
    if result.state == "truncated":
        return f"[yellow]CUT[/]  {name}: {result.error}"
    return f"[red]FAIL[/] {name}: {result.error}"


def find(
    ctx: typer.Context,
    patient_id: Annotated[str | None, typer.Option("--patient-id", help="Patient ID to search for.")] = None,
    ae: Annotated[list[str] | None, typer.Option("--ae", help="Only these AEs (repeatable); default all.")] = None,
    level: Annotated[QueryLevel, typer.Option("--level", case_sensitive=False, help="study, series or image.")] = QueryLevel.STUDY,
    study_uid: Annotated[str | None, typer.Option("--study-uid", help="Study Instance UID (series/image level).")] = None,
    series_uid: Annotated[str | None, typer.Option("--series-uid", help="Series Instance UID (image level).")] = None,
    model: Annotated[QueryModel | None, typer.Option("--model", help="patient or study root. [default: what the AE supports]")] = None,
    date: Annotated[str | None, typer.Option("--date", help="YYYYMMDD or YYYYMMDD-YYYYMMDD.")] = None,
    modality: Annotated[str | None, typer.Option("--modality", help="e.g. CT, MR, DX.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Patient's name; * and ? are wildcards.")] = None,
    json_: JsonOption = False,
) -> None:
    """Search every configured AE at once (C-FIND) and merge what they hold."""
    state = get_state(ctx)
    app = Pacslink(state.settings())
    query = Query(level=level, patient_id=patient_id, study_instance_uid=study_uid,
                  series_instance_uid=series_uid, patient_name=name, study_date=date,
                  modality=modality)
    seen: dict[str, list[str]] = {}
    console = state.stdout

    def on_match(remote: RemoteAE, match: QueryMatch) -> None:
        key = match.key
        if key in seen:
            seen[key].append(remote.name)
            return
        seen[key] = [remote.name]
        if not json_:
            print_plain(console, _line(match, [remote.name]))

    def on_ae_done(result: AEQueryResult) -> None:
        if not json_:
            state.stderr.print(_ae_line(result, level))

    result = run(app.find(query, aes=ae, model=model, on_match=on_match, on_ae_done=on_ae_done))
    if json_:
        print_json(console, _find_json(result))
    else:
        shared = [r for r in result.rows if len(r.aes) > 1]
        console.print(f"{len(result.rows)} {level.value.lower()}(s) from "
                      f"{sum(r.ok for r in result.per_ae)} of {len(result.per_ae)} AEs in "
                      f"{result.seconds:.2f} s" + (f"; {len(shared)} held by several AEs" if shared else ""))
        for row in shared:
            console.print(f"  {row.match.key}: {', '.join(row.aes)}", markup=False)
    if not any(r.ok for r in result.per_ae):
        raise typer.Exit(EXIT_FAILURE)


def _find_json(result: FederatedResult) -> dict[str, Any]:
    return {
        "level": result.query.level.value,
        "seconds": round(result.seconds, 3),
        "aes": [{"name": r.ae.name, "state": r.state, "error": r.error or None,
                 "matches": len(r.matches), "seconds": round(r.seconds, 3),
                 "model": r.model.value if r.model else None} for r in result.per_ae],
        "results": [{**row.match.attributes, "aes": row.aes} for row in result.rows],
    }


class _Bar:
    """A Rich progress bar fed by the retrieve's counters and arrivals."""

    def __init__(self, progress: Progress, label: str) -> None:
        self.progress = progress
        self.task: TaskID = progress.add_task(label, total=None, failed=0, method="")

    def __call__(self, p: RetrieveProgress) -> None:
        total = p.expected
        if total is None and p.remaining is not None and p.completed is not None:
            total = p.remaining + p.completed + (p.failed or 0) + (p.warning or 0)
        self.progress.update(self.task, total=total, completed=p.arrived,
                             failed=p.failed or 0, method=p.method.upper())


def _report_lines(report: RetrieveReport) -> list[str]:
    expected = len(report.expected) if report.expected_known else None
    method = {"move": "C-MOVE", "get": "C-GET"}.get(report.method, report.method)
    head = (f"{report.ae.name} {report.target.level.value.lower()} "
            f"{report.target.series_instance_uid or report.target.study_instance_uid}: ")
    counts = report.peer_counts()
    if report.complete:
        n = len(report.present) if expected is not None else len(report.arrived)
        lines = [f"[green]complete[/] {head}{n} instance(s) in the local store by {method}"]
    elif report.error:
        lines = [f"[red]FAILED[/] {head}{report.error}"]
    else:
        got = len(report.present) if expected is not None else len(report.arrived)
        lines = [f"[red]INCOMPLETE[/] {head}{got} of {expected if expected is not None else '?'} "
                 f"instance(s) in the store by {method}; {counts}"]
    if report.final_status is not None and not report.complete:
        lines.append(f"  final status {describe_status(report.final_status)}")
    if report.missing:
        sample = sorted(report.missing)[:5]
        lines.append(f"  missing {len(report.missing)}: {', '.join(sample)}"
                     + (" ..." if len(report.missing) > 5 else "")
                     + " (try --retry 2)")
    for uid, why in list(report.failed.items())[:5]:
        lines.append(f"  not stored {uid}: {why}")
    if report.unsolicited:
        lines.append(f"  {len(report.unsolicited)} unsolicited instance(s) arrived and were stored")
    lines += [f"  note: {n}" for n in report.notes]
    return lines


def _report_json(report: RetrieveReport) -> dict[str, Any]:
    return {
        "ae": report.ae.name, "study_instance_uid": report.target.study_instance_uid,
        "series_instance_uid": report.target.series_instance_uid,
        "level": report.target.level.value, "method": report.method, "verdict": report.verdict,
        "complete": report.complete, "expected": len(report.expected) if report.expected_known else None,
        "arrived": len(report.arrived), "present": len(report.present),
        "missing": sorted(report.missing), "failed": report.failed,
        "unsolicited": sorted(report.unsolicited), "final_status": report.final_status,
        "completed": report.completed, "failed_count": report.failed_count,
        "warning": report.warning, "error": report.error or None, "notes": report.notes,
        "inconsistent_counters": report.counter_problems,
        "attempts": report.attempts,
    }


def retrieve(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Argument(metavar="[AE]", help="Configured AE name or AET@host:port.")] = None,
    study: Annotated[str | None, typer.Option("--study", help="Study Instance UID.")] = None,
    series: Annotated[str | None, typer.Option("--series", help="Series Instance UID.")] = None,
    instance: Annotated[list[str] | None, typer.Option("--instance", help="SOP Instance UID (repeatable).")] = None,
    patient_id: Annotated[str | None, typer.Option("--patient-id", help="Everything found for this patient, from wherever it is.")] = None,
    ae: Annotated[list[str] | None, typer.Option("--ae", help="With --patient-id: only search these AEs.")] = None,
    method: Annotated[RetrieveMethod | None, typer.Option("--method", help="move, get or auto. [default: the AE's setting]")] = None,
    retry: Annotated[int, typer.Option("--retry", min=0, help="Re-request missing instances up to N times.")] = 0,
    json_: JsonOption = False,
) -> None:
    """Retrieve into the local store (C-MOVE to ourselves or C-GET) and prove it is complete."""
    state = get_state(ctx)
    app = Pacslink(state.settings())
    if patient_id is None and (source is None or study is None):
        state.stderr.print("[red]error:[/] name an AE and --study UID, or use --patient-id ID. "
                           "Find UIDs with: pacslink find --patient-id ID")
        raise typer.Exit(2)
    if series is None and instance:
        state.stderr.print("[red]error:[/] --instance needs --series (the series it belongs to)")
        raise typer.Exit(2)
    progress = Progress(TextColumn("{task.description} {task.fields[method]}"), BarColumn(),
                        MofNCompleteColumn(), TextColumn("{task.fields[failed]} failed"),
                        TimeElapsedColumn(), console=state.stderr,
                        disable=json_ or not state.stderr.is_terminal)
    reports: list[RetrieveReport] = []
    start = time.perf_counter()
    with progress:
        if patient_id is not None and source is None:
            bars: list[_Bar] = []

            def on_progress(p: RetrieveProgress) -> None:
                if not bars:
                    bars.append(_Bar(progress, "retrieving"))
                bars[-1](p)

            def on_report(report: RetrieveReport) -> None:
                bars.clear()
                if not json_:
                    for line in _report_lines(report):
                        state.stdout.print(line)

            found, reports = run(app.retrieve_patient(
                patient_id, aes=ae, method=method, retries=retry, progress=on_progress,
                on_report=on_report))
            failed_aes = [r for r in found.per_ae if not r.ok]
            for r in failed_aes:
                state.stderr.print(_ae_line(r, QueryLevel.STUDY))
            if not found.rows and not json_:
                state.stdout.print(f"No studies found for patient {patient_id}.")
        else:
            assert source is not None and study is not None
            from pacslink.api import RetrieveTarget

            target = RetrieveTarget(study, series, tuple(instance or ()), patient_id)
            bar = _Bar(progress, f"{source}")
            report = run(app.retrieve(source, target, method=method, retries=retry, progress=bar))
            reports = [report]
            if not json_:
                for line in _report_lines(report):
                    state.stdout.print(line)
    if json_:
        print_json(state.stdout, {"seconds": round(time.perf_counter() - start, 3),
                                  "retrieves": [_report_json(r) for r in reports]})
    if not reports or not all(r.complete for r in reports):
        raise typer.Exit(EXIT_FAILURE)

