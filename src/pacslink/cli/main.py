"""The ``pacslink`` command line: the root command, its global options and ``run()``.

Global options: ``--home DIR`` (else ``PACSLINK_HOME``, else the platform data
directory) and ``-v/--verbose`` (``-v`` INFO logs, ``-vv`` DEBUG logs and tracebacks),
before or after the command (:class:`~pacslink.cli.common.PacslinkGroup` adds them to
every command, including ones added later), and ``--version``. Each command group lives
in its own module and is registered below in one line: its name, where it lives and its
help, so that a run imports only the module of the command it runs
(:mod:`pacslink.cli.lazy`).

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
from pacslink.cli.common import CliState, PacslinkGroup, report_error
from pacslink.cli.lazy import LazyCommand
from pacslink.errors import PacslinkError

# --- commands and command groups: one line each, in the order --help lists them ------
COMMANDS = (
    LazyCommand("echo", "pacslink.cli.net:echo",
                "C-ECHO remote AEs and show the round-trip time (PS3.7 9.1.5)."),
    LazyCommand("listen", "pacslink.cli.listen:listen",
                "Receive images (C-STORE) and answer C-ECHO until Ctrl+C."),
    LazyCommand("send", "pacslink.cli.net:send",
                "C-STORE DICOM files to a remote AE, with progress and a per-file summary."),
    LazyCommand("find", "pacslink.cli.query:find",
                "Search every configured AE at once (C-FIND) and merge what they hold."),
    LazyCommand("retrieve", "pacslink.cli.query:retrieve",
                "Retrieve into the local store (C-MOVE to ourselves or C-GET) and prove it "
                "is complete."),
    LazyCommand("demo", "pacslink.cli.demo:demo",
                "Run pacslink against an embedded sample PACS: search, retrieve, store; no "
                "setup."),
    LazyCommand("serve", "pacslink.cli.serve:serve",
                "Run the web UI (search, retrieve, view) and receive images, until Ctrl+C."),
    LazyCommand("ae", "pacslink.cli.ae:app",
                "Configure the remote AEs (PACS, modalities) pacslink talks to."),
    LazyCommand("config", "pacslink.cli.config_cmd:app",
                "Show the effective settings and where each value came from."),
    LazyCommand("store", "pacslink.cli.store_cmd:app", "Inspect the local store."),
    LazyCommand("pacs", "pacslink.cli.pacs:app", "A sample PACS: Query/Retrieve SCP over a folder."),
)
# --------------------------------------------------------------------------------------


class RootGroup(PacslinkGroup):
    """The ``pacslink`` command: :data:`COMMANDS` under the global options."""

    lazy_commands = COMMANDS


app = typer.Typer(
    name="pacslink",
    cls=RootGroup,
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



def run() -> None:
    """Entry point of the ``pacslink`` script (``python -m pacslink`` too)."""
    try:
        app()
    except PacslinkError as exc:  # raised outside a command, e.g. while parsing
        sys.exit(report_error(exc, CliState()))


__all__ = ["COMMANDS", "RootGroup", "app", "main", "run"]
