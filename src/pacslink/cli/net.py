"""``pacslink echo`` and ``pacslink send``: Verification and Storage SCU from the shell."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from pacslink.api import EchoResult, FileOutcome, Pacslink, describe_status, run, scan_paths
from pacslink.cli.common import EXIT_FAILURE, format_address, get_state, print_json

JsonOption = Annotated[bool, typer.Option("--json", help="One JSON document for scripts.")]


def echo(
    ctx: typer.Context,
    targets: Annotated[
        list[str] | None,
        typer.Argument(metavar="[AE]...", help="Configured AE names or AET@host:port.",
                       show_default=False),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="C-ECHO every configured AE at once.")] = False,
    json_: JsonOption = False,
) -> None:
    """C-ECHO remote AEs and show the round-trip time (PS3.7 9.1.5)."""
    state = get_state(ctx)
    app = Pacslink(state.settings())
    if all_:
        aes = app.remote_aes()
        if not aes:
            state.stderr.print("No remote AEs configured. Add one: pacslink ae add NAME "
                               "--aet AET --host HOST --port PORT")
            raise typer.Exit(EXIT_FAILURE)
    elif targets:
        aes = [app.resolve(t) for t in targets]
    else:
        state.stderr.print("Name an AE (pacslink echo PACS1 or AET@host:port) or use --all.")
        raise typer.Exit(2)

    async def go() -> list[EchoResult]:
        return list(await asyncio.gather(*(app.echo(ae) for ae in aes)))

    results = run(go())
    if json_:
        print_json(state.stdout, [
            {"name": r.ae.name, "address": format_address(r.ae), "ok": r.ok,
             "status": r.status, "round_trip_ms": r.round_trip_ms, "error": r.error}
            for r in results])
    else:
        for r in results:
            label = f"{r.ae.name} ({format_address(r.ae)})" if r.ae.name != format_address(r.ae) \
                else format_address(r.ae)
            if r.ok:
                state.stdout.print(f"[green]OK[/]   {label}: {r.round_trip_ms:.1f} ms")
            elif r.status is not None:
                state.stdout.print(f"[red]FAIL[/] {label}: C-ECHO answered {describe_status(r.status)}")
            else:
                state.stdout.print(f"[red]FAIL[/] {label}: {r.error}")
    if not all(r.ok for r in results):
        raise typer.Exit(EXIT_FAILURE)


def send(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(metavar="AE", help="Configured AE name or AET@host:port.")],
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...", help="Files and folders (recursive).")],
    json_: JsonOption = False,
) -> None:
    """C-STORE DICOM files to a remote AE, with progress and a per-file summary."""
    state = get_state(ctx)
    app = Pacslink(state.settings())
    ae = app.resolve(target)
    with state.stderr.status("Reading files..."):
        scan = scan_paths(paths)
    for skipped in scan.skipped:
        state.stderr.print(f"[yellow]skipped[/] {skipped.path}: {skipped.reason}")
    if not scan.files:
        state.stderr.print("Nothing to send: no DICOM Part 10 files found.")
        raise typer.Exit(EXIT_FAILURE)

    progress = Progress(
        TextColumn("Sending to " + ae.name), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"), TimeRemainingColumn(),
        console=state.stderr, disable=json_ or not state.stderr.is_terminal,
    )
    with progress:
        task = progress.add_task("send", total=len(scan.files), failed=0)
        failed = 0

        def on_file(outcome: FileOutcome) -> None:
            nonlocal failed
            failed += outcome.category == "Failure"
            progress.update(task, advance=1, failed=failed)

        outcomes = run(app.send(ae, scan.files, on_file))
    _report_send(state.stdout, ae.name, outcomes, len(scan.skipped), json_)
    if any(o.category == "Failure" for o in outcomes):
        raise typer.Exit(EXIT_FAILURE)


def _report_send(
    console: Console, ae_name: str, outcomes: list[FileOutcome], skipped: int, json_: bool
) -> None:
    counts = {c: sum(o.category == c for o in outcomes) for c in ("Success", "Warning", "Failure")}
    if json_:
        print_json(console, {
            "ae": ae_name, "sent": counts["Success"], "warnings": counts["Warning"],
            "failed": counts["Failure"], "skipped": skipped,
            "files": [{"path": o.path, "sop_instance_uid": o.sop_instance_uid,
                       "status": o.status, "result": o.category.lower(), "detail": o.detail,
                       "converted_to": o.converted_to or None} for o in outcomes]})
        return
    problems = [o for o in outcomes if o.category != "Success"]
    if problems:
        table = Table("file", "result", "status", "detail")
        for o in problems:
            status = describe_status(o.status) if o.status is not None else "-"
            table.add_row(o.path, o.category, status, o.detail)
        console.print(table)
    console.print(f"{ae_name}: {counts['Success']} stored, {counts['Warning']} with warnings, "
                  f"{counts['Failure']} failed, {skipped} skipped")
