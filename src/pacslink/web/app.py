"""The FastAPI application of ``pacslink serve``, its error translation and ``run_web``.

One process, one event loop: uvicorn serves the app, whose lifespan starts pacslink's
Storage/Verification SCP (unless this process already runs one) and stops it; retrieves
run as tasks of the same loop. Errors are translated at this boundary (architecture
habit 6): a :class:`~pacslink.errors.PacslinkError` becomes a 4xx/5xx JSON
``{"detail": "..."}`` under ``/api`` and an error panel on HTML pages; invalid input a
422 with one readable sentence; anything unexpected a 500 that says to look at the server
log, never a stack trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from pacslink import __version__
from pacslink.api import Pacslink
from pacslink.errors import ConfigError, PacslinkError, QueryError, StoreError, StoreFullError
from pacslink.imaging import ImagingError
from pacslink.web.jobs import JobConflict, JobRegistry
from pacslink.web.pixels import Instances, NotFound
from pacslink.web.schemas import InputError

log = logging.getLogger(__name__)
HERE = Path(__file__).parent

#: The pages of the top bar: (path, label).
NAV = (("/", "Search"), ("/store", "Local store"), ("/settings", "Settings"), ("/api", "API"))


@dataclass
class WebState:
    """What every route needs, kept on ``app.state.web``."""

    pacslink: Pacslink
    jobs: JobRegistry
    instances: Instances
    templates: Jinja2Templates
    listener_error: str | None = None
    web_url: str | None = None


def web_state(request: Request) -> WebState:
    """The :class:`WebState` of the app serving ``request`` (a FastAPI dependency)."""
    state: WebState = request.app.state.web
    return state


def status_for(exc: Exception) -> int:
    """The HTTP status of a pacslink error."""
    if isinstance(exc, InputError):
        return 422
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, JobConflict):
        return 409
    if isinstance(exc, ConfigError):
        return 404 if "no remote AE named" in str(exc) else 400
    if isinstance(exc, QueryError):
        return 400
    if isinstance(exc, StoreFullError):
        return 507
    if isinstance(exc, StoreError):
        return 500
    if isinstance(exc, ImagingError):
        return 422
    return 502 if any(c.__name__ == "NetworkError" for c in type(exc).__mro__) else 500


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = [str(x) for x in error.get("loc", ()) if x not in ("body", "query", "path")]
        message = str(error.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        if error.get("type") == "missing":
            message = "is required"
        elif error.get("type") == "json_invalid":
            message = "the request body is not valid JSON"
        parts.append(f"{'.'.join(where)}: {message}" if where else message)
    return "; ".join(parts) or "the request is not valid"


def wants_html(request: Request) -> bool:
    path = request.url.path
    return not (path.startswith(("/api/", "/static/")) or path == "/openapi.json")


def error_response(request: Request, status: int, message: str) -> Response:
    """JSON ``{"detail": message}`` for the API; the error page for HTML pages."""
    if wants_html(request):
        templates: Jinja2Templates = request.app.state.web.templates
        return templates.TemplateResponse(
            request, "error.html", page_context(request, title="Something went wrong",
                                                status=status, message=message),
            status_code=status)
    return JSONResponse({"detail": message}, status_code=status)


def page_context(request: Request, **values: Any) -> dict[str, Any]:
    """The values every template uses (the top bar, this pacslink's identity)."""
    web: WebState = request.app.state.web
    s = web.pacslink.settings
    return {"nav": NAV, "path": request.url.path, "version": __version__,
            "local_ae": s.ae_title, "local_port": s.port, "local_bind": s.bind,
            "listening": web.pacslink.listening, "listener_error": web.listener_error,
            **values}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return error_response(request, 422, _validation_message(exc))

    @app.exception_handler(PacslinkError)
    async def _pacslink(request: Request, exc: PacslinkError) -> Response:
        return error_response(request, status_for(exc), str(exc))

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> Response:
        return error_response(request, 422, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = f"there is no page at {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        response = error_response(request, exc.status_code, message)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response



SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def same_origin(request: Request) -> bool:
    """Whether a browser request comes from pacslink's own pages (or from no browser).

    Browsers send ``Origin`` with every POST, PATCH and DELETE; another web site's page
    (cross-site request forgery, DNS rebinding) has another origin than our host. Clients
    that are not browsers (scripts, curl) send none and are let through.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


def build_app(pacslink: Pacslink, *, listen: bool = True) -> FastAPI:
    """The web application over ``pacslink``.

    Parameters
    ----------
    pacslink : Pacslink
        The facade (its home's settings, AEs and store).
    listen : bool
        Start the Storage/Verification SCP in the lifespan (skipped when this process
        already runs one, e.g. ``pacslink demo``). A port that cannot be bound does not
        stop the web UI: the pages say receiving is off, and why.
    """
    from pacslink.web.routes import local, pages, retrieves, search, settings  # they import us

    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["static_version"] = __version__

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        web: WebState = app.state.web
        await asyncio.to_thread(lambda: pacslink.store)  # open the store off the loop, once
        server = None
        if listen and not pacslink.listening:
            try:
                server = await pacslink.start_listener()
            except PacslinkError as exc:
                # the CLI's advice names --port, which here is the web port: say what to set
                web.listener_error = str(exc).replace(
                    "choose another with --port",
                    "set another DICOM port (setting 'port' in pacslink.toml, or PACSLINK_PORT)")
                log.error("receiving is off: %s", web.listener_error)
        try:
            yield
        finally:
            await web.jobs.close()
            if server is not None:
                await server.close()

    app = FastAPI(
        title="pacslink",
        version=__version__,
        summary="Search every PACS by Patient ID, retrieve studies, view images.",
        description=("The JSON API of the pacslink web UI. Every page under `/` has a twin "
                     "here that its JavaScript uses. Errors are `{\"detail\": \"...\"}`."),
        docs_url=None, redoc_url=None,  # their pages load scripts from a CDN; see /api
        lifespan=lifespan,
    )
    app.state.web = WebState(pacslink, JobRegistry(pacslink), Instances(pacslink), templates)
    _install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (search, retrieves, local, settings, pages):
        app.include_router(module.router)

    @app.middleware("http")
    async def _guard(request: Request, call_next: Any) -> Response:
        if request.method not in SAFE_METHODS and not same_origin(request):
            return error_response(request, 403, "refused: this request came from another web "
                                                "site; use pacslink's own pages")
        try:
            response: Response = await call_next(request)
        except Exception as exc:  # a bug: logged with its traceback, answered in words
            log.error("unexpected error on %s %s", request.method, request.url.path,
                      exc_info=exc)
            return error_response(request, 500, "internal error in pacslink; the details are "
                                                "in the server's log")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket for the web server, or a PacslinkError saying why not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PacslinkError(f"cannot bind the web server to {host!r}: no such local address; "
                            "check --bind") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PacslinkError(f"web port {port} is in use (is another pacslink serve "
                                "running?); choose another with --port") from exc
        if exc.errno == errno.EACCES:
            raise PacslinkError(f"web port {port} needs privileges; use a port above "
                                "1023") from exc
        raise PacslinkError(f"cannot serve the web UI on {host}:{port}: "
                            f"{exc.strerror or exc}") from exc
    sock.setblocking(False)
    return sock


def url_of(host: str, port: int) -> str:
    """``http://127.0.0.1:8080/``; an all-addresses bind is shown as loopback."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


async def run_web(
    pacslink: Pacslink, host: str = "127.0.0.1", port: int = 8080, *,
    ready: asyncio.Event | None = None, listen: bool = True,
) -> None:
    """Serve the web UI in the running event loop until cancelled (or Ctrl+C).

    Parameters
    ----------
    pacslink : Pacslink
        The facade to serve.
    host, port : str, int
        Where the web server listens (``port`` 0 picks a free one: read it from
        ``app.state.web.web_url`` or the ``ready`` event's caller).
    ready : asyncio.Event, optional
        Set once the server accepts connections (the SCP is started by then).
    listen : bool
        Start the Storage SCP if this process does not run one yet.

    Raises
    ------
    PacslinkError
        The web port cannot be bound (the message says what to do).
    """
    sock = bind_socket(host, port)
    bound_port = int(sock.getsockname()[1])
    app = build_app(pacslink, listen=listen)
    app.state.web.web_url = url_of(host, bound_port)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=2, ws="none")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if ready is not None and server.started:
            ready.set()
        await asyncio.shield(task)
    except asyncio.CancelledError:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, SystemExit):
            await task
        raise
    finally:
        sock.close()


__all__ = ["NAV", "WebState", "bind_socket", "build_app", "page_context", "run_web", "url_of",
           "web_state"]
