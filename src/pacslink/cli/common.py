"""What every ``pacslink`` command shares: state, consoles, settings, output, errors.

The root callback in :mod:`pacslink.cli.main` stores a :class:`CliState` (``--home``,
``-v``) in the Typer context; a command gets it with :func:`get_state` and asks it for
the settings or the AE registry::

    @app.command()
    def echo(ctx: typer.Context, spec: str) -> None:
        state = get_state(ctx)
        settings = state.settings()
        ...

Errors are not handled in commands: a :class:`~pacslink.errors.PacslinkError` raised
anywhere is caught by :class:`PacslinkGroup` (the root command's class), printed as one
red line ``error: <message>`` on stderr, and turned into the exit code
:data:`EXIT_USAGE` (a :class:`~pacslink.errors.ConfigError`) or :data:`EXIT_FAILURE`.
With ``-vv`` the traceback is printed first.
"""

from __future__ import annotations

import json
import logging
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.text import Text
from typer.core import TyperGroup

from pacslink.config import AERegistry, Settings, load_settings, resolve_home
from pacslink.errors import ConfigError, PacslinkError
from pacslink.models import RemoteAE

#: Exit code of a successful command.
EXIT_OK: Final = 0
#: Exit code when the operation failed (network, store, peer refused ...).
EXIT_FAILURE: Final = 1
#: Exit code for a usage or configuration error (bad option, invalid setting or AE
#: entry, unknown AE name); also what Typer uses for a malformed command line.
EXIT_USAGE: Final = 2

_LOG_HANDLER_NAME: Final = "pacslink-cli"


def stdout_console() -> Console:
    """Return a console for results: no highlighting, lines not wrapped (tables fit the width)."""
    return Console(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    """Return a console for errors and logs: stderr, never wrapped, so one message is one line."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class CliState:
    """What the root options decided, kept in the Typer context for the commands.

    Parameters
    ----------
    home : Path or None
        The ``--home`` option; ``None`` falls back to ``PACSLINK_HOME``, then the
        platform data directory.
    verbosity : int
        How many ``-v`` were given: 1 logs INFO, 2 logs DEBUG and shows tracebacks.
    stdout, stderr : Console
        Rich consoles for results and for errors/logs.
    """

    home: Path | None = None
    verbosity: int = 0
    stdout: Console = field(default_factory=stdout_console)
    stderr: Console = field(default_factory=stderr_console)

    @property
    def log_level(self) -> str | None:
        """The log level ``-v`` asks for, or ``None`` when not given."""
        if self.verbosity <= 0:
            return None
        return "INFO" if self.verbosity == 1 else "DEBUG"

    def settings(self, **flags: object) -> Settings:
        """Load the effective settings, with ``flags`` (``None`` values ignored) on top.

        Also points the ``pacslink`` logger at stderr at the effective log level.

        Parameters
        ----------
        **flags
            Command options by setting name, e.g. ``port=4242, ae_title=None``.
        """
        settings = load_settings(self.home, {"log_level": self.log_level, **flags})
        configure_logging(settings.log_level, self.stderr)
        return settings

    def registry(self) -> AERegistry:
        """Return the remote-AE registry of the home (``[settings]`` is not needed)."""
        home, _ = resolve_home(self.home)
        return AERegistry.for_home(home)


def get_state(ctx: typer.Context) -> CliState:
    """Return the :class:`CliState` of this invocation (a default one if none was set)."""
    state = ctx.find_object(CliState)
    if state is None:
        state = CliState()
        ctx.obj = state
    return state


def configure_logging(level: str, console: Console) -> None:
    """Send the ``pacslink`` loggers to ``console`` at ``level`` (replacing our handler)."""
    logger = logging.getLogger("pacslink")
    for handler in list(logger.handlers):
        if handler.get_name() == _LOG_HANDLER_NAME:
            logger.removeHandler(handler)
    handler = RichHandler(console=console, show_path=False, markup=False)
    handler.set_name(_LOG_HANDLER_NAME)
    logger.addHandler(handler)
    logger.setLevel(level)


def print_json(console: Console, data: Any) -> None:
    """Print ``data`` as indented JSON, unstyled and unwrapped, for scripts to parse."""
    console.out(json.dumps(data, indent=2, ensure_ascii=False), highlight=False)


def print_error(console: Console, message: str) -> None:
    """Print ``error: <message>`` in red as one line (the message is not markup)."""
    console.print(Text.assemble(("error: ", "bold red"), (message, "red")))


def format_address(ae: RemoteAE) -> str:
    """``AET@host:port``, with an IPv6 host in brackets: ``AET@[::1]:104``."""
    host = f"[{ae.host}]" if ":" in ae.host else ae.host
    return f"{ae.ae_title}@{host}:{ae.port}"


def ae_as_json(ae: RemoteAE) -> dict[str, Any]:
    """The JSON object of one remote AE, as ``pacslink ae list --json`` prints it."""
    return {
        "name": ae.name,
        "ae_title": ae.ae_title,
        "host": ae.host,
        "port": ae.port,
        "retrieve": ae.retrieve.value,
        "description": ae.description,
        "address": format_address(ae),
    }


def report_error(exc: PacslinkError, state: CliState) -> int:
    """Print ``exc`` for people and return its exit code (traceback first with ``-vv``)."""
    if state.verbosity >= 2:
        state.stderr.print(Text("".join(traceback.format_exception(exc)).rstrip()))
    print_error(state.stderr, str(exc))
    return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILURE


class PacslinkGroup(TyperGroup):
    """The root command: runs the command and translates pacslink errors at the boundary."""

    def invoke(self, ctx: Any) -> Any:
        """Invoke the command; a :class:`PacslinkError` becomes one line and an exit code."""
        try:
            return super().invoke(ctx)
        except PacslinkError as exc:
            state = ctx.find_object(CliState) or CliState()
            raise typer.Exit(report_error(exc, state)) from exc


__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliState",
    "PacslinkGroup",
    "ae_as_json",
    "configure_logging",
    "format_address",
    "get_state",
    "print_error",
    "print_json",
    "report_error",
    "stderr_console",
    "stdout_console",
]
