"""``pacslink serve``: one process with the web UI and the Storage SCP; clean errors."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pacslink.api import Pacslink
from pacslink.web import run_web
from tests.peers import free_port, stop


def _start(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PACSLINK_HOME": str(home), "PACSLINK_MIN_FREE_MB": "1",
           "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "pacslink", "serve", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_runs_web_and_scp_until_stopped(tmp_path: Path, stop_signal: int) -> None:
    web, dicom = free_port(), free_port()
    (tmp_path / "pacslink.toml").write_text(f"[settings]\nport = {dicom}\n")
    proc = _start(tmp_path, "--port", str(web))
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.strip() == (f"pacslink web UI at http://127.0.0.1:{web}/ — receiving as "
                                 f"PACSLINK on DICOM port {dicom}. Press Ctrl+C to stop.")
        page = httpx.get(f"http://127.0.0.1:{web}/settings", timeout=10)
        assert page.status_code == 200 and f"DICOM port {dicom} · receiving" in page.text
        me = Pacslink.from_home(tmp_path / "other", environ={})
        echo = asyncio.run(me.echo(f"PACSLINK@127.0.0.1:{dicom}"))
        assert echo.ok  # the same process answers C-ECHO
        proc.send_signal(stop_signal)
        out, _ = proc.communicate(timeout=15)
    finally:
        stop(proc)  # type: ignore[arg-type]
    assert proc.returncode == 0, out
    assert out.strip().endswith("Stopped.") and "Traceback" not in out


def test_serve_says_when_the_web_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = _start(tmp_path, "--port", str(port))
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert out.strip() == (f"error: web port {port} is in use (is another pacslink serve "
                           "running?); choose another with --port")


def test_serve_rejects_a_bad_port(tmp_path: Path) -> None:
    proc = _start(tmp_path, "--port", "99999")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "--port: must be an integer 1-65535, got '99999'" in out


async def test_web_ui_stays_up_when_the_dicom_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        dicom = busy.getsockname()[1]
        app = Pacslink.from_home(tmp_path, flags={"port": dicom, "min_free_mb": 1}, environ={})
        web = free_port()
        ready = asyncio.Event()
        task = asyncio.create_task(run_web(app, "127.0.0.1", web, ready=ready))
        await asyncio.wait_for(ready.wait(), 10)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web}") as http:
                settings = (await http.get("/api/settings")).json()["local"]
                page = await http.get("/")
        finally:
            task.cancel()
            started = time.monotonic()
            await asyncio.gather(task, return_exceptions=True)
            assert time.monotonic() - started < 5
    assert settings["listening"] is False
    assert settings["listener_error"] == (
        f"port {dicom} is in use (is another pacslink or DICOM server running?); set another "
        "DICOM port (setting 'port' in pacslink.toml, or PACSLINK_PORT)")
    assert "Receiving is off." in page.text and "not receiving" in page.text


async def test_run_web_inside_a_program_that_already_receives(tmp_path: Path) -> None:
    """``pacslink demo`` runs its own Storage SCP, then the web UI in the same loop."""
    app = Pacslink.from_home(tmp_path, flags={"port": free_port(), "min_free_mb": 1}, environ={})
    listener = await app.start_listener()
    try:
        ready = asyncio.Event()
        task = asyncio.create_task(run_web(app, "127.0.0.1", free_port(), ready=ready))
        await asyncio.wait_for(ready.wait(), 10)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert app.listening  # the web UI neither started a second SCP nor stopped ours
        echo = await Pacslink.from_home(tmp_path / "other", environ={}).echo(
            f"PACSLINK@127.0.0.1:{app.settings.port}")
        assert echo.ok
    finally:
        await listener.close()
