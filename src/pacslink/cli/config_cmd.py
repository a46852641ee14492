"""``pacslink config``: the effective settings and where each value came from.

Precedence, lowest first: built-in default, ``[settings]`` in ``<home>/pacslink.toml``,
environment variable ``PACSLINK_<NAME>``, command-line flag (see :mod:`pacslink.config`)::

    pacslink config show [--json]
    pacslink config path
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from pacslink.cli.common import get_state, print_json
from pacslink.config import SETTINGS, Settings

app = typer.Typer(
    name="config",
    help="Show the effective settings and where each value came from.",
    no_args_is_help=True,
)


def settings_rows(settings: Settings) -> list[dict[str, Any]]:
    """One JSON-ready object per setting: name, value, source, origin, type, default, env,
    flag, help.

    ``source`` is ``default``, ``file``, ``env`` or ``flag``; ``origin`` names the file,
    variable or flag (``null`` for a default). A password in ``db_url`` is hidden.
    """
    values = settings.as_dict(redact=True)
    rows = []
    for setting in SETTINGS:
        source = settings.source_of(setting.name)
        rows.append(
            {
                "name": setting.name,
                "value": values[setting.name],
                "source": source.kind.value,
                "origin": source.origin or None,
                "type": setting.type,
                "default": setting.default,
                "env": setting.env,
                "flag": setting.flag,
                "help": setting.help,
            }
        )
    return rows


@app.command("show")
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print every effective setting, its value and where it came from."""
    state = get_state(ctx)
    settings = state.settings()
    rows = settings_rows(settings)
    exists = settings.config_file.is_file()
    if as_json:
        print_json(
            state.stdout,
            {
                "config_file": str(settings.config_file),
                "config_file_exists": exists,
                "settings": rows,
            },
        )
        return
    note = "" if exists else " (not present: defaults apply)"
    state.stdout.print(Text(f"Settings file: {settings.config_file}{note}"))
    table = Table(show_edge=False, header_style="bold")
    table.add_column("Setting", no_wrap=True)
    table.add_column("Value", overflow="fold")
    table.add_column("Source", overflow="fold")
    for row in rows:
        origin = f" {row['origin']}" if row["origin"] else ""
        value = row["value"]
        shown = ("" if value is None else str(value).lower() if isinstance(value, bool)
                 else str(value))  # as in TOML
        table.add_row(Text(row["name"]), Text(shown), Text(row["source"] + origin))
    state.stdout.print(table)


@app.command("path")
def path(ctx: typer.Context) -> None:
    """Print the path of the settings file (it may not exist yet)."""
    state = get_state(ctx)
    state.stdout.out(str(state.registry().path), highlight=False)


__all__ = ["app", "settings_rows"]
