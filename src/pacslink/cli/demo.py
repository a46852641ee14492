"""``pacslink demo``: the whole receive-and-store job on this machine, nothing external.

Generates sample CT studies (once), starts pacslink's Storage SCP, registers it as the
remote AE ``SELF``, C-ECHOes it, sends the samples to it and shows the local store with
the Study Instance UIDs. Run again, it says the images are already in the store (the
duplicates policy keeps the stored copies).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.text import Text

from pacslink.api import FileOutcome, Pacslink, scan_paths
from pacslink.cli.common import EXIT_FAILURE, CliState, get_state, plural
from pacslink.cli.store_cmd import print_studies
from pacslink.models import DuplicatePolicy
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


def _program() -> str:
    """How to run pacslink again: ``pacslink``, or the path it was started by when
    ``pacslink`` is not on ``PATH`` (``make demo`` runs ``.venv/bin/pacslink``)."""
    argv0 = sys.argv[0]
    if Path(argv0).name == "pacslink" and shutil.which("pacslink") is None:
        return argv0
    return "pacslink"


def _instance_count(app: Pacslink) -> int:
    return sum(s.instance_count for s in app.list_studies())


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
    print_studies(state.stdout, studies)
    # What a modality would talk to: the home's own settings, not the demo's free port.
    listen_settings = Pacslink.from_home(home).settings
    prog = _program()
    example_uid = studies[0].study_instance_uid if studies else "STUDY_UID"
    state.stdout.print(Text(
        f"\nNext:\n"
        f"  {prog} --home {home} listen --bind 0.0.0.0\n"
        f"      receives from modalities: port {listen_settings.port}, AE title "
        f"{listen_settings.ae_title} (0.0.0.0 lets other machines in)\n"
        f"  {prog} --home {home} store show {example_uid}\n"
        f"      lists a study's series, instances and files\n"
        f"  make test\n"
        f"      runs the test suite"))
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
        before = await asyncio.to_thread(_instance_count, app)
        progress = Progress(TextColumn("3. pacslink send SELF samples/"), BarColumn(),
                            MofNCompleteColumn(), console=state.stderr)
        with progress:
            task = progress.add_task("send", total=len(files))

            def advance(_: FileOutcome) -> None:
                progress.advance(task)

            outcomes = await app.send("SELF", files, advance)
        ok = sum(o.category == "Success" for o in outcomes)
        # A C-STORE of an instance already stored also answers success; the store's
        # instance count tells new ones from duplicates.
        new = min(ok, max(0, await asyncio.to_thread(_instance_count, app) - before))
        kept = ("duplicates kept" if app.settings.duplicates == DuplicatePolicy.KEEP
                else "duplicates replaced")
        if new == ok:
            state.stdout.print(f"   {new} of {len(files)} images stored durably and indexed")
        elif new == 0:
            state.stdout.print(f"   {plural(ok, 'image')} already in the store ({kept})")
        else:
            state.stdout.print(f"   {new} of {len(files)} images stored durably and indexed, "
                               f"{ok - new} already in the store ({kept})")
        if ok < len(files):
            state.stdout.print(f"   {len(files) - ok} of {len(files)} images not stored")
    finally:
        await server.close()
