"""Fixtures of the web UI tests: the sample library, a sample PACS, a pacslink web app.

The sample PACS (``Pacslink.start_pacs``) serves the quick demo library plus a REPORTS
study of non-image objects; each test gets a new pacslink home whose registry knows the
PACS (``SAMPLEPACS``) and whose web app runs in process (httpx's ASGI transport), with
its lifespan, so its Storage SCP receives C-MOVE sub-operations.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pacslink.api import Pacslink
from pacslink.models import RemoteAE
from pacslink.samples import SampleStudy, generate_demo_library
from pacslink.web import build_app
from tests.peers import free_port
from tests.web.objects import write_reports


@dataclass
class Library:
    """Sample files: the demo studies, the REPORTS study and a PDF kept out of the PACS."""

    folder: Path
    studies: list[SampleStudy]
    files: list[Path]
    reports: dict[str, str]
    pdf: Path

    def study(self, description: str) -> SampleStudy:
        return next(s for s in self.studies if s.study_description == description)


def make_library(folder: Path, *, quick: bool) -> Library:
    studies = generate_demo_library(folder / "demo", quick=quick)
    reports = write_reports(folder / "reports", with_pdf=True)
    files = sorted((folder / "demo").rglob("*.dcm")) + sorted((folder / "reports").glob("*.dcm"))
    return Library(folder, studies, files, reports, folder / "reports" / "pdf" / "doc.dcm")


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    return make_library(tmp_path_factory.mktemp("library"), quick=True)


@pytest.fixture(scope="session")
def pacs_home(tmp_path_factory: pytest.TempPathFactory, library: Library) -> Path:
    """A sample PACS home holding the library (imported once per session)."""
    home = tmp_path_factory.mktemp("pacs")
    pacs = Pacslink.from_home(home, flags={"ae_title": "SAMPLEPACS", "min_free_mb": 1}, environ={})
    counts = pacs.import_paths(library.files)
    assert counts["stored"] == len(library.files), counts
    pacs.close()
    return home


def open_pacs(home: Path, client_port: int) -> Pacslink:
    """The sample PACS on a free port, with pacslink (``PACSLINK``) as C-MOVE destination."""
    pacs = Pacslink.from_home(home, flags={"ae_title": "SAMPLEPACS", "port": free_port(),
                                           "min_free_mb": 1}, environ={})
    known = {ae.name for ae in pacs.remote_aes()}
    if "PACSLINK" in known:
        pacs.registry.edit("PACSLINK", port=client_port)
    else:
        pacs.registry.add(RemoteAE("PACSLINK", "PACSLINK", "127.0.0.1", client_port))
    return pacs


@dataclass
class Env:
    """One test's world: the PACS, pacslink, its web app and an HTTP client for it."""

    pacs: Pacslink
    pacs_port: int
    pacslink: Pacslink
    app: FastAPI
    http: httpx.AsyncClient
    library: Library

    async def json(self, method: str, url: str, status: int = 200, **kwargs: Any) -> Any:
        response = await self.http.request(method, url, **kwargs)
        assert response.status_code == status, (response.status_code, response.text)
        return response.json()


@contextlib.asynccontextmanager
async def web_env(tmp_path: Path, pacs_home: Path, library: Library,
                  **flags: Any) -> AsyncIterator[Env]:
    client_port = free_port()
    pacs = open_pacs(pacs_home, client_port)
    server = await pacs.start_pacs()
    client = Pacslink.from_home(tmp_path / "client", flags={
        "port": client_port, "min_free_mb": 1, "query_timeout": 5, **flags}, environ={})
    client.registry.add(RemoteAE("SAMPLEPACS", "SAMPLEPACS", "127.0.0.1", server.port,
                                 "the sample PACS"))
    app = build_app(client)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://pacslink.test",
                                         timeout=30) as http:
                yield Env(pacs, server.port, client, app, http, library)
    finally:
        await server.close()
        client.close()
        pacs.close()


@pytest.fixture
async def env(tmp_path: Path, pacs_home: Path, library: Library) -> AsyncIterator[Env]:
    async with web_env(tmp_path, pacs_home, library) as world:
        yield world
