"""``pacslink ae``: the remote AEs (PACS, modalities) pacslink talks to.

Each AE is a named ``[ae.NAME]`` table in ``<home>/pacslink.toml`` with its AE title, host
and port; the commands here edit that file (comments are kept) and print what changed::

    pacslink ae add PACS1 --aet ORTHANC --host 127.0.0.1 --port 4242
    pacslink ae add SECURE --aet PACS --host pacs.example --port 2762 --tls
    pacslink ae list [--json]
    pacslink ae edit PACS1 --port 4243
    pacslink ae remove PACS1
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from pacslink.cli.common import ae_as_json, format_address, get_state, print_json, validated
from pacslink.config import validate_ae_title, validate_host, validate_port
from pacslink.errors import ConfigError
from pacslink.models import RemoteAE, RetrieveMethod

app = typer.Typer(
    name="ae",
    help="Configure the remote AEs (PACS, modalities) pacslink talks to.",
    no_args_is_help=True,
)

NameArgument = Annotated[
    str,
    typer.Argument(metavar="NAME", help="Local name of the AE, e.g. PACS1.", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
_RETRIEVE_CHOICES = "move, get or auto"

_FIELD_LABELS = (
    ("name", "name"),
    ("ae_title", "AE title"),
    ("host", "host"),
    ("port", "port"),
    ("retrieve", "retrieve"),
    ("description", "description"),
    ("tls", "TLS"),
)
_TLS_HELP = ("Associate over DICOM TLS, verifying its certificate against setting tls_ca "
             "(and presenting tls_cert/tls_key when set).")


@app.command("add")
def add(
    ctx: typer.Context,
    name: NameArgument,
    aet: Annotated[str, typer.Option("--aet", help="Remote AE title, 1-16 characters.")],
    host: Annotated[str, typer.Option("--host", help="Host name or IP address.")],
    port: Annotated[str, typer.Option("--port", metavar="PORT", help="TCP port, 1-65535.")],
    description: Annotated[str, typer.Option("--description", help="Free text.")] = "",
    retrieve: Annotated[
        str,
        typer.Option("--retrieve", metavar="METHOD",
                     help=f"How to retrieve studies: {_RETRIEVE_CHOICES}."),
    ] = RetrieveMethod.AUTO.value,
    tls: Annotated[bool, typer.Option("--tls/--no-tls", help=_TLS_HELP)] = False,
) -> None:
    """Add a remote AE."""
    state = get_state(ctx)
    ae = RemoteAE(
        name=name,
        ae_title=validated("--aet", validate_ae_title, aet),
        host=validated("--host", validate_host, host),
        port=validated("--port", validate_port, port),
        description=description,
        retrieve=_retrieve_method(retrieve),
        tls=tls,
    )
    added = state.registry().add(ae)
    state.stdout.print(
        Text(f"Added {added.name} ({format_address(added)}). Try: pacslink echo {added.name}")
    )


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the configured remote AEs."""
    state = get_state(ctx)
    entries = state.registry().list()
    if as_json:
        print_json(state.stdout, [ae_as_json(ae) for ae in entries])
        return
    if not entries:
        state.stdout.print(
            Text(
                "No remote AEs configured yet. Add one: "
                "pacslink ae add PACS1 --aet ORTHANC --host 127.0.0.1 --port 4242"
            )
        )
        return
    table = Table(show_edge=False, header_style="bold")
    for label in ("Name", "AE title", "Host", "Port", "Retrieve", "TLS"):
        table.add_column(label, no_wrap=True)
    table.add_column("Description")
    for ae in entries:
        cells = (ae.name, ae.ae_title, ae.host, str(ae.port), ae.retrieve.value,
                 "yes" if ae.tls else "no", ae.description)
        table.add_row(*(Text(cell) for cell in cells))
    state.stdout.print(table)


@app.command("edit")
def edit(
    ctx: typer.Context,
    name: NameArgument,
    aet: Annotated[str | None, typer.Option("--aet", help="New remote AE title.")] = None,
    host: Annotated[str | None, typer.Option("--host", help="New host.")] = None,
    port: Annotated[str | None, typer.Option("--port", metavar="PORT", help="New port.")] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="New description.")
    ] = None,
    retrieve: Annotated[
        str | None,
        typer.Option("--retrieve", metavar="METHOD",
                     help=f"New retrieve method: {_RETRIEVE_CHOICES}."),
    ] = None,
    rename: Annotated[
        str | None, typer.Option("--rename", metavar="NEW", help="New local name.")
    ] = None,
    tls: Annotated[bool | None, typer.Option("--tls/--no-tls", help=_TLS_HELP)] = None,
) -> None:
    """Change a remote AE; only the options given change."""
    state = get_state(ctx)
    changes: dict[str, Any] = {}
    if aet is not None:
        changes["ae_title"] = validated("--aet", validate_ae_title, aet)
    if host is not None:
        changes["host"] = validated("--host", validate_host, host)
    if port is not None:
        changes["port"] = validated("--port", validate_port, port)
    if description is not None:
        changes["description"] = description
    if retrieve is not None:
        changes["retrieve"] = _retrieve_method(retrieve)
    if rename is not None:
        changes["name"] = rename
    if tls is not None:
        changes["tls"] = tls
    if not changes:
        raise ConfigError(
            "nothing to change: give at least one of --aet, --host, --port, --description, "
            "--retrieve, --rename, --tls/--no-tls"
        )
    registry = state.registry()
    before = registry.get(name)
    after = registry.edit(before.name, **changes)
    described = [
        f"{label} {_shown(getattr(before, field))} -> {_shown(getattr(after, field))}"
        for field, label in _FIELD_LABELS
        if getattr(before, field) != getattr(after, field)
    ]
    summary = "; ".join(described) if described else "nothing changed"
    state.stdout.print(Text(f"Updated {after.name} ({format_address(after)}): {summary}."))


@app.command("remove")
def remove(ctx: typer.Context, name: NameArgument) -> None:
    """Remove a remote AE."""
    state = get_state(ctx)
    removed = state.registry().remove(name)
    if removed is None:
        state.stdout.print(Text(f"Removed {name} (its entry was invalid)."))
    else:
        state.stdout.print(Text(f"Removed {removed.name} ({format_address(removed)})."))


def _retrieve_method(value: str) -> RetrieveMethod:
    """``--retrieve``'s value as a :class:`RetrieveMethod` (case-insensitive)."""
    try:
        return RetrieveMethod(value.strip().lower())
    except ValueError:
        raise ConfigError(f"--retrieve must be {_RETRIEVE_CHOICES}, got {value!r}") from None


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, enum.Enum):
        return str(value.value)
    return repr(value) if value == "" else str(value)


__all__ = ["app"]
