"""``pacslink store``: what the local store holds, and whether it is intact.

UIDs and file paths are printed whole, at any terminal width: a table when it fits,
otherwise the same rows as short blocks of lines (:func:`pacslink.cli.common.fits`), so
a Study Instance UID from ``store list`` can always be copied into ``store show``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pacslink.api import Pacslink
from pacslink.cli.common import EXIT_FAILURE, fits, get_state, plural, print_error, print_json
from pacslink.models import StudySummary

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
    print_studies(state.stdout, studies)


def print_studies(console: Console, studies: list[StudySummary]) -> None:
    """One table row per study, or two lines per study when the table is too wide::

        VET001  Rex^Demo  20240102  CT  CT HEAD PHANTOM  1 series, 24 instances
          Study UID 1.2.826.0.1.3680043.8.498.10207393463432476378255406066424155765
    """
    table = Table("Patient ID", "Patient name", "Study date", "Description", "Modalities",
                  "Series", "Instances", "Study Instance UID")
    for s in studies:
        table.add_row(*(Text(cell) for cell in (
            s.patient_id, s.patient_name, s.study_date, s.study_description,
            ",".join(s.modalities), str(s.series_count), str(s.instance_count),
            s.study_instance_uid)))
    if fits(console, table):
        console.print(table)
        return
    for s in studies:
        fields = (s.patient_id, s.patient_name, s.study_date, ",".join(s.modalities),
                  s.study_description,
                  f"{plural(s.series_count, 'series', 'series')}, "
                  f"{plural(s.instance_count, 'instance')}")
        console.print(Text("  ".join(f for f in fields if f)))
        console.print(Text(f"  Study UID {s.study_instance_uid}"))


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
        print_error(state.stderr, f"no study {study_uid} in the local store. "
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
    state.stdout.print(Text.assemble((s.patient_name, "bold"), f" ({s.patient_id})  "
                                     f"{s.study_date}  {s.study_description}"))
    state.stdout.print(Text(f"Study {s.study_instance_uid}"))
    for entry in series_out:
        _print_series(state.stdout, entry)


def _print_series(console: Console, entry: dict[str, Any]) -> None:
    """A series' instances: a table when it fits, else two lines per instance."""
    title = " ".join(str(part) for part in (
        "Series", entry["series_number"] or "", entry["modality"], entry["series_description"],
        f"({plural(len(entry['instances']), 'instance')})") if part != "")
    rows = [(str(inst["instance_number"] or ""), inst["sop_instance_uid"], inst["path"])
            for inst in entry["instances"]]
    table = Table("#", "SOP Instance UID", "File", title=Text(title), title_justify="left")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    if fits(console, table):
        console.print(table)
        return
    console.print(Text(title, style="italic"))
    for number, uid, path in rows:
        console.print(Text(f"  {number or '-':>4}  {uid}"))
        console.print(Text(f"        {path}"))


@app.command()
def verify(ctx: typer.Context, json_: JsonOption = False) -> None:
    """Check every stored file: present, parses, size and SHA-256 as recorded; orphans."""
    state = get_state(ctx)
    app_ = Pacslink(state.settings())
    with state.stderr.status("Verifying the local store..."):
        report = app_.verify_store()
    if json_:
        print_json(state.stdout, {"checked": report.checked, "ok": report.ok,
                                  "quarantined": report.quarantined, "issues": [
            {"problem": i.problem.value, "path": i.path, "sop_instance_uid": i.sop_instance_uid,
             "detail": i.detail} for i in report.issues]})
    else:
        for issue in report.issues:
            state.stdout.print(Text.assemble(
                (issue.problem.value, "red"),
                f" {issue.path} {issue.sop_instance_uid} {issue.detail}".rstrip()))
        verdict = "[green]OK[/]" if report.ok else f"[red]{len(report.issues)} problems[/]"
        state.stdout.print(f"{report.checked} instances checked: {verdict}")
        if report.quarantined:
            folder = app_.settings.store_dir / "quarantine"
            state.stdout.print(
                f"{report.quarantined} file(s) in {folder}: instances a crash left without an "
                "index row, never acknowledged to their senders; look at them (they are DICOM "
                "files), then delete the folder", markup=False)
    if not report.ok:
        raise typer.Exit(EXIT_FAILURE)
