"""The ``pacslink`` command line: the root command, its global options and ``run()``.

Global options: ``--home DIR`` (else ``PACSLINK_HOME``, else the platform data
directory) and ``-v/--verbose`` (``-v`` INFO logs, ``-vv`` DEBUG logs and tracebacks),
before or after the command (:class:`~pacslink.cli.common.PacslinkGroup` adds them to
every command, including ones added later), and ``--version``. Each command group lives
in its own module and is added below in one line.

Exit codes
----------
0
    Success.
1
    The operation failed: network, store, a peer refused (``PacslinkError``).
2
    Usage or configuration error: a bad option, an invalid setting or AE entry, an
    unknown AE name (``ConfigError``, and Typer's own usage errors).

Expected errors print one red line ``error: <message>`` on stderr, never a traceback
(unless ``-vv``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from pacslink import __version__
from pacslink.cli import ae, config_cmd, demo, listen, net, pacs, query, serve, store_cmd
from pacslink.cli.common import CliState, PacslinkGroup, report_error
from pacslink.errors import PacslinkError

app = typer.Typer(
    name="pacslink",
    cls=PacslinkGroup,
    help="A DICOM client: remote AEs, C-ECHO, Storage SCP and SCU, a local store.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold patient data
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"pacslink {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            metavar="DIR",
            help="pacslink home: settings, AEs, index, store. Default: $PACSLINK_HOME, else "
            "the platform data directory.",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose", "-v", count=True, help="More output: -v INFO, -vv DEBUG and tracebacks."
        ),
    ] = 0,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """pacslink: a DICOM client for clinics."""
    ctx.obj = CliState(home=home, verbosity=verbose)


# --- command groups and commands: one line each --------------------------------------
app.add_typer(ae.app, name="ae")
app.add_typer(config_cmd.app, name="config")
app.command("echo")(net.echo)
app.command("listen")(listen.listen)
app.command("send")(net.send)
app.command("find")(query.find)
app.command("retrieve")(query.retrieve)
app.add_typer(store_cmd.app, name="store")
app.command("demo")(demo.demo)
app.add_typer(pacs.app, name="pacs")
app.command("serve")(serve.serve)
# --------------------------------------------------------------------------------------


def run() -> None:
    """Entry point of the ``pacslink`` script (``python -m pacslink`` too)."""
    try:
        app()
    except PacslinkError as exc:  # raised outside a command, e.g. while parsing
        sys.exit(report_error(exc, CliState()))


__all__ = ["app", "main", "run"]
