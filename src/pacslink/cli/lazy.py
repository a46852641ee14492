"""Commands known by name and help text, imported only when they run.

``pacslink send`` should not pay for the web UI, the SQL index and pixel decoding: each
command's module (and what it imports) is loaded when that command is invoked, so a
run imports one command module, not all of them. ``pacslink --help`` lists every
command with the help text registered here, without importing any::

    LazyCommand("echo", "pacslink.cli.net:echo",
                "C-ECHO remote AEs and show the round-trip time (PS3.7 9.1.5).")

The registered text must be the first paragraph of the command's own help (its
docstring, or a group's ``typer.Typer(help=...)``); ``tests/cli`` checks that they match.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    """A command or command group of the root, imported on first use.

    Parameters
    ----------
    name : str
        The command name on the command line (``echo``, ``ae``).
    target : str
        ``module:attribute``: a command function or a :class:`typer.Typer` group.
    help : str
        What ``pacslink --help`` shows for it: the first paragraph of its help.
    """

    name: str
    target: str
    help: str

    def load(self) -> Any:
        """Import the module and build the Click command (a group for a ``typer.Typer``)."""
        module_name, _, attribute = self.target.partition(":")
        obj = getattr(importlib.import_module(module_name), attribute)
        if isinstance(obj, typer.Typer):
            command: Any = typer.main.get_group(obj)
        else:
            holder = typer.Typer(add_completion=False)
            holder.command(self.name)(obj)
            command = typer.main.get_command(holder)
        command.name = self.name
        return command


def first_paragraph(text: str | None) -> str:
    """The paragraph a command list shows of a help text, on one line."""
    paragraphs = inspect.cleandoc(text or "").split("\n\n")
    return " ".join(paragraphs[0].split())


class _Listed(TyperCommand):
    """Stands for a command not imported yet: its name and help, for help listings."""

    def __init__(self, spec: LazyCommand) -> None:
        super().__init__(spec.name, help=spec.help)
        self.spec = spec


class LazyGroup(TyperGroup):
    """A group whose :attr:`lazy_commands` are imported when resolved, not when listed.

    ``list_commands``, "did you mean" suggestions and the help listing see every
    registered name; :meth:`get_command` imports a command's module the first time it
    is asked for outside a help listing. :meth:`command_ready` is called once for every
    real command: at construction for those given directly, on import for lazy ones.
    """

    lazy_commands: ClassVar[Sequence[LazyCommand]] = ()

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False
        for command in self.commands.values():
            self.command_ready(command)
        for spec in self.lazy_commands:
            self.commands.setdefault(spec.name, _Listed(spec))

    def command_ready(self, command: Any) -> None:
        """Hook: ``command`` is built and about to be used (e.g. to add common options)."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = self.commands.get(cmd_name)
        if isinstance(command, _Listed) and not self._listing:
            command = command.spec.load()
            self.command_ready(command)
            self.commands[cmd_name] = command
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The help of the group; its command list uses the registered help texts."""
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


__all__ = ["LazyCommand", "LazyGroup", "first_paragraph"]
