"""Retrieve-to-first-image in the web viewer: Playwright drives Debian's chromium.

The sample PACS (``pacslink pacs serve``) holds the demo library's CT HEAD study (100
slices of 512 x 512). For each repetition a new ``pacslink serve`` (web UI and Storage
SCP, an empty home) starts; the browser opens the study page and the clock runs from
the click on "Retrieve study", through the click on the series' "View" button as soon
as it is enabled, to the viewer's canvas having drawn a first image (its
``data-rendered`` attribute is set after ``drawImage``). The target is absolute:
< 1 s. There is no DCMTK counterpart.
"""

from __future__ import annotations

import shutil
import time
from typing import Any

from benchmarks.common import (
    PACSLINK,
    BenchError,
    Context,
    free_port,
    pacslink_env,
    serving,
    sync_disks,
)
from benchmarks.results import Row, Target
from pacslink.api import Pacslink
from pacslink.models import RemoteAE
from pacslink.samples import generate_demo_library
from tests.peers import wait_for_port

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
RENDERED = "(document.getElementById('view')?.dataset.rendered || '') !== ''"
CT = "CT HEAD"


def plan(ctx: Context) -> list[Row]:
    return [Row("web_first_image", "web",
                "retrieve-to-first-image (web viewer, CT HEAD study)", "s",
                "pacslink serve + chromium: click Retrieve -> first image drawn", None,
                Target("< 1 s", max_value=1.0))]


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not shutil.which(path):
        raise BenchError("chromium is not installed (apt-get install chromium)")
    return path


def measure(ctx: Context, rows: list[Row]) -> None:
    (row,) = rows
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BenchError("Playwright is not installed (pip install -e '.[test]')") from None
    chromium = _chromium()
    work = ctx.fresh("web")
    studies = generate_demo_library(work / "library", quick=ctx.quick)
    ct = next(s for s in studies if s.study_description == CT)
    row.scenario += f", {ct.instance_count} slices"
    client_port, pacs_port = free_port(), free_port()
    pacs_args = [*PACSLINK, "pacs", "serve", str(ct.folder), "--aet", "SAMPLEPACS",
                 "--port", str(pacs_port), "--destination", f"PACSLINK@127.0.0.1:{client_port}"]
    with serving("sample-pacs", pacs_args, pacs_port, work, env=ctx.peer_env(), timeout=300), \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for rep in range(ctx.reps):
                row.add(_one(ctx, browser, rep, ct.study_instance_uid, pacs_port, client_port))
        finally:
            browser.close()


def _one(ctx: Context, browser: Any, rep: int, study_uid: str, pacs_port: int,
         client_port: int) -> float:
    """One retrieve in a new pacslink home: seconds from the click to the first image."""
    home = ctx.fresh(f"web/home{rep}")
    app = Pacslink.from_home(home, environ={})
    app.registry.add(RemoteAE("SAMPLEPACS", "SAMPLEPACS", "127.0.0.1", pacs_port))
    app.close()
    web_port = free_port()
    args = [*PACSLINK, "--home", str(home), "serve", "--port", str(web_port)]
    with serving("pacslink-serve", args, web_port, home,
                 env=pacslink_env(port=client_port, min_free_mb=1)) as server:
        wait_for_port(client_port, server.proc, timeout=30)
        context = browser.new_context(viewport={"width": 1280, "height": 800},
                                      base_url=f"http://127.0.0.1:{web_port}")
        try:
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"/study/SAMPLEPACS/{study_uid}")
            page.wait_for_selector("#series-table tbody tr[data-series]")
            page.wait_for_selector("#retrieve-study:not([disabled])")
            sync_disks()
            start = time.perf_counter()
            page.click("#retrieve-study")
            page.click("[data-action=view]:not([aria-disabled])")
            page.wait_for_url("**/viewer/*")
            page.wait_for_function(RENDERED)
            seconds = time.perf_counter() - start
            lit = page.evaluate("""() => { const c = document.getElementById('view');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 8) n++; return n; }""")
        finally:
            context.close()
        server.check_alive()
    if lit < 100:
        raise BenchError(f"the viewer drew an empty canvas ({lit} lit pixels)")
    return seconds
