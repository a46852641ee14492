"""The web UI in a real browser: Playwright for Python driving Debian's chromium.

A `pacslink serve` equivalent (uvicorn + the Storage SCP, via ``run_web``) runs in a
thread with the sample PACS (the full demo library, so the CT has 100 slices of 512x512),
and each test uses the pages as a person would. Assertions read the canvas's pixels,
not just the DOM. Screenshots of every page go to the pytest temp dir and to
``/tmp/pacslink-screens/``. Outside CI a missing chromium or Playwright skips these tests;
with ``CI`` set it fails them.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from pacslink.api import Pacslink
from pacslink.models import RemoteAE
from pacslink.web import run_web
from tests.peers import free_port, require_module, unavailable
from tests.web.conftest import Library, make_library

pytestmark = pytest.mark.slow

SCREENS = Path("/tmp/pacslink-screens")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

#: Canvas statistics: sum and count of non-black red values, and a hash of all of them.
PIXELS = """() => {
  const c = document.getElementById('view');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let sum = 0, lit = 0, hash = 0, colour = 0;
  for (let i = 0; i < d.length; i += 4) {
    sum += d[i]; if (d[i] > 8) lit++;
    if (d[i] !== d[i + 1] || d[i + 1] !== d[i + 2]) colour++;
    hash = (Math.imul(hash, 31) + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) >>> 0;
  }
  return {sum, lit, hash, colour, width: c.width, height: c.height,
          rendered: c.dataset.rendered || ''};
}"""


@dataclass
class Served:
    """pacslink serving its web UI in a thread, with the sample PACS in the same loop."""

    url: str
    pacslink: Pacslink
    library: Library
    screens: Path
    loop: asyncio.AbstractEventLoop
    timings: dict[str, float | int] = field(default_factory=dict)

    def retrieve(self, study_uid: str) -> dict[str, Any]:
        """Retrieve through the JSON API (for tests that start at the viewer)."""
        with httpx.Client(base_url=self.url, timeout=60) as http:
            job = http.post("/api/retrieves", json={"ae": "SAMPLEPACS",
                                                    "study_instance_uid": study_uid}).json()
            while not job["done"]:
                time.sleep(0.05)
                job = http.get(f"/api/retrieves/{job['id']}").json()
        assert job["state"] == "complete", job
        return job

    def series_of(self, study_uid: str) -> list[str]:
        detail = self.pacslink.study_detail(study_uid)
        assert detail is not None
        return [s.series_instance_uid for s in detail.series]


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        unavailable("Debian's chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    chromium_path()
    require_module("playwright.sync_api")
    root = tmp_path_factory.mktemp("browser")
    library = make_library(root / "library", quick=False)
    client_port, web_port = free_port(), free_port()
    pacs = Pacslink.from_home(root / "pacs", flags={"ae_title": "SAMPLEPACS", "port": free_port(),
                                                    "min_free_mb": 1}, environ={})
    assert pacs.import_paths(library.files)["stored"] == len(library.files)
    pacs.registry.add(RemoteAE("PACSLINK", "PACSLINK", "127.0.0.1", client_port))
    client = Pacslink.from_home(root / "client", flags={"port": client_port, "min_free_mb": 1},
                                environ={})
    client.registry.add(RemoteAE("SAMPLEPACS", "SAMPLEPACS", "127.0.0.1", pacs.settings.port,
                                 "the sample PACS"))
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    async def main() -> None:
        server = await pacs.start_pacs()
        ready = asyncio.Event()
        web = asyncio.create_task(run_web(client, "127.0.0.1", web_port, ready=ready))
        try:
            await asyncio.wait({web, asyncio.create_task(ready.wait())},
                               return_when=asyncio.FIRST_COMPLETED)
            started.set()
            await web
        finally:
            await server.close()

    main_task = loop.create_task(main())

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main_task)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported by the fixture
            failure.append(exc)
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="pacslink-web", daemon=True)
    thread.start()
    assert started.wait(60) and not failure, failure
    screens = root / "screens"
    screens.mkdir()
    shutil.rmtree(SCREENS, ignore_errors=True)
    SCREENS.mkdir(parents=True, exist_ok=True)
    served = Served(f"http://127.0.0.1:{web_port}", client, library, screens, loop)
    try:
        yield served
    finally:
        loop.call_soon_threadsafe(main_task.cancel)
        thread.join(20)
        client.close()
        pacs.close()
        for name, value in served.timings.items():
            print(f"\n{name}: {value:.2f} s" if isinstance(value, float) else f"\n{name}: {value}")


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - say precisely what Playwright said
            pytest.fail(f"Playwright cannot drive Debian's chromium: {exc}")
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=served.url)
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" and not _expected_http_error(m.text) else None)
    yield page
    context.close()
    assert not problems, problems


def _expected_http_error(text: str) -> bool:
    """The browser logs each 4xx answer; the tests provoke some on purpose (5xx still fail)."""
    return text.startswith("Failed to load resource: the server responded with a status of 4")


def shot(served: Served, page: Any, name: str, *, full_page: bool = False) -> None:
    path = served.screens / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    shutil.copy(path, SCREENS / path.name)


def pixels(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(PIXELS)
    return result


def wait_rendered_change(page: Any, before: str) -> dict[str, Any]:
    page.wait_for_function("(b) => (document.getElementById('view').dataset.rendered || '') !== b",
                           arg=before)
    return pixels(page)


# --- search -> study -> retrieve -> viewer ---------------------------------------------------


def test_search_retrieve_and_view_the_ct(served: Served, page: Any) -> None:
    ct = served.library.study("CT HEAD")
    assert ct.instance_count == 100
    page.goto("/")
    page.fill("#patient_id", "VET001")
    page.press("#patient_id", "Enter")
    page.wait_for_selector("[data-ae=SAMPLEPACS][data-state=ok]")
    rows = page.locator("#results-table tbody tr")
    assert rows.count() == 2
    assert "SAMPLEPACS: 2 studies" in page.inner_text("#ae-status")
    first_row = rows.nth(0).inner_text()
    assert all(text in first_row for text in ("2025-06-14", "Rex, Demo", "VET001", "CT HEAD"))
    shot(served, page, "01-search")

    rows.nth(0).click()
    page.wait_for_url(f"**/study/SAMPLEPACS/{ct.study_instance_uid}")
    page.wait_for_selector("#series-table tbody tr[data-series]")
    assert page.inner_text("#study-title") == "Rex, Demo — CT HEAD"
    assert page.is_enabled("#retrieve-study")
    shot(served, page, "02-study-before-retrieve")

    start = time.perf_counter()
    page.click("#retrieve-study")
    page.click("[data-action=view]:not([aria-disabled])")
    page.wait_for_url("**/viewer/*")
    page.wait_for_function("(document.getElementById('view').dataset.rendered || '') !== ''")
    served.timings["click Retrieve on the 100-slice CT -> first image on screen"] = \
        time.perf_counter() - start
    first = pixels(page)
    served.timings["images listed in the viewer when the first was shown (of 100)"] = \
        page.evaluate("window.pacslinkViewer.stack.length")
    assert first["width"] > 500 and first["lit"] > 1000, first  # a picture, not a black canvas
    page.wait_for_function("() => { const v = window.pacslinkViewer; "
                           "return v.stack.length === 100 && !v.receiving; }", timeout=60_000)
    before = first["rendered"]
    page.keyboard.press("End")
    page.wait_for_function("() => (document.getElementById('view').dataset.rendered || '')"
                           ".startsWith(window.pacslinkViewer.stack[99].sop + ':')")
    served.timings["click Retrieve on the 100-slice CT -> last image on screen"] = \
        time.perf_counter() - start
    last = pixels(page)
    assert last["rendered"] != before and last["lit"] > 1000
    assert "Im 100/100" in page.inner_text("#ov-bl")

    # scroll through the slices: the middle of the head, then one further by key and by wheel
    page.keyboard.press("Home")
    for _ in range(5):
        page.keyboard.press("PageDown")
    page.wait_for_function("() => (document.getElementById('view').dataset.rendered || '')"
                           ".startsWith(window.pacslinkViewer.stack[50].sop + ':')")
    middle = pixels(page)
    page.keyboard.press("ArrowDown")
    below = wait_rendered_change(page, middle["rendered"])
    assert below["rendered"].startswith(page.evaluate("window.pacslinkViewer.stack[51].sop"))
    assert below["hash"] != middle["hash"]
    box = page.locator("#view").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 120)
    wheeled = wait_rendered_change(page, below["rendered"])
    assert page.evaluate("window.pacslinkViewer.index") > 51 and wheeled["hash"] != below["hash"]
    assert "W 80 L 40" in page.inner_text("#ov-br")  # the file's brain window

    # window/level by dragging: the same slice, other pixels, and the overlay says so
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(box["x"] + box["width"] / 2 + 30 * step,
                        box["y"] + box["height"] / 2 + 8 * step)
    page.mouse.up()
    dragged = wait_rendered_change(page, wheeled["rendered"])
    assert dragged["rendered"].split(":")[0] == wheeled["rendered"].split(":")[0]
    assert dragged["hash"] != wheeled["hash"] and dragged["sum"] != wheeled["sum"]
    assert "W 80 L 40" not in page.inner_text("#ov-br")
    assert page.input_value("#preset-select") == "custom"
    shot(served, page, "03-viewer-ct-dragged")
    page.select_option("#preset-select", label="Bone (W 1800 L 400)")
    bone = wait_rendered_change(page, dragged["rendered"])
    assert "W 1800 L 400" in page.inner_text("#ov-br") and bone["hash"] != dragged["hash"]
    page.keyboard.press("i")
    inverted = wait_rendered_change(page, bone["rendered"])
    assert inverted["sum"] > bone["sum"] and "Inverted" in page.inner_text("#ov-br")
    page.keyboard.press("+")
    zoomed = wait_rendered_change(page, inverted["rendered"])
    assert "Zoom 125%" in page.inner_text("#ov-br") and zoomed["hash"] != inverted["hash"]
    page.keyboard.down("Shift")
    page.mouse.move(box["x"] + 300, box["y"] + 300)
    page.mouse.down()
    page.mouse.move(box["x"] + 380, box["y"] + 340, steps=4)
    page.mouse.up()
    page.keyboard.up("Shift")
    panned = wait_rendered_change(page, zoomed["rendered"])
    assert panned["hash"] != zoomed["hash"] and "W 1800 L 400" in page.inner_text("#ov-br")
    assert page.evaluate("[window.pacslinkViewer.panX, window.pacslinkViewer.panY]") == [80, 40]
    page.keyboard.press("r")
    reset = wait_rendered_change(page, panned["rendered"])
    assert "W 80 L 40" in page.inner_text("#ov-br") and "Zoom 100%" in page.inner_text("#ov-br")
    assert reset["hash"] != panned["hash"] and "Inverted" not in page.inner_text("#ov-br")
    shot(served, page, "04-viewer-ct")

    page.goto(f"/study/SAMPLEPACS/{ct.study_instance_uid}")
    page.wait_for_selector("#series-table tbody tr[data-series] img")
    assert "100 ✓" in page.inner_text("#series-table tbody")
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth)")
    shot(served, page, "05-study-local")


def test_study_page_shows_retrieve_progress_and_result(served: Served, page: Any) -> None:
    dx = served.library.study("THORAX RADIOGRAPHS")
    page.goto(f"/study/SAMPLEPACS/{dx.study_instance_uid}")
    page.wait_for_selector("#series-table tbody tr[data-series]")
    page.click("[data-action=retrieve-series]")
    page.wait_for_selector("#progress-message.alert.ok")
    message = page.inner_text("#progress-message")
    assert message.startswith("Complete: 2 images are on this computer")
    assert "received 2 of 2" in page.inner_text("#progress-counts")
    assert page.get_attribute("#progress-bar", "aria-valuenow") == "100"
    page.wait_for_selector("#series-table tbody img")
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth)")
    shot(served, page, "06-study-retrieved")

    # the radiograph is MONOCHROME1: shown inverted by default
    page.click("[data-action=view]")
    page.wait_for_function("(document.getElementById('view').dataset.rendered || '') !== ''")
    assert "Inverted" in page.inner_text("#ov-br") and pixels(page)["lit"] > 1000
    shot(served, page, "07-viewer-radiograph")


def test_colour_cine_plays(served: Served, page: Any) -> None:
    us = served.library.study("ECHOCARDIOGRAPHY")
    served.retrieve(us.study_instance_uid)
    (series,) = served.series_of(us.study_instance_uid)
    page.goto(f"/viewer/{series}")
    page.wait_for_function("(document.getElementById('view').dataset.rendered || '') !== ''")
    first = pixels(page)
    assert page.evaluate("window.pacslinkViewer.current.kind") == "rgb" and first["lit"] > 1000
    assert "Frame 1/40" in page.inner_text("#ov-bl")
    page.click("#play-button")
    page.wait_for_function("() => window.pacslinkViewer.index >= 3")
    page.click("#play-button")
    assert page.get_attribute("#play-button", "aria-pressed") == "false"
    playing = pixels(page)
    assert playing["hash"] != first["hash"]
    shot(served, page, "08-viewer-us-cine")


def test_compressed_mr_and_photo(served: Served, page: Any) -> None:
    mr = served.library.study("MRT Schädel")
    served.retrieve(mr.study_instance_uid)
    _, t2 = served.series_of(mr.study_instance_uid)
    page.goto(f"/viewer/{t2}")
    page.wait_for_function("(document.getElementById('view').dataset.rendered || '') !== ''")
    assert pixels(page)["lit"] > 1000
    assert page.locator("#series-select option").count() == 2
    page.keyboard.press("PageDown")
    page.wait_for_function("() => (document.getElementById('view').dataset.rendered || '')"
                           ".startsWith(window.pacslinkViewer.stack[10].sop + ':')")
    assert "Im 11/20" in page.inner_text("#ov-bl")
    shot(served, page, "09-viewer-mr-jpeg2000")
    photo = served.library.study("皮膚科 写真")
    served.retrieve(photo.study_instance_uid)
    (series,) = served.series_of(photo.study_instance_uid)
    page.goto(f"/viewer/{series}")
    page.wait_for_function("(document.getElementById('view').dataset.rendered || '') !== ''")
    assert pixels(page)["colour"] > 1000
    assert "Yamada, Momo (山田 もも)" in page.inner_text("#ov-tl")
    shot(served, page, "10-viewer-photo")


def test_non_image_objects_show_their_attributes(served: Served, page: Any) -> None:
    reports = served.library.reports
    served.retrieve(reports["study"])
    page.goto(f"/viewer/{reports['kos_series']}")
    page.wait_for_selector("#attr-table")
    text = page.inner_text("#attrs")
    assert "This object has no image" in text and "1.2.840.10008.5.1.4.1.1.88.59" in text
    assert "Key Object Description" in text and "…" in text
    shot(served, page, "11-viewer-key-objects")
    page.goto(f"/viewer/{reports['ecg_series']}")
    page.wait_for_selector("#attr-table")
    assert "(binary data; not shown)" in page.inner_text("#attrs")


def test_store_filter_and_delete(served: Served, page: Any) -> None:
    served.retrieve(served.library.reports["study"])
    page.goto("/store")
    page.wait_for_selector("#store-table tbody tr[data-uid]")
    assert "on this computer" in page.inner_text("#store-summary")
    shot(served, page, "12-store")
    page.fill("#filter", "reports")
    rows = page.locator("#store-table tbody tr[data-uid]")
    assert rows.count() == 1
    rows.nth(0).locator("[data-action=delete]").click()
    page.wait_for_selector("dialog[open]")
    assert "cannot be undone" in page.inner_text("dialog")
    shot(served, page, "13-store-delete-dialog")
    page.click("dialog button.danger")
    page.wait_for_selector("#store-message .alert.ok")
    assert "Deleted REPORTS" in page.inner_text("#store-message")
    assert page.locator("#store-table tbody tr[data-uid]").count() == 0
    assert served.pacslink.study_detail(served.library.reports["study"]) is None


def test_settings_add_and_test_an_ae(served: Served, page: Any) -> None:
    page.goto("/settings")
    page.wait_for_selector("#ae-table tbody tr[data-ae=SAMPLEPACS]")
    assert page.inner_text("#local-aet") == "PACSLINK"
    page.fill("#f-name", "ARCHIVE")
    page.fill("#f-aet", "SAMPLEPACS")
    page.fill("#f-host", "127.0.0.1")
    page.fill("#f-port", "70000")
    page.click("#save-button")
    page.wait_for_selector("#form-error:not(.hidden)")
    assert page.inner_text("#form-error") == "Port: must be an integer 1-65535, got '70000'"
    page.fill("#f-port", str(served.pacslink.registry.get("SAMPLEPACS").port))
    page.fill("#f-description", "the same sample PACS, again")
    page.press("#f-description", "Enter")
    row = page.locator("#ae-table tbody tr[data-ae=ARCHIVE]")
    row.wait_for()
    row.locator("[data-action=test]").click()
    badge = row.locator(".echo-result .badge")
    badge.wait_for()
    assert badge.get_attribute("data-ok") == "true"
    assert badge.inner_text().startswith("OK · ") and badge.inner_text().endswith(" ms")
    shot(served, page, "14-settings", full_page=True)
    row.locator("[data-action=edit]").click()
    page.fill("#f-port", "1")
    page.click("#save-button")
    page.wait_for_selector("#aes-message .alert.ok")
    row.locator("[data-action=test]").click()
    page.wait_for_selector("tr[data-ae=ARCHIVE] .echo-result .badge.fail")
    row.locator("[data-action=remove]").click()
    page.click("dialog button.danger")
    page.wait_for_selector("#ae-table tbody tr[data-ae=ARCHIVE]", state="detached")
    assert [ae.name for ae in served.pacslink.remote_aes()] == ["SAMPLEPACS"]


def test_search_errors_api_page_and_narrow_screens(served: Served, page: Any) -> None:
    page.goto("/?patient_id=VET001&date=20251231-20250101")
    page.wait_for_selector("#form-error:not(.hidden)")
    assert "ends before it starts" in page.inner_text("#form-error")
    shot(served, page, "15-search-error")
    page.goto("/api")
    assert page.locator("#api-table tbody tr").count() > 15
    shot(served, page, "16-api", full_page=True)
    page.goto("/viewer/1.2.3.4.5")
    page.wait_for_selector("#message:has-text('not on this computer')")
    shot(served, page, "17-viewer-not-local")
    page.goto("/study/SAMPLEPACS/1.2.03")
    assert "is not a valid DICOM UID" in page.inner_text(".alert.error")
    shot(served, page, "17-error-page-bad-uid")
    page.set_viewport_size({"width": 700, "height": 900})
    page.goto("/?patient_id=VET002")
    page.wait_for_selector("#results-table tbody tr")
    shot(served, page, "18-search-narrow", full_page=True)
    page.goto("/store")
    page.wait_for_selector("#store-table tbody tr[data-uid]")
    shot(served, page, "19-store-narrow", full_page=True)
