"""``pacslink listen``: the Storage + Verification SCP in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Annotated

import typer

from pacslink.api import Pacslink, StoredEvent, describe_status
from pacslink.cli.common import get_state


def listen(
    ctx: typer.Context,
    aet: Annotated[str | None, typer.Option("--aet", help="Our AE title. [default: setting ae_title]")] = None,
    port: Annotated[int | None, typer.Option("--port", help="TCP port. [default: setting port]")] = None,
    bind: Annotated[str | None, typer.Option("--bind", help="Address to bind. [default: setting bind]")] = None,
    max_associations: Annotated[
        int | None, typer.Option("--max-associations", help="Simultaneous associations.")
    ] = None,
) -> None:
    """Receive images (C-STORE) and answer C-ECHO until Ctrl+C.

    Each instance is answered only once it is on disk and in the index.
    """
    state = get_state(ctx)
    settings = state.settings(ae_title=aet, port=port, bind=bind, max_associations=max_associations)
    app = Pacslink(settings)
    counts = {"stored": 0, "failed": 0}

    def on_stored(event: StoredEvent) -> None:
        if event.status == 0:
            counts["stored"] += 1
            state.stdout.print(f"stored {event.sop_instance_uid} from {event.calling_ae or event.peer_host}")
        else:
            counts["failed"] += 1
            state.stdout.print(f"[red]refused[/] {event.sop_instance_uid} from {event.calling_ae}: "
                               f"{describe_status(event.status)} {event.detail}")

    async def serve() -> None:
        server = await app.start_listener(on_stored)
        state.stderr.print(
            f"Listening as [bold]{settings.ae_title}[/] on {settings.bind}:{server.port}, "
            f"storing into {settings.store_dir}. Press Ctrl+C to stop.")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await server.close()

    asyncio.run(serve())
    app.close()
    state.stderr.print(f"Stopped: {counts['stored']} instances stored, {counts['failed']} refused.")
