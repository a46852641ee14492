"""``pacslink demo``: the whole receive-and-store job on this machine, nothing external.

Generates sample CT studies (once), starts pacslink's Storage SCP, registers it as the
remote AE ``SELF``, C-ECHOes it, sends the samples to it and shows the local store.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from pacslink.api import FileOutcome, Pacslink, scan_paths
from pacslink.cli.common import EXIT_FAILURE, CliState, get_state
from pacslink.models import RemoteAE
from pacslink.samples import ct_phantom_series, write_series

_PATIENTS = (("VET001", "Rex^Demo", "CT HEAD PHANTOM"), ("VET002", "Bella^Demo", "CT SKULL"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _samples(folder: Path) -> Path:
    if not any(folder.rglob("*.dcm")):
        for patient_id, name, description in _PATIENTS:
            write_series(folder / patient_id, ct_phantom_series(
                patient_id=patient_id, patient_name=name, study_description=description))
    return folder


def demo(
    ctx: typer.Context,
    pacs_port: Annotated[int | None, typer.Option("--pacs-port", help="Port of the demo SCP. [default: a free one]")] = None,
) -> None:
    """Run the receive-and-store walkthrough on sample data (no PACS needed)."""
    state = get_state(ctx)
    settings = state.settings()
    home = settings.home / "demo"
    port = pacs_port or _free_port()
    app = Pacslink.from_home(home, flags={"port": port, "min_free_mb": 1})
    state.stderr.print(f"Demo home: {home}")
    with state.stderr.status("Generating sample CT studies..."):
        samples = _samples(home / "samples")
    if "SELF" not in {ae.name for ae in app.remote_aes()}:
        app.registry.add(RemoteAE("SELF", app.settings.ae_title, "127.0.0.1", port,
                                  "pacslink's own Storage SCP (demo)"))
    else:
        app.registry.edit("SELF", port=port)
    asyncio.run(_walkthrough(app, state, samples))
    studies = app.list_studies()
    state.stdout.print("\n[bold]pacslink store list[/] now shows:")
    for s in studies:
        state.stdout.print(f"  {s.patient_id}  {s.patient_name:<12} {s.study_date}  "
                           f"{s.study_description:<16} {s.instance_count} images")
    state.stdout.print(
        f"\nNext: [bold]pacslink --home {home} listen --port {port}[/] to receive from a "
        f"modality (AE title {app.settings.ae_title}), [bold]pacslink --home {home} store show "
        f"STUDY_UID[/] for the files, and [bold]make test[/] for the test suite.")
    if not studies:
        raise typer.Exit(EXIT_FAILURE)


async def _walkthrough(app: Pacslink, state: CliState, samples: Path) -> None:
    server = await app.start_listener()
    try:
        state.stdout.print(f"1. Storage SCP listening as {app.settings.ae_title} on "
                           f"127.0.0.1:{server.port}")
        echo = await app.echo("SELF")
        state.stdout.print(f"2. pacslink echo SELF: {'OK' if echo.ok else 'FAILED ' + echo.error}"
                           + (f", {echo.round_trip_ms:.1f} ms" if echo.ok else ""))
        files = scan_paths([samples]).files
        progress = Progress(TextColumn("3. pacslink send SELF samples/"), BarColumn(),
                            MofNCompleteColumn(), console=state.stderr)
        with progress:
            task = progress.add_task("send", total=len(files))

            def advance(_: FileOutcome) -> None:
                progress.advance(task)

            outcomes = await app.send("SELF", files, advance)
        ok = sum(o.category == "Success" for o in outcomes)
        state.stdout.print(f"   {ok} of {len(files)} images stored durably and indexed")
    finally:
        await server.close()
