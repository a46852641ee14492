"""``pacslink demo``: sample PACS + pacslink, walkthrough, and both kept running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
from typer.testing import CliRunner

from pacslink.cli.main import app
from pacslink.samples import ct_phantom_series
from tests.peers import free_port, stop


def test_demo_walkthrough_retrieves_from_the_sample_pacs(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"PACSLINK_PORT": str(free_port()), "COLUMNS": "80"}
    args = ["--home", str(tmp_path), "demo", "--exit", "--quick", "--pacs-port", str(free_port())]
    first = runner.invoke(app, args, env=env)
    assert first.exit_code == 0, first.output
    assert "pacslink echo SAMPLEPACS: OK" in first.stdout
    assert "complete:" in first.stdout and "INCOMPLETE" not in first.stdout
    listing = json.loads(runner.invoke(app, ["--home", str(tmp_path / "demo"), "store", "list",
                                             "--json"]).stdout)
    assert [s["patient_id"] for s in listing] == ["VET001"]
    assert listing[0]["study_instance_uid"] in first.stdout  # whole UID, copyable
    again = runner.invoke(app, args, env=env)  # samples and PACS reused; still works
    assert again.exit_code == 0, again.output
    verify = runner.invoke(app, ["--home", str(tmp_path / "demo"), "store", "verify"])
    assert verify.exit_code == 0, verify.output


def test_demo_keeps_running_for_find_and_retrieve(tmp_path: Path) -> None:
    port, pacs_port, web_port = free_port(), free_port(), free_port()
    env = {**os.environ, "PACSLINK_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pacslink", "--home", str(tmp_path), "demo", "--quick",
         "--pacs-port", str(pacs_port), "--port", str(web_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "Press Ctrl+C" in line or time.monotonic() > deadline:
                break
        assert any("Press Ctrl+C" in line for line in seen), "".join(seen)
        url = f"http://127.0.0.1:{web_port}/"
        assert any(url in line for line in seen), "".join(seen)
        import urllib.request

        with urllib.request.urlopen(url, timeout=10) as page:  # the search page
            assert page.status == 200 and b"SAMPLEPACS" in page.read()
        runner = CliRunner()
        home = ["--home", str(tmp_path / "demo")]
        found = runner.invoke(app, [*home, "find", "--patient-id", "VET002", "--json"])
        assert found.exit_code == 0, found.output
        studies = json.loads(found.stdout)["results"]
        assert studies and studies[0]["aes"] == ["SAMPLEPACS"]
        done = runner.invoke(app, [*home, "retrieve", "--patient-id", "VET002", "--json"])
        assert done.exit_code == 0, done.output
        assert all(r["complete"] for r in json.loads(done.stdout)["retrieves"])
    finally:
        stop(proc)
    assert proc.returncode == 0


def test_phantom_has_real_hounsfield_units(tmp_path: Path) -> None:
    slices = list(ct_phantom_series(slices=5, size=64))
    middle = slices[2]
    path = tmp_path / "m.dcm"
    middle.save_as(path, enforce_file_format=True)
    ds = pydicom.dcmread(path)
    hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert hu[0, 0] == -1000  # air outside the head
    assert 20 <= hu[40, 32] <= 80  # brain tissue
    assert hu.max() >= 800  # skull
    assert len({s.SOPInstanceUID for s in slices}) == 5
    assert [s.InstanceNumber for s in slices] == [1, 2, 3, 4, 5]


def test_demo_says_which_port_option_to_change(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        runner = CliRunner()
        result = runner.invoke(app, ["--home", str(tmp_path), "demo", "--exit", "--quick",
                                     "--pacs-port", str(taken)],
                               env={"PACSLINK_PORT": str(free_port())})
        assert result.exit_code == 1
        assert f"port {taken} is in use" in result.output and "--pacs-port" in result.output
        result = runner.invoke(app, ["--home", str(tmp_path), "demo", "--exit", "--quick",
                                     "--pacs-port", str(free_port())],
                               env={"PACSLINK_PORT": str(taken)})
        assert result.exit_code == 1
        assert "PACSLINK_PORT" in result.output and "Traceback" not in result.output
