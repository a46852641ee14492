"""``pacslink pacs serve DIR``: a Query/Retrieve SCP over any folder of DICOM files.

Like ``pacslink listen`` it answers only calling AE titles it knows (its
``--destination`` AEs, kept in ``DIR/.pacslink/pacslink.toml``), C-ECHO from anyone, and
prints each rejected association as a ``warning:`` line on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from pacslink.aetitle import parse_ae_address, validate_port
from pacslink.api import Pacslink, Quirks, run
from pacslink.cli.common import (
    configure_logging,
    get_state,
    stop_requested,
    validated,
    wait_until_stopped,
)
from pacslink.models import RemoteAE

app = typer.Typer(help="A sample PACS: Query/Retrieve SCP over a folder.", no_args_is_help=True)
QUIRKS = "Misbehaviour for tests"


def pacs_home(folder: Path) -> Path:
    """Where ``pacs serve`` keeps its store, index and AE table: ``DIR/.pacslink``."""
    return folder / ".pacslink"


def import_folder(pacs: Pacslink, folder: Path, console_progress: Progress) -> dict[str, int]:
    files = [p for p in folder.rglob("*") if p.is_file() and pacs_home(folder) not in p.parents]
    task = console_progress.add_task("Indexing", total=len(files))
    return pacs.import_paths(files, lambda _path, _what: console_progress.advance(task))


@app.command()
def serve(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="Folder of DICOM files (recursive).",
                                           exists=True, file_okay=False)],
    aet: Annotated[str, typer.Option("--aet", help="AE title of the PACS.")] = "SAMPLEPACS",
    port: Annotated[str, typer.Option("--port", help="TCP port.")] = "11113",
    bind: Annotated[str, typer.Option("--bind", help="Address to listen on.")] = "127.0.0.1",
    destination: Annotated[list[str] | None, typer.Option(
        "--destination", metavar="AET@HOST:PORT",
        help="A C-MOVE destination (repeatable); kept in DIR/.pacslink/pacslink.toml. "
             "Destinations are also the AEs allowed to query and store.")] = None,
    accept_unknown_callers: Annotated[bool, typer.Option(
        "--accept-unknown-callers",
        help="Answer any calling AE title, not only the configured ones. "
             "[default: setting accept_unknown_callers]")] = False,
    slow: Annotated[float, typer.Option("--slow", help="Seconds before each C-FIND match.",
                                        rich_help_panel=QUIRKS)] = 0.0,
    success_all_failed: Annotated[bool, typer.Option(
        "--success-all-failed", help="C-MOVE/C-GET: answer Success, every sub-operation failed.",
        rich_help_panel=QUIRKS)] = False,
    no_final: Annotated[bool, typer.Option("--no-final", help="Never send the final response.",
                                           rich_help_panel=QUIRKS)] = False,
    abort_on_cancel: Annotated[bool, typer.Option("--abort-on-cancel", help="A-ABORT on C-CANCEL.",
                                                  rich_help_panel=QUIRKS)] = False,
    no_date_ranges: Annotated[bool, typer.Option(
        "--no-date-ranges", help="Date ranges and wildcards match nothing.",
        rich_help_panel=QUIRKS)] = False,
    unsolicited: Annotated[int, typer.Option(
        "--unsolicited", help="C-MOVE also sends N instances nobody asked for.",
        rich_help_panel=QUIRKS)] = 0,
    tls: Annotated[bool, typer.Option(
        "--tls", help="DICOM TLS only on this port (TLS 1.2+), with the tls_* settings.")] = False,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="Our PEM certificate.")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="Its PEM private key.")] = None,
    tls_ca: Annotated[Path | None, typer.Option(
        "--tls-ca", help="PEM CA certificates for client certificates.")] = None,
) -> None:
    """Index DIR and answer C-ECHO, C-STORE, C-FIND, C-MOVE and C-GET until Ctrl+C.

    Patient Root and Study Root; matching per PS3.4 C.2.2.2 (single value, universal,
    wildcards, date/time ranges, UID lists, case-insensitive names).
    """
    state = get_state(ctx)
    number = validated("--port", validate_port, port)
    pacs = Pacslink.from_home(pacs_home(folder), flags={
        "ae_title": aet, "port": number, "bind": bind, "min_free_mb": 1,
        "log_level": state.log_level, "accept_unknown_callers": accept_unknown_callers or None,
        "tls_cert": tls_cert, "tls_key": tls_key, "tls_ca": tls_ca})
    configure_logging(pacs.settings.log_level, state.stderr)
    for spec in destination or []:
        title, host, dport = validated("--destination", parse_ae_address, spec)
        existing = {ae.ae_title: ae for ae in pacs.remote_aes()}
        if title in existing:
            pacs.registry.edit(existing[title].name, host=host, port=dport)
        else:
            pacs.registry.add(RemoteAE(title, title, host, dport, "C-MOVE destination"))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=state.stderr, disable=not state.stderr.is_terminal) as progress:
        counts = import_folder(pacs, folder, progress)
    state.stderr.print(f"Indexed {folder}: {counts['stored']} new, {counts['duplicate']} already "
                       f"known, {counts['failed']} unreadable.")
    quirks = Quirks(delay=slow, success_all_failed=success_all_failed, no_final=no_final,
                    abort_on_cancel=abort_on_cancel, no_date_ranges=no_date_ranges,
                    unsolicited=unsolicited)

    async def run_server() -> None:
        stop = stop_requested()
        server = await pacs.start_pacs(quirks, tls=tls)
        targets = ", ".join(ae.address for ae in pacs.remote_aes()) or "none (add --destination)"
        secure = " with DICOM TLS" if tls else ""
        state.stderr.print(f"Sample PACS {aet} on {bind}:{server.port}{secure}; C-MOVE "
                           f"destinations: {targets}. Press Ctrl+C to stop.")
        try:
            await wait_until_stopped(stop)
        finally:
            await server.close()

    run(run_server())
    pacs.close()
