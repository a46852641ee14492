"""The HTML pages. Each is a shell that its script fills from the page's JSON twin.

=========================================  ===========================================
page                                       JSON twin used by its script
=========================================  ===========================================
``/`` search                               ``/api/search/stream`` (``/api/search``)
``/study/{ae}/{study_uid}`` remote study   ``/api/studies/{ae}/{uid}``, ``/api/retrieves``
``/study/{study_uid}`` local study         ``/api/local/studies/{uid}``
``/viewer/{series_uid}``                   ``/api/series/{uid}``, ``/api/instances/...``
``/store`` local store                     ``/api/local/studies``
``/settings``                              ``/api/settings``, ``/api/aes``
``/api`` the JSON API, listed              ``/openapi.json``
=========================================  ===========================================
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pacslink.web.app import WebState, page_context, web_state
from pacslink.web.schemas import check_uid

router = APIRouter(include_in_schema=False)
Web = Annotated[WebState, Depends(web_state)]


def _page(web: WebState, request: Request, template: str, **values: Any) -> HTMLResponse:
    return web.templates.TemplateResponse(request, template, page_context(request, **values))


@router.get("/", response_class=HTMLResponse)
async def search_page(web: Web, request: Request) -> HTMLResponse:
    aes = await asyncio.to_thread(web.pacslink.remote_aes)
    return _page(web, request, "search.html", title="Search", aes=aes)


@router.get("/study/{ae}/{study_instance_uid}", response_class=HTMLResponse)
async def remote_study_page(web: Web, request: Request, ae: str,
                            study_instance_uid: str) -> HTMLResponse:
    check_uid(study_instance_uid, "Study Instance UID")
    remote = await asyncio.to_thread(web.pacslink.resolve, ae)
    return _page(web, request, "study.html", title="Study", ae=remote.name,
                 study_instance_uid=study_instance_uid)


@router.get("/study/{study_instance_uid}", response_class=HTMLResponse)
async def local_study_page(web: Web, request: Request, study_instance_uid: str) -> HTMLResponse:
    check_uid(study_instance_uid, "Study Instance UID")
    return _page(web, request, "study.html", title="Study", ae=None,
                 study_instance_uid=study_instance_uid)


@router.get("/viewer/{series_instance_uid}", response_class=HTMLResponse)
async def viewer_page(web: Web, request: Request, series_instance_uid: str) -> HTMLResponse:
    check_uid(series_instance_uid, "Series Instance UID")
    return _page(web, request, "viewer.html", title="Viewer",
                 series_instance_uid=series_instance_uid)


@router.get("/store", response_class=HTMLResponse)
async def store_page(web: Web, request: Request) -> HTMLResponse:
    return _page(web, request, "store.html", title="Local store")


@router.get("/settings", response_class=HTMLResponse)
async def settings_page(web: Web, request: Request) -> HTMLResponse:
    return _page(web, request, "settings.html", title="Settings",
                 home=str(web.pacslink.settings.home), web_url=web.web_url)


@router.get("/api", response_class=HTMLResponse)
async def api_page(web: Web, request: Request) -> HTMLResponse:
    """The JSON API listed from the OpenAPI schema (FastAPI's /docs needs a CDN)."""
    routes = []
    for path, operations in request.app.openapi().get("paths", {}).items():
        for method, op in operations.items():
            routes.append({"path": path, "methods": [method.upper()],
                           "summary": op.get("summary", ""), "tag": (op.get("tags") or [""])[0]})
    return _page(web, request, "api.html", title="API", routes=routes)


@router.get("/favicon.ico")
async def favicon() -> Response:
    return RedirectResponse("/static/favicon.svg", status_code=308)


__all__ = ["router"]
