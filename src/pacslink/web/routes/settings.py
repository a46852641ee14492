"""Remote AEs (the same registry as ``pacslink ae``), C-ECHO, and this pacslink's identity.

Fields are validated as ``pacslink ae add`` validates its options, and the messages name
the field: ``Port: must be an integer 1-65535, got 70000``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends

from pacslink.config import validate_ae_title, validate_host, validate_port
from pacslink.errors import ConfigError
from pacslink.models import RemoteAE
from pacslink.web.app import WebState, web_state
from pacslink.web.schemas import (
    EchoOut,
    LocalAEOut,
    RemoteAEIn,
    RemoteAEOut,
    RemoteAEPatch,
    SettingsOut,
)

router = APIRouter(tags=["settings"])
Web = Annotated[WebState, Depends(web_state)]
T = TypeVar("T")


def _field(label: str, check: Callable[[Any], T], value: Any) -> T:
    try:
        return check(value)
    except ConfigError as exc:
        raise type(exc)(f"{label}: {exc}") from exc


def local_ae(web: WebState) -> LocalAEOut:
    s = web.pacslink.settings
    return LocalAEOut(ae_title=s.ae_title, port=s.port, bind=s.bind,
                      listening=web.pacslink.listening, listener_error=web.listener_error,
                      home=str(s.home), store_dir=str(s.store_dir))


@router.get("/api/settings", summary="This pacslink (AE title, port) and the remote AEs")
async def settings(web: Web) -> SettingsOut:
    aes = await asyncio.to_thread(web.pacslink.remote_aes)
    return SettingsOut(local=local_ae(web), aes=[RemoteAEOut.of(ae) for ae in aes])


@router.get("/api/aes", summary="The configured remote AEs")
async def list_aes(web: Web) -> list[RemoteAEOut]:
    aes = await asyncio.to_thread(web.pacslink.remote_aes)
    return [RemoteAEOut.of(ae) for ae in aes]


@router.get("/api/aes/{name}", summary="One remote AE")
async def get_ae(web: Web, name: str) -> RemoteAEOut:
    return RemoteAEOut.of(await asyncio.to_thread(web.pacslink.registry.get, name))


@router.post("/api/aes", status_code=201, summary="Add a remote AE")
async def add_ae(web: Web, body: RemoteAEIn) -> RemoteAEOut:
    """Like ``pacslink ae add``: the name must be new (in any letter case)."""
    ae = RemoteAE(
        name=body.name.strip(),
        ae_title=_field("AE title", validate_ae_title, body.ae_title),
        host=_field("Host", validate_host, body.host.strip()),
        port=_field("Port", validate_port, body.port),
        description=body.description.strip(),
        retrieve=body.retrieve,
        tls=body.tls,
    )
    added = await asyncio.to_thread(web.pacslink.registry.add, ae)
    return RemoteAEOut.of(added)


@router.patch("/api/aes/{name}", summary="Change a remote AE; omitted fields stay")
async def edit_ae(web: Web, name: str, body: RemoteAEPatch) -> RemoteAEOut:
    """Like ``pacslink ae edit``; a new ``name`` renames the entry."""
    changes: dict[str, Any] = {}
    if body.name is not None and body.name.strip() != name:
        changes["name"] = body.name.strip()
    if body.ae_title is not None:
        changes["ae_title"] = _field("AE title", validate_ae_title, body.ae_title)
    if body.host is not None:
        changes["host"] = _field("Host", validate_host, body.host.strip())
    if body.port is not None:
        changes["port"] = _field("Port", validate_port, body.port)
    if body.description is not None:
        changes["description"] = body.description.strip()
    if body.retrieve is not None:
        changes["retrieve"] = body.retrieve
    if body.tls is not None:
        changes["tls"] = body.tls
    registry = web.pacslink.registry
    current = await asyncio.to_thread(registry.get, name)
    if not changes:
        return RemoteAEOut.of(current)
    edited = await asyncio.to_thread(lambda: registry.edit(current.name, **changes))
    return RemoteAEOut.of(edited)


@router.delete("/api/aes/{name}", summary="Remove a remote AE")
async def remove_ae(web: Web, name: str) -> dict[str, Any]:
    removed = await asyncio.to_thread(web.pacslink.registry.remove, name)
    return {"removed": name, "ae": RemoteAEOut.of(removed).model_dump() if removed else None}


@router.post("/api/aes/{name}/echo", summary="Test an AE with C-ECHO (round-trip time)")
async def echo_ae(web: Web, name: str) -> EchoOut:
    """Opens an association, sends one C-ECHO and releases; ``ok`` and the round trip in
    milliseconds, or ``error`` in words."""
    ae = await asyncio.to_thread(web.pacslink.registry.get, name)
    result = await web.pacslink.echo(ae)
    error = result.error
    if not result.ok and not error:
        error = f"the AE answered C-ECHO with status 0x{result.status or 0:04X}"
    return EchoOut(ae=ae.name, ok=result.ok, status=result.status,
                   round_trip_ms=None if result.round_trip_ms is None
                   else round(result.round_trip_ms, 1), error=error)


__all__ = ["router"]
