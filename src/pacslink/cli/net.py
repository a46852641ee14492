"""``pacslink echo`` and ``pacslink send``: Verification and Storage SCU from the shell.

``send`` reports files, not noise: files that failed for one shared reason (the
association could not be opened, the connection dropped) are one line, ``26 files not
sent: cannot connect to 127.0.0.1:104: Connection refused``; a file the peer refused gets
its own row with the DIMSE status. Paths and UIDs are never cut (see
:func:`pacslink.cli.common.fits`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from pacslink.api import EchoResult, FileOutcome, Pacslink, describe_status, run, scan_paths
from pacslink.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    fits,
    format_address,
    get_state,
    plural,
    print_error,
    print_json,
)

#: Shorter than the 128-byte preamble plus ``DICM``: cannot be a DICOM Part 10 file.

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
            print_error(state.stderr, "no remote AEs configured; add one: pacslink ae add NAME "
                        "--aet AET --host HOST --port PORT")
            raise typer.Exit(EXIT_USAGE)
    elif targets:
        aes = [app.resolve(t) for t in targets]
    else:
        print_error(state.stderr, "name an AE (pacslink echo PACS1 or AET@host:port) or use --all")
        raise typer.Exit(EXIT_USAGE)

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
            state.stdout.print(echo_line(r))
    if not all(r.ok for r in results):
        raise typer.Exit(EXIT_FAILURE)


def echo_line(result: EchoResult) -> Text:
    """One line per C-ECHO: ``OK   PACS1 (ORTHANC@host:4242): 1.2 ms`` or ``FAIL ...``.

    The address is printed once: an error that already names ``host:port`` (the
    engine's connect and timeout errors do) is shown after the AE's name only.
    """
    address = format_address(result.ae)
    named = result.ae.name != address
    label = f"{result.ae.name} ({address})" if named else address
    if result.ok:
        return Text.assemble(("OK", "green"), f"   {label}: {result.round_trip_ms:.1f} ms")
    if result.status is not None:
        reason = f"C-ECHO answered {describe_status(result.status)}"
    else:
        reason = result.error
        if address.split("@", 1)[1] in reason:
            label = result.ae.name if named else result.ae.ae_title
    return Text.assemble(("FAIL", "red"), f" {label}: {reason}")


def send(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(metavar="AE", help="Configured AE name or AET@host:port.")],
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...", help="Files and folders (recursive).")],
    json_: JsonOption = False,
) -> None:
    """C-STORE DICOM files to a remote AE, with progress and a per-file summary.

    A PATH that does not exist is a usage error (exit 2) and nothing is sent; files
    inside the folders that are not DICOM are listed as skipped.
    """
    state = get_state(ctx)
    missing = [path for path in paths if not path.exists()]
    if missing:
        print_error(state.stderr, "; ".join(f"no such file or folder: {p}" for p in missing))
        raise typer.Exit(EXIT_USAGE)
    app = Pacslink(state.settings())
    ae = app.resolve(target)
    reading = (state.stderr.status("Reading files...") if state.stderr.is_terminal
               else contextlib.nullcontext())  # a spinner nobody sees still costs ~10 ms
    with reading:
        scan = scan_paths(paths)
    for skipped in scan.skipped:
        state.stderr.print(Text.assemble(("skipped", "yellow"), f" {skipped.path}: {skipped.reason}"))
    if not scan.files:
        print_error(state.stderr, "nothing to send: no DICOM Part 10 files found")
        raise typer.Exit(EXIT_FAILURE)

    progress = Progress(
        TextColumn("Sending to " + escape(ae.name)), BarColumn(), MofNCompleteColumn(),
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
    # Files that got no response share their reason (one association failed them all):
    # one line per reason instead of one identical row per file.
    per_reason = Counter(o.detail for o in outcomes
                         if o.category == "Failure" and o.status is None)
    shared = {detail: n for detail, n in per_reason.items() if n > 1}
    problems = [o for o in outcomes
                if o.category != "Success" and not (o.status is None and o.detail in shared)]
    _print_problems(console, problems)
    for detail, n in shared.items():
        console.print(Text(f"{plural(n, 'file')} not sent: {detail}", style="red"))
    console.print(f"{ae_name}: {counts['Success']} stored, {counts['Warning']} with warnings, "
                  f"{counts['Failure']} failed, {skipped} skipped", markup=False)


def _print_problems(console: Console, problems: list[FileOutcome]) -> None:
    """A table of the files that failed or warned; two lines per file if it is too wide."""
    if not problems:
        return
    rows = [(o.path, o.category, describe_status(o.status) if o.status is not None else "-",
             o.detail) for o in problems]
    table = Table("File", "Result", "Status", "Detail")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    if fits(console, table):
        console.print(table)
        return
    for path, category, status, detail in rows:
        reason = ": ".join(part for part in (status if status != "-" else "", detail) if part)
        console.print(Text(path))
        console.print(Text(f"    {category}: {reason}",
                           style="yellow" if category == "Warning" else "red"))
