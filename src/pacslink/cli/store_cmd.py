"""``pacslink store``: what the local store holds, and whether it is intact."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from pacslink.api import Pacslink
from pacslink.cli.common import EXIT_FAILURE, get_state, print_json

app = typer.Typer(help="Inspect the local store.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON document for scripts.")]


@app.command("list")
def list_(
    ctx: typer.Context,
    patient_id: Annotated[str | None, typer.Option("--patient-id", help="Only this patient.")] = None,
    json_: JsonOption = False,
) -> None:
    """Patients and studies in the local store, with series and instance counts."""
    state = get_state(ctx)
    app_ = Pacslink(state.settings())
    studies = app_.list_studies(patient_id)
    if json_:
        print_json(state.stdout, [
            {"patient_id": s.patient_id, "patient_name": s.patient_name,
             "study_instance_uid": s.study_instance_uid, "study_date": s.study_date,
             "study_description": s.study_description, "modalities": list(s.modalities),
             "series": s.series_count, "instances": s.instance_count} for s in studies])
        return
    if not studies:
        state.stdout.print("The local store is empty." if patient_id is None
                           else "No studies for this patient in the local store.")
        return
    table = Table("Patient ID", "Patient name", "Study date", "Description", "Modalities",
                  "Series", "Instances", "Study Instance UID")
    for s in studies:
        table.add_row(s.patient_id, s.patient_name, s.study_date, s.study_description,
                      ",".join(s.modalities), str(s.series_count), str(s.instance_count),
                      s.study_instance_uid)
    state.stdout.print(table)


@app.command()
def show(
    ctx: typer.Context,
    study_uid: Annotated[str, typer.Argument(metavar="STUDY_UID", help="Study Instance UID.")],
    json_: JsonOption = False,
) -> None:
    """A study's series and instances, each with its SOP Instance UID and file path."""
    state = get_state(ctx)
    app_ = Pacslink(state.settings())
    detail = app_.study_detail(study_uid)
    if detail is None:
        state.stderr.print(f"[red]error:[/] no study {study_uid} in the local store. "
                           "See: pacslink store list")
        raise typer.Exit(EXIT_FAILURE)
    store = app_.store
    series_out: list[dict[str, Any]] = []
    for series in detail.series:
        series_out.append({
            "series_instance_uid": series.series_instance_uid, "modality": series.modality,
            "series_number": series.series_number, "series_description": series.series_description,
            "instances": [{"sop_instance_uid": i.sop_instance_uid, "sop_class_uid": i.sop_class_uid,
                           "instance_number": i.instance_number,
                           "transfer_syntax_uid": i.transfer_syntax_uid,
                           "path": str(store.path_of(i)), "size": i.size}
                          for i in series.instances]})
    if json_:
        s = detail.study
        print_json(state.stdout, {
            "study_instance_uid": s.study_instance_uid, "patient_id": s.patient_id,
            "patient_name": s.patient_name, "study_date": s.study_date,
            "study_description": s.study_description, "series": series_out})
        return
    s = detail.study
    state.stdout.print(f"[bold]{s.patient_name}[/] ({s.patient_id})  {s.study_date}  "
                       f"{s.study_description}\nStudy {s.study_instance_uid}")
    for entry in series_out:
        table = Table("#", "SOP Instance UID", "File", title=(
            f"Series {entry['series_number'] or ''} {entry['modality']} "
            f"{entry['series_description']} ({len(entry['instances'])} instances)"),
            title_justify="left")
        for inst in entry["instances"]:
            table.add_row(str(inst["instance_number"] or ""), inst["sop_instance_uid"], inst["path"])
        state.stdout.print(table)


@app.command()
def verify(ctx: typer.Context, json_: JsonOption = False) -> None:
    """Check every stored file: present, parses, size and SHA-256 as recorded; orphans."""
    state = get_state(ctx)
    app_ = Pacslink(state.settings())
    with state.stderr.status("Verifying the local store..."):
        report = app_.verify_store()
    if json_:
        print_json(state.stdout, {"checked": report.checked, "ok": report.ok, "issues": [
            {"problem": i.problem.value, "path": i.path, "sop_instance_uid": i.sop_instance_uid,
             "detail": i.detail} for i in report.issues]})
    else:
        for issue in report.issues:
            state.stdout.print(f"[red]{issue.problem.value}[/] {issue.path} "
                               f"{issue.sop_instance_uid} {issue.detail}".rstrip())
        verdict = "[green]OK[/]" if report.ok else f"[red]{len(report.issues)} problems[/]"
        state.stdout.print(f"{report.checked} instances checked: {verdict}")
    if not report.ok:
        raise typer.Exit(EXIT_FAILURE)
