"""The browser UI of pacslink (``pacslink serve``): search, retrieve, view, store, settings.

A FastAPI application over the one :class:`~pacslink.api.Pacslink` facade. Every HTML
page has a JSON twin under ``/api/...`` that the page's own JavaScript calls; the JSON
API is documented by the OpenAPI schema at ``/openapi.json`` and listed at ``/api``.
Templates and static files are shipped in the package (no CDN, no build step).

::

    from pacslink.api import Pacslink
    from pacslink.web import build_app, run_web

    app = build_app(Pacslink.from_home())        # an ASGI app (tests, other servers)
    await run_web(Pacslink.from_home(), "127.0.0.1", 8080)   # inside a running loop

Modules: :mod:`~pacslink.web.app` (the application, errors, ``run_web``),
:mod:`~pacslink.web.jobs` (retrieves running as asyncio tasks), :mod:`~.schemas`
(validation and JSON shapes), :mod:`~.pixels` (frames for the viewer),
:mod:`~.routes` (the pages and the JSON API).
"""

from __future__ import annotations

from pacslink.web.app import build_app, run_web

__all__ = ["build_app", "run_web"]
