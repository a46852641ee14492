"""``pacslink serve``: the web UI and the Storage/Verification SCP in one process.

One asyncio loop runs uvicorn (the web UI) and pacslink's DICOM receiver, so retrieves
started in the browser are received by the same process. The web UI binds to loopback
unless ``--bind`` says otherwise: it has no login, so only people on this computer
should reach it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Annotated

import typer
from rich.text import Text

from pacslink.api import Pacslink, run
from pacslink.cli.common import get_state, sigterm_as_sigint, validated
from pacslink.config import validate_port

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def serve(
    ctx: typer.Context,
    port: Annotated[str, typer.Option(
        "--port", metavar="PORT", help="TCP port of the web UI (not the DICOM port).")] = "8080",
    bind: Annotated[str, typer.Option(
        "--bind", help="Address the web UI binds to; 0.0.0.0 lets other computers in "
        "(no login!).")] = "127.0.0.1",
) -> None:
    """Run the web UI (search, retrieve, view) and receive images, until Ctrl+C."""
    from pacslink.web.app import run_web, url_of  # FastAPI is imported only when serving

    state = get_state(ctx)
    web_port = validated("--port", validate_port, port)
    app = Pacslink(state.settings())
    s = app.settings

    async def main() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(run_web(app, bind, web_port, ready=ready))
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if ready.is_set():
            receiving = (f"receiving as {s.ae_title} on DICOM port {s.port}" if app.listening
                         else "NOT receiving images (see the error above)")
            state.stderr.print(Text(f"pacslink web UI at {url_of(bind, web_port)} — {receiving}. "
                                    "Press Ctrl+C to stop."))
            if bind not in _LOOPBACK:
                state.stderr.print(Text(f"warning: the web UI is reachable from other computers "
                                        f"through {bind}; it has no login, so anyone who reaches "
                                        "it sees patient data.", style="yellow"))
        waiter.cancel()
        await task

    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, sigterm_as_sigint)  # uvicorn re-raises it once it has stopped
    try:
        run(main())
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        with contextlib.suppress(Exception):
            app.close()
    state.stderr.print("Stopped.")




__all__ = ["serve"]
