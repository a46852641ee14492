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

``--home`` and ``-v`` are accepted before the command (root options) and after it:
:class:`PacslinkGroup` adds them to every command (:func:`add_global_options`), so
``pacslink ae list --home DIR`` and ``pacslink echo PACS1 -v`` work. Given in both
places, the later ``--home`` wins and the ``-v`` counts add up.

Tables of UIDs and file paths are printed whole or not at all: :func:`fits` says whether
a table fits the console's width; when it does not, commands print the same rows as
short blocks of lines instead of letting Rich cut cells with "…".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from pacslink.cli.lazy import LazyGroup
from pacslink.config import AERegistry, Settings, load_settings, resolve_home
from pacslink.errors import ConfigError, PacslinkError
from pacslink.models import RemoteAE

_T = TypeVar("_T")

#: Exit code of a successful command.
EXIT_OK: Final = 0
#: Exit code when the operation failed (network, store, peer refused ...).
EXIT_FAILURE: Final = 1
#: Exit code for a usage or configuration error (bad option, invalid setting or AE
#: entry, unknown AE name); also what Typer uses for a malformed command line.
EXIT_USAGE: Final = 2

_LOG_HANDLER_NAME: Final = "pacslink-cli"

#: The help panel of ``--home`` and ``-v`` on each command.
GLOBAL_OPTIONS_PANEL: Final = "Global options"


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


class LineHandler(logging.Handler):
    """Print each log record as one line, ``warning: <message>``, on a Rich console.

    Never wrapped (the console is created with ``soft_wrap``), never markup, so a
    record is exactly one line a person can read or grep; a traceback follows on the
    next lines only when the record carries one (``log.exception``).
    """

    _STYLES: Final = {"DEBUG": "dim", "INFO": "cyan", "WARNING": "yellow", "ERROR": "red",
                      "CRITICAL": "bold red"}

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        """Print ``record``; a failure to print is reported by :mod:`logging`, not raised."""
        try:
            style = self._STYLES.get(record.levelname, "")
            self.console.print(Text.assemble((f"{record.levelname.lower()}: ", style),
                                             record.getMessage()))
            if record.exc_info:
                self.console.print(Text("".join(traceback.format_exception(*record.exc_info))
                                        .rstrip()))
        except Exception:
            self.handleError(record)


def configure_logging(level: str, console: Console) -> None:
    """Send the ``pacslink`` loggers to ``console`` at ``level`` (replacing our handler).

    With the default level (``WARNING``) what a person should notice is shown, e.g. an
    association ``pacslink listen`` rejected; ``-v`` adds INFO, ``-vv`` DEBUG.
    """
    logger = logging.getLogger("pacslink")
    for handler in list(logger.handlers):
        if handler.get_name() == _LOG_HANDLER_NAME:
            logger.removeHandler(handler)
    handler = LineHandler(console)
    handler.set_name(_LOG_HANDLER_NAME)
    logger.addHandler(handler)
    logger.setLevel(level)


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 instance``, ``2 instances``: a count with the right form of the noun."""
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


def fits(console: Console, table: Table) -> bool:
    """Whether ``table`` fits ``console`` without shrinking (and so cutting) any cell."""
    natural = Measurement.get(console, console.options.update_width(1_000_000), table)
    return natural.maximum <= console.width


def validated(flag: str, check: Callable[[str], _T], value: str) -> _T:
    """Validate an option's value, naming the option in the error: ``--port: ...``."""
    try:
        return check(value)
    except ConfigError as exc:
        raise type(exc)(f"{flag}: {exc}") from exc


def print_json(console: Console, data: Any) -> None:
    """Print ``data`` as JSON, unstyled and unwrapped, for scripts to parse.

    Indented, except that a record in an array (an object holding only scalars: one
    C-FIND match, one AE, one setting) takes one line, as does an array of scalars:
    5,000 matches read as 5,000 lines, ``grep`` finds a patient's, and each line is
    encoded by :mod:`json`'s C encoder (with ``indent`` it falls back to Python, ~5x
    slower on such documents). Written straight to the console's file: Rich would split
    megabytes of JSON into styled lines.
    """
    console.file.write(json_text(data) + "\n")
    console.file.flush()


def json_text(data: Any, indent: str = "", *, in_array: bool = False) -> str:
    """``data`` as JSON laid out as :func:`print_json` describes."""
    inner = indent + "  "
    if isinstance(data, dict) and data and not (in_array and _flat(data.values())):
        items = (f"{inner}{json.dumps(str(k), ensure_ascii=False)}: {json_text(v, inner)}"
                 for k, v in data.items())
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(data, list | tuple) and data and not _flat(data):
        return "[\n" + ",\n".join(inner + json_text(v, inner, in_array=True)
                                    for v in data) + f"\n{indent}]"
    return json.dumps(data, ensure_ascii=False)


def _flat(values: Iterable[Any]) -> bool:
    """Whether no value is a non-empty object, or an array of anything but scalars."""
    for value in values:
        if isinstance(value, dict) and value:
            return False
        if isinstance(value, list | tuple) and any(isinstance(v, dict | list | tuple) for v in value):
            return False
    return True


#: C0 control characters and DEL, which a value from a peer may hold: a plain line
#: shows them as spaces, so it stays one line and cannot drive the terminal.
_ONE_LINE: Final = str.maketrans(dict.fromkeys([*range(0x20), 0x7F], " "))


def print_plain(console: Console, line: str) -> None:
    """Print one line of text as it is: no markup, emoji codes, highlighting or
    wrapping, and without Rich's rendering (a C-FIND match per line, thousands of them).
    Control characters become spaces."""
    console.file.write(line.translate(_ONE_LINE) + "\n")


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
        "tls": ae.tls,
    }


def report_error(exc: PacslinkError, state: CliState) -> int:
    """Print ``exc`` for people and return its exit code (traceback first with ``-vv``)."""
    if state.verbosity >= 2:
        state.stderr.print(Text("".join(traceback.format_exception(exc)).rstrip()))
    print_error(state.stderr, str(exc))
    return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILURE


def _set_home(ctx: typer.Context, value: Path | None) -> None:
    if value is not None:
        get_state(ctx).home = value


def _add_verbosity(ctx: typer.Context, value: int) -> None:
    get_state(ctx).verbosity += value or 0


def _global_options(
    home: Annotated[
        Path | None,
        typer.Option("--home", metavar="DIR", callback=_set_home, expose_value=False,
                     show_default=False, rich_help_panel=GLOBAL_OPTIONS_PANEL,
                     help="pacslink home (also accepted before the command)."),
    ] = None,
    verbose: Annotated[
        int,
        typer.Option("--verbose", "-v", count=True, callback=_add_verbosity,
                     expose_value=False, show_default=False, rich_help_panel=GLOBAL_OPTIONS_PANEL,
                     help="More output: -v INFO, -vv DEBUG and tracebacks."),
    ] = 0,
) -> None:
    """Template whose options :func:`add_global_options` copies onto every command."""


def global_option_params() -> list[Any]:
    """Fresh ``--home`` and ``-v`` parameters, built by Typer from :func:`_global_options`.

    They are not passed to the command function (``expose_value=False``): their
    callbacks update the :class:`CliState` the root callback created.
    """
    template = typer.Typer(add_completion=False)
    template.command()(_global_options)
    return list(typer.main.get_command(template).params)


def add_global_options(command: Any) -> None:
    """Give ``command`` (and, for a group, each command below it) ``--home`` and ``-v``.

    An option name a command already uses is left to the command.
    """
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            add_global_options(sub)
        return
    taken = {opt for param in command.params for opt in param.opts + param.secondary_opts}
    for param in global_option_params():
        if not taken.intersection(param.opts):
            command.params.append(param)


class PacslinkGroup(LazyGroup):
    """The root command: imports each command when it runs (:class:`LazyGroup`), adds
    the global options to every command and translates pacslink errors at the boundary."""

    def command_ready(self, command: Any) -> None:
        add_global_options(command)

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
    "GLOBAL_OPTIONS_PANEL",
    "CliState",
    "LineHandler",
    "PacslinkGroup",
    "add_global_options",
    "ae_as_json",
    "configure_logging",
    "fits",
    "format_address",
    "get_state",
    "global_option_params",
    "plural",
    "print_error",
    "print_json",
    "print_plain",
    "report_error",
    "stderr_console",
    "stdout_console",
    "validated",
]


def stop_requested() -> asyncio.Event:
    """An event set by Ctrl+C or SIGTERM, for the running loop.

    Call it before opening a port: a SIGTERM that arrives as soon as the port answers
    then still ends the server cleanly (exit 0) instead of killing it.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def wait_until_stopped(stop: asyncio.Event | None = None) -> None:
    """Wait for Ctrl+C or SIGTERM (the foreground servers: listen, pacs serve, demo).

    Parameters
    ----------
    stop : asyncio.Event, optional
        From :func:`stop_requested`, called before the server started.
    """
    await (stop or stop_requested()).wait()


def sigterm_as_sigint(signum: int, frame: object) -> None:
    """SIGTERM (a service manager stopping us) ends like Ctrl+C: cleanly, exit code 0.

    Raised as SIGINT, so asyncio.run cancels the main task and shuts down its worker
    threads as for Ctrl+C (a KeyboardInterrupt raised here would skip that). Install it
    around an asyncio.run that serves the web UI: uvicorn re-raises SIGTERM once stopped.
    """
    signal.raise_signal(signal.SIGINT)
