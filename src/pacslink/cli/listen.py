"""``pacslink listen``: the Storage + Verification SCP in the foreground.

It prints one line per received instance (``stored UID from AET``) and one per refusal
(``refused UID from AET: 0xA700 Out of resources: ...``) on stdout; warnings such as a
rejected association (``warning: rejected association from AET@host:port: ...``) and
the start and stop lines go to stderr.

With ``--tls`` the port speaks DICOM TLS only (PS3.15 B.1, TLS 1.2 or later) with the
``tls_cert``, ``tls_key`` and ``tls_ca`` settings (or ``--tls-cert``, ``--tls-key``,
``--tls-ca``); clients must present a certificate signed by ``tls_ca`` unless
``tls_require_client_cert`` is false. A failed handshake is logged on stderr as
``warning: TLS handshake with HOST:PORT failed: REASON``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from pacslink.aetitle import validate_port
from pacslink.api import Pacslink, StoredEvent, describe_status, run
from pacslink.cli.common import (
    get_state,
    plural,
    stop_requested,
    validated,
    wait_until_stopped,
)


def _printable(text: str) -> str:
    """``text`` with anything but printable characters (escape codes...) replaced."""
    return text if text.isprintable() else "".join(c if c.isprintable() else "?" for c in text)


def listen(
    ctx: typer.Context,
    aet: Annotated[str | None, typer.Option("--aet", help="Our AE title. [default: setting ae_title]")] = None,
    port: Annotated[
        str | None,
        typer.Option("--port", metavar="PORT", help="TCP port, 1-65535. [default: setting port]"),
    ] = None,
    bind: Annotated[str | None, typer.Option("--bind", help="Address to bind. [default: setting bind]")] = None,
    max_associations: Annotated[
        int | None, typer.Option("--max-associations", help="Simultaneous associations.")
    ] = None,
    tls: Annotated[bool, typer.Option(
        "--tls", help="DICOM TLS only on this port (TLS 1.2+), with the tls_* settings.")] = False,
    tls_cert: Annotated[Path | None, typer.Option(
        "--tls-cert", help="Our PEM certificate. [default: setting tls_cert]")] = None,
    tls_key: Annotated[Path | None, typer.Option(
        "--tls-key", help="Its PEM private key. [default: setting tls_key]")] = None,
    tls_ca: Annotated[Path | None, typer.Option(
        "--tls-ca", help="PEM CA certificates for client certificates. [default: setting tls_ca]",
    )] = None,
    sync: Annotated[
        str | None,
        typer.Option("--sync", metavar="MODE", help=(
            "durable: fsync file, directory and index before each success; never: no "
            "fsync, for throwaway/benchmark receivers only (an instance acknowledged "
            "just before a power loss may be lost). [default: setting sync]")),
    ] = None,
) -> None:
    """Receive images (C-STORE) and answer C-ECHO until Ctrl+C.

    Each instance is answered only once it is on disk and in the index, fsynced unless
    --sync never. Only configured remote AEs may store; others may C-ECHO.
    """
    state = get_state(ctx)
    port_number = None if port is None else validated("--port", validate_port, port)
    settings = state.settings(ae_title=aet, port=port_number, bind=bind,
                              max_associations=max_associations, tls_cert=tls_cert,
                              tls_key=tls_key, tls_ca=tls_ca, sync=sync)
    app = Pacslink(settings)
    counts = {"stored": 0, "failed": 0}

    out = state.stdout.file

    def on_stored(event: StoredEvent) -> None:
        sender = event.calling_ae or event.peer_host
        if event.status == 0:
            counts["stored"] += 1
            # plain text, no rich rendering: one line per instance, hundreds a second
            out.write(_printable(f"stored {event.sop_instance_uid} from {sender}") + "\n")
        else:
            counts["failed"] += 1
            reason = describe_status(event.status) + (f": {event.detail}" if event.detail else "")
            state.stdout.print(Text.assemble(
                ("refused", "red"), f" {event.sop_instance_uid} from {sender}: {reason}"))

    async def serve() -> None:
        stop = stop_requested()
        server = await app.start_listener(on_stored, tls=tls)
        secure = " with DICOM TLS" if tls else ""
        state.stderr.print(
            f"Listening as [bold]{settings.ae_title}[/] on {settings.bind}:{server.port}{secure}, "
            f"storing into {settings.store_dir}. Press Ctrl+C to stop.")
        try:
            await wait_until_stopped(stop)
        finally:
            await server.close()

    run(serve())
    app.close()
    state.stderr.print(f"Stopped: {plural(counts['stored'], 'instance')} stored, "
                       f"{counts['failed']} refused.", markup=False)
