"""The JSON API in process (httpx ASGI transport) against the in-process sample PACS."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from pacslink import imaging
from pacslink.api import Pacslink
from pacslink.models import RemoteAE
from pacslink.web import run_web
from tests.peers import free_port
from tests.web.conftest import Env, Library, web_env


def lines(body: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


async def retrieve(env: Env, study_uid: str, **extra: Any) -> dict[str, Any]:
    """Start a retrieve and wait until it is done; return the final job."""
    job = await env.json("POST", "/api/retrieves", 202,
                         json={"ae": "SAMPLEPACS", "study_instance_uid": study_uid, **extra})
    assert job["state"] in ("queued", "running") and job["id"]
    deadline = time.monotonic() + 30
    while not job["done"]:
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.05)
        job = await env.json("GET", f"/api/retrieves/{job['id']}")
    return job


# --- search ------------------------------------------------------------------------------


async def test_search_streams_each_ae_as_it_answers(tmp_path: Path, pacs_home: Path,
                                                    library: Library) -> None:
    """Over real HTTP: SAMPLEPACS's studies arrive long before the silent AE times out."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the TCP connection, never answers the association
    async with web_env(tmp_path, pacs_home, library, query_timeout=1) as env:
        silent_port = silent.getsockname()[1]
        env.pacslink.registry.add(RemoteAE("SILENT", "SILENT", "127.0.0.1", silent_port))
        env.pacslink.registry.add(RemoteAE("DOWN", "DOWN", "127.0.0.1", free_port()))
        port = free_port()
        ready = asyncio.Event()
        server = asyncio.create_task(run_web(env.pacslink, "127.0.0.1", port, ready=ready,
                                             listen=False))
        await asyncio.wait_for(ready.wait(), 10)
        seen: list[tuple[float, dict[str, Any]]] = []
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                start = time.monotonic()
                async with http.stream("GET", "/api/search/stream",
                                       params={"patient_id": "VET001"}) as response:
                    assert response.status_code == 200
                    assert response.headers["content-type"].startswith("application/x-ndjson")
                    async for line in response.aiter_lines():
                        if line.strip():
                            seen.append((time.monotonic() - start, json.loads(line)))
        finally:
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)
            silent.close()
    kinds = [item["type"] for _, item in seen]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert seen[0][1]["aes"] == ["SAMPLEPACS", "SILENT", "DOWN"]
    matches = [(t, item) for t, item in seen if item["type"] == "match"]
    assert {m["study"]["StudyDescription"] for _, m in matches} == {"CT HEAD", "THORAX RADIOGRAPHS"}
    assert all(m["ae"] == "SAMPLEPACS" and m["study"]["local"] is False for _, m in matches)
    per_ae = {item["ae"]: (t, item) for t, item in seen if item["type"] == "ae"}
    assert per_ae["SAMPLEPACS"][1]["state"] == "ok" and per_ae["SAMPLEPACS"][1]["matches"] == 2
    assert per_ae["DOWN"][1]["state"] == "failed" and "cannot connect" in per_ae["DOWN"][1]["error"]
    assert per_ae["SILENT"][1] | {"seconds": 0} == {
        "type": "ae", "ae": "SILENT", "state": "timeout", "ok": False,
        "error": "timed out after 1 s", "matches": 0, "seconds": 0}
    # streamed: the matches and SAMPLEPACS's line came well before SILENT gave up
    assert max(t for t, _ in matches) < per_ae["SILENT"][0] - 0.5
    assert per_ae["SAMPLEPACS"][0] < per_ae["SILENT"][0] - 0.5


async def test_search_json_merges_and_marks_local_studies(env: Env) -> None:
    ct = env.library.study("CT HEAD")
    await asyncio.to_thread(env.pacslink.import_paths, [ct.folder])
    found = await env.json("GET", "/api/search", params={"patient_id": "VET001", "modality": "ct"})
    assert [a["ae"] for a in found["aes"]] == ["SAMPLEPACS"] and found["aes"][0]["ok"]
    (study,) = found["studies"]
    assert study["StudyInstanceUID"] == ct.study_instance_uid
    assert study["aes"] == ["SAMPLEPACS"] and study["local"] is True
    assert study["NumberOfStudyRelatedInstances"] == str(ct.instance_count)
    dated = await env.json("GET", "/api/search", params={"patient_name": "Rex*",
                                                         "date": "20250601-20250610"})
    assert [s["StudyDescription"] for s in dated["studies"]] == ["THORAX RADIOGRAPHS"]


@pytest.mark.parametrize(("params", "status", "message"), [
    ({}, 422, "type a Patient ID (or a patient's name) to search for"),
    ({"patient_id": "VET*"}, 422, "Patient ID matches one patient exactly"),
    ({"patient_id": "VET001", "date": "2025-01-01"}, 422, "date '2025-01-01' is not understood"),
    ({"patient_id": "VET001", "date": "20251301"}, 422, "date 20251301 is not a calendar date"),
    ({"patient_id": "VET001", "date": "20251231-20250101"}, 422, "ends before it starts"),
    ({"patient_id": "VET001", "modality": "C T!"}, 422, "is not a modality code"),
    ({"patient_id": "VET001", "ae": "NOPE"}, 404, "no remote AE named 'NOPE'"),
    ({"patient_id": "A\\B"}, 400, "Patient ID holds a backslash"),
    ({"patient_id": "x" * 65}, 422, "patient_id: String should have at most 64 characters"),
])
async def test_search_input_is_validated_in_words(env: Env, params: dict[str, str], status: int,
                                                  message: str) -> None:
    for path in ("/api/search", "/api/search/stream"):
        response = await env.http.get(path, params=params)
        assert response.status_code == status, response.text
        assert set(response.json()) == {"detail"}
        assert message in response.json()["detail"], response.json()


async def test_search_without_any_ae_says_where_to_add_one(tmp_path: Path) -> None:
    from pacslink.web import build_app

    app = build_app(Pacslink.from_home(tmp_path, flags={"min_free_mb": 1}, environ={}),
                    listen=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/api/search", params={"patient_id": "VET001"})
    assert response.status_code == 400
    assert response.json()["detail"] == ("no remote AEs are configured yet; add your PACS on "
                                         "the Settings page")


# --- study, retrieve, viewer -----------------------------------------------------------


async def test_retrieve_job_completes_with_counts_and_the_viewer_reads_the_series(env: Env) -> None:
    ct = env.library.study("CT HEAD")
    study = await env.json("GET", f"/api/studies/SAMPLEPACS/{ct.study_instance_uid}")
    assert study["found"] and study["error"] is None and study["local"] is False
    assert study["study"]["PatientID"] == "VET001"
    (series,) = study["series"]
    assert (series["modality"], series["remote_count"], series["local_count"]) == ("CT", 20, 0)

    job = await retrieve(env, ct.study_instance_uid, patient_id="VET001")
    assert job["state"] == "complete", job
    assert job["counts"]["expected"] == job["counts"]["arrived"] == 20
    assert job["counts"]["missing"] == 0 and job["counts"]["completed"] == 20
    assert job["method"] == "move" and job["error"] is None
    events = await env.http.get(f"/api/retrieves/{job['id']}/events")
    assert events.headers["content-type"].startswith("text/event-stream")
    assert "event: done\ndata: " in events.text and '"state": "complete"' in events.text
    assert (await env.json("GET", "/api/retrieves"))[0]["id"] == job["id"]
    retry = await env.http.post(f"/api/retrieves/{job['id']}/retry")
    assert retry.status_code == 409 and "nothing is missing" in retry.json()["detail"]

    again = await env.json("GET", f"/api/studies/SAMPLEPACS/{ct.study_instance_uid}")
    assert again["local"] and again["series"][0]["local_count"] == 20
    assert again["series"][0]["thumbnail_sop_instance_uid"]

    viewer = await env.json("GET", f"/api/series/{series['series_instance_uid']}")
    assert viewer["receiving"] is False and viewer["study"]["patient_name"] == "Rex^Demo"
    instances = viewer["series"]["instances"]
    assert [i["instance_number"] for i in instances] == list(range(1, 21))
    first = instances[0]
    assert (first["rows"], first["columns"], first["frames"], first["image"]) == (256, 256, 1, True)

    info = await env.json("GET", f"/api/instances/{first['sop_instance_uid']}")
    display = info["display"]
    assert display["kind"] == "grey" and display["photometric"] == "MONOCHROME2"
    assert {"name": "Lung", "center": -600.0, "width": 1500.0} in display["presets"]

    middle = instances[10]["sop_instance_uid"]
    response = await env.http.get(f"/api/instances/{middle}/frames/0/values")
    assert response.status_code == 200
    rows, columns = int(response.headers["x-rows"]), int(response.headers["x-columns"])
    kind = response.headers["x-pixel-type"]
    assert (rows, columns, kind) == (256, 256, "int16")
    values = np.frombuffer(response.content, dtype="<i2").reshape(rows, columns)
    path = env.pacslink.instance_file(middle)
    assert path is not None
    expected = imaging.grey_frame(path[1], 0)
    assert np.array_equal(values.astype(np.float32), expected)
    assert float(response.headers["x-min"]) == expected.min() == -1000.0  # air, in HU
    assert float(response.headers["x-max"]) == expected.max()

    thumb = await env.http.get(f"/api/instances/{middle}/thumbnail.png", params={"size": 64})
    assert thumb.headers["content-type"] == "image/png" and thumb.content[:4] == b"\x89PNG"
    missing = await env.http.get(f"/api/instances/{middle}/frames/1/values")
    assert missing.status_code == 404 and "frame 1 does not exist" in missing.json()["detail"]


async def test_colour_and_cine_frames(env: Env) -> None:
    us = env.library.study("ECHOCARDIOGRAPHY")
    job = await retrieve(env, us.study_instance_uid)
    assert job["state"] == "complete"
    detail = env.pacslink.study_detail(us.study_instance_uid)
    assert detail is not None
    (series,) = detail.series
    listed = await env.json("GET", f"/api/series/{series.series_instance_uid}")
    (cine,) = listed["series"]["instances"]
    assert cine["frames"] == 10
    info = (await env.json("GET", f"/api/instances/{cine['sop_instance_uid']}"))["display"]
    assert info["kind"] == "rgb" and info["frames"] == 10 and info["frame_time_ms"]
    png = await env.http.get(f"/api/instances/{cine['sop_instance_uid']}/frames/9.png")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    grey = await env.http.get(f"/api/instances/{cine['sop_instance_uid']}/frames/0/values")
    assert grey.status_code == 422 and "colour" in grey.json()["detail"]


async def test_non_image_objects_show_an_attribute_table(env: Env) -> None:
    reports = env.library.reports
    job = await retrieve(env, reports["study"])
    assert job["state"] == "complete" and job["counts"]["arrived"] == 2
    await asyncio.to_thread(env.pacslink.import_paths, [env.library.pdf])
    for key, series_key in (("kos", "kos_series"), ("ecg", "ecg_series"), ("pdf", "pdf_series")):
        listed = await env.json("GET", f"/api/series/{reports[series_key]}")
        (item,) = listed["series"]["instances"]
        assert item["image"] is False and listed["series"]["thumbnail_sop_instance_uid"] is None
        info = await env.json("GET", f"/api/instances/{reports[key]}")
        assert info["display"]["kind"] == "none"
        values = await env.http.get(f"/api/instances/{reports[key]}/frames/0/values")
        assert values.status_code == 422 and "no image" in values.json()["detail"]
    table = (await env.json("GET", f"/api/instances/{reports['kos']}/attributes"))["rows"]
    by_keyword = {row["keyword"]: row for row in table}
    assert by_keyword["SOPClassUID"] | {"depth": 0} == {
        "keyword": "SOPClassUID", "tag": "(0008,0016)", "vr": "UI",
        "value": "1.2.840.10008.5.1.4.1.1.88.59", "depth": 0}
    assert by_keyword["TransferSyntaxUID"]["tag"] == "(0002,0010)"
    assert by_keyword["ContentSequence"]["value"] == "sequence of 1 item"
    text = by_keyword["TextValue"]
    assert text["depth"] == 2 and text["value"].endswith("…") and len(text["value"]) == 201
    wave = (await env.json("GET", f"/api/instances/{reports['ecg']}/attributes"))["rows"]
    assert {"keyword": "WaveformData", "tag": "(5400,1010)", "vr": "OW",
            "value": "(binary data; not shown)", "depth": 2} in wave
    pdf = (await env.json("GET", f"/api/instances/{reports['pdf']}/attributes"))["rows"]
    (document,) = [r for r in pdf if r["keyword"] == "EncapsulatedDocument"]
    assert document["value"] == "(binary data; not shown)"
    assert "%PDF" not in json.dumps(pdf)


# --- local store -----------------------------------------------------------------------------


async def test_delete_removes_files_and_index_rows(env: Env) -> None:
    dx, photo = env.library.study("THORAX RADIOGRAPHS"), env.library.study("CLINICAL PHOTOS")
    await asyncio.to_thread(env.pacslink.import_paths, [dx.folder, photo.folder])
    listed = await env.json("GET", "/api/local/studies")
    assert (listed["patients"], listed["studies_count"], listed["instances"]) == (2, 2, 3)
    detail = env.pacslink.study_detail(dx.study_instance_uid)
    assert detail is not None
    files = [env.pacslink.store.path_of(i) for s in detail.series for i in s.instances]
    assert len(files) == 2 and all(f.is_file() for f in files)
    one = await env.json("GET", f"/api/local/studies/{dx.study_instance_uid}")
    assert one["study"]["instance_count"] == 2 and one["series"][0]["local_count"] == 2

    deleted = await env.json("DELETE", f"/api/local/studies/{dx.study_instance_uid}")
    assert deleted == {"study_instance_uid": dx.study_instance_uid, "deleted_instances": 2}
    assert not any(f.exists() for f in files)
    assert [s.study_instance_uid for s in env.pacslink.list_studies()] == [photo.study_instance_uid]
    assert env.pacslink.list_studies("VET001") == []  # the patient went with its last study
    assert env.pacslink.verify_store().ok
    again = await env.http.delete(f"/api/local/studies/{dx.study_instance_uid}")
    assert again.status_code == 404 and "holds no study" in again.json()["detail"]
    gone = await env.http.get(f"/api/local/studies/{dx.study_instance_uid}")
    assert gone.status_code == 404


# --- settings ------------------------------------------------------------------------------


async def test_settings_add_edit_test_remove(env: Env) -> None:
    settings = await env.json("GET", "/api/settings")
    assert settings["local"]["ae_title"] == "PACSLINK" and settings["local"]["listening"] is True
    assert [a["name"] for a in settings["aes"]] == ["SAMPLEPACS"]

    body = {"name": "PACS2", "ae_title": " SAMPLEPACS ", "host": "127.0.0.1", "port": "1",
            "description": "second copy"}
    added = await env.json("POST", "/api/aes", 201, json=body)
    assert added == {"name": "PACS2", "ae_title": "SAMPLEPACS", "host": "127.0.0.1", "port": 1,
                     "retrieve": "auto", "description": "second copy",
                     "address": "SAMPLEPACS@127.0.0.1:1", "tls": False}
    failed = await env.json("POST", "/api/aes/PACS2/echo")
    assert failed["ok"] is False and failed["round_trip_ms"] is None and failed["error"]

    edited = await env.json("PATCH", "/api/aes/pacs2", json={"port": env.pacs_port,
                                                             "retrieve": "get"})
    assert (edited["name"], edited["port"], edited["retrieve"]) == ("PACS2", env.pacs_port, "get")
    echo = await env.json("POST", "/api/aes/PACS2/echo")
    assert echo["ok"] is True and echo["status"] == 0 and 0 < echo["round_trip_ms"] < 5000
    secured = await env.json("PATCH", "/api/aes/PACS2", json={"tls": True})
    assert secured["tls"] is True and env.pacslink.registry.get("PACS2").tls is True
    plain = await env.json("PATCH", "/api/aes/PACS2", json={"tls": False})
    assert plain["tls"] is False and env.pacslink.registry.get("PACS2").tls is False
    renamed = await env.json("PATCH", "/api/aes/PACS2", json={"name": "PACS3"})
    assert renamed["name"] == "PACS3"
    assert [a.name for a in env.pacslink.remote_aes()] == ["SAMPLEPACS", "PACS3"]

    removed = await env.json("DELETE", "/api/aes/PACS3")
    assert removed["removed"] == "PACS3" and removed["ae"]["port"] == env.pacs_port
    assert [a["name"] for a in await env.json("GET", "/api/aes")] == ["SAMPLEPACS"]


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"port": 70000}, 400, "Port: must be an integer 1-65535, got 70000"),
    ({"port": "abc"}, 400, "Port: must be an integer 1-65535, got 'abc'"),
    ({"ae_title": "ABCDEFGHIJKLMNOPQ"}, 400,
     "AE title: AE title 'ABCDEFGHIJKLMNOPQ' is 17 characters long"),
    ({"host": "not a host"}, 400, "Host: must be a host name or IP address"),
    ({"name": "bad name!"}, 400, "AE name 'bad name!' is not valid"),
    ({"name": "samplepacs"}, 400, "a remote AE named 'SAMPLEPACS' already exists"),
    ({"retrieve": "fax"}, 422, "retrieve: Input should be 'move', 'get' or 'auto'"),
    ({"host": None}, 422, "host: "),
])
async def test_settings_are_validated_like_the_cli(env: Env, body: dict[str, Any], status: int,
                                                   message: str) -> None:
    full = {"name": "NEW", "ae_title": "NEWAE", "host": "127.0.0.1", "port": 104, **body}
    if body.get("host", "") is None:
        del full["host"]
    response = await env.http.post("/api/aes", json=full)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"], response.json()
    assert [a.name for a in env.pacslink.remote_aes()] == ["SAMPLEPACS"]


async def test_unknown_ae_names_are_404_with_the_known_ones(env: Env) -> None:
    for method, url in (("GET", "/api/aes/NOPE"), ("PATCH", "/api/aes/NOPE"),
                        ("DELETE", "/api/aes/NOPE"), ("POST", "/api/aes/NOPE/echo"),
                        ("GET", "/api/studies/NOPE/1.2.3")):
        response = await env.http.request(method, url, json={} if method == "PATCH" else None)
        assert response.status_code == 404, (url, response.text)
        assert response.json()["detail"].startswith("no remote AE named 'NOPE'"), response.json()
    response = await env.http.post("/api/retrieves",
                                   json={"ae": "NOPE", "study_instance_uid": "1.2"})
    assert response.status_code == 404


# --- validation and errors ---------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "/api/series/1.02.3", "/api/local/studies/1..2", "/api/instances/abc",
    "/api/instances/1.2.x/frames/0/values", "/api/studies/SAMPLEPACS/1.2.3.",
])
async def test_bad_uids_are_refused_with_the_rule(env: Env, url: str) -> None:
    response = await env.http.get(url)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "is not a valid DICOM UID: numbers separated by dots, no leading zeros" in detail


async def test_retrieve_body_is_validated(env: Env) -> None:
    cases = [
        ({"ae": "SAMPLEPACS", "study_instance_uid": "1.2.03"},
         "study_instance_uid: Study Instance UID '1.2.03' is not a valid DICOM UID"),
        ({"ae": "SAMPLEPACS"}, "study_instance_uid: is required"),
        ({"ae": "SAMPLEPACS", "study_instance_uid": "1.2", "sop_instance_uids": ["1.3"]},
         "sop_instance_uids need series_instance_uid"),
        ({"ae": "SAMPLEPACS", "study_instance_uid": "1." + "1" * 70}, "a DICOM UID has at most 64"),
        ({"ae": "SAMPLEPACS", "study_instance_uid": "1.2", "retries": 9},
         "retries: Input should be less than or equal to 5"),
    ]
    for body, message in cases:
        response = await env.http.post("/api/retrieves", json=body)
        assert response.status_code == 422, response.text
        assert message in response.json()["detail"], response.json()
    broken = await env.http.post("/api/retrieves", content=b"{not json",
                                 headers={"content-type": "application/json"})
    assert broken.status_code == 422 and "not valid JSON" in broken.json()["detail"]
    unknown = await env.http.get("/api/retrieves/nope")
    assert unknown.status_code == 404 and "no retrieve 'nope'" in unknown.json()["detail"]


async def test_a_failed_retrieve_says_why(env: Env) -> None:
    env.pacslink.registry.add(RemoteAE("DOWN", "DOWN", "127.0.0.1", free_port()))
    job = await env.json("POST", "/api/retrieves", 202,
                         json={"ae": "DOWN", "study_instance_uid": "1.2.3"})
    while not job["done"]:
        await asyncio.sleep(0.05)
        job = await env.json("GET", f"/api/retrieves/{job['id']}")
    assert job["state"] == "failed" and "cannot connect" in job["error"]


async def test_pages_render_and_errors_are_pages_without_tracebacks(env: Env) -> None:
    ct = env.library.study("CT HEAD")
    for url, text in (("/", "Patient ID"), ("/store", "Local store"), ("/settings", "Remote AEs"),
                      ("/api", "/api/search/stream"),
                      (f"/study/SAMPLEPACS/{ct.study_instance_uid}", "Retrieve study"),
                      (f"/study/{ct.study_instance_uid}", "Series"),
                      ("/viewer/1.2.3", "slice-slider")):
        response = await env.http.get(url)
        assert response.status_code == 200, (url, response.text)
        assert response.headers["content-type"].startswith("text/html")
        assert text in response.text, url
        assert "PACSLINK · DICOM port" in response.text
    for url, status, text in (("/study/NOPE/1.2.3", 404, "no remote AE named"),
                              ("/study/SAMPLEPACS/1.02", 422, "is not a valid DICOM UID"),
                              ("/nowhere", 404, "there is no page at /nowhere")):
        response = await env.http.get(url)
        assert response.status_code == status and text in response.text
        assert response.headers["content-type"].startswith("text/html")
        assert "Traceback" not in response.text
    static = await env.http.get("/static/viewer.js")
    assert static.status_code == 200 and "javascript" in static.headers["content-type"]
    nowhere = await env.http.get("/api/nowhere")
    assert nowhere.json() == {"detail": "there is no page at /api/nowhere"}


async def test_openapi_documents_the_api_and_docs_need_no_cdn(env: Env) -> None:
    schema = await env.json("GET", "/openapi.json")
    paths = schema["paths"]
    for path in ("/api/search", "/api/search/stream", "/api/retrieves", "/api/retrieves/{job_id}",
                 "/api/retrieves/{job_id}/events", "/api/local/studies/{study_instance_uid}",
                 "/api/instances/{sop_instance_uid}/frames/{frame}/values", "/api/aes/{name}/echo"):
        assert path in paths, path
    assert "RetrieveIn" in schema["components"]["schemas"]
    assert "/" not in paths and "/viewer/{series_instance_uid}" not in paths  # pages are not API
    assert (await env.http.get("/docs")).status_code == 404
    page = await env.http.get("/api")
    assert "cdn" not in page.text.lower() and "/openapi.json" in page.text


async def test_internal_errors_are_500_in_words(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(env.pacslink, "list_studies", broken)
    response = await env.http.get("/api/local/studies")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error in pacslink; the details are in the "
                                         "server's log"}
    page = await env.http.get("/store")
    assert page.status_code == 200  # the page itself loads; its script shows the error


async def test_an_incomplete_retrieve_can_retry_the_missing_images(env: Env) -> None:
    """A PACS that answers Success while every sub-operation failed; then a working one."""
    from pacslink.api import Quirks

    from tests.web.conftest import open_pacs

    dx = env.library.study("THORAX RADIOGRAPHS")
    liar = open_pacs(env.pacs.settings.home, env.pacslink.settings.port)
    server = await liar.start_pacs(Quirks(success_all_failed=True))
    try:
        env.pacslink.registry.edit("SAMPLEPACS", port=server.port)
        job = await retrieve(env, dx.study_instance_uid)
    finally:
        await server.close()
        liar.close()
    assert job["state"] == "incomplete", job
    assert job["counts"]["missing"] == 2 and job["counts"]["arrived"] == 0
    assert len(job["missing"]) == 2 and job["error"] is None

    env.pacslink.registry.edit("SAMPLEPACS", port=env.pacs_port)  # the PACS is fixed
    retry = await env.json("POST", f"/api/retrieves/{job['id']}/retry", 202)
    assert retry["retry_of"] == job["id"] and retry["level"] == "IMAGE"
    while not retry["done"]:
        await asyncio.sleep(0.05)
        retry = await env.json("GET", f"/api/retrieves/{retry['id']}")
    assert retry["state"] == "complete", retry
    assert retry["counts"]["expected"] == retry["counts"]["arrived"] == 2
    detail = env.pacslink.study_detail(dx.study_instance_uid)
    assert detail is not None
    assert {i.sop_instance_uid for s in detail.series for i in s.instances} == set(job["missing"])


async def test_requests_from_other_web_sites_are_refused(env: Env) -> None:
    body = {"name": "EVIL", "ae_title": "EVIL", "host": "127.0.0.1", "port": 104}
    evil = await env.http.post("/api/aes", json=body, headers={"origin": "http://evil.example"})
    assert evil.status_code == 403 and "another web site" in evil.json()["detail"]
    deleted = await env.http.delete("/api/aes/SAMPLEPACS",
                                    headers={"origin": "http://evil.example"})
    assert deleted.status_code == 403
    ours = await env.http.post("/api/aes", json=body, headers={"origin": "http://pacslink.test"})
    assert ours.status_code == 201
    assert [a.name for a in env.pacslink.remote_aes()] == ["SAMPLEPACS", "EVIL"]
    read = await env.http.get("/api/aes", headers={"origin": "http://evil.example"})
    assert read.status_code == 200 and "access-control-allow-origin" not in read.headers
