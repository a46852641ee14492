"""``pacslink demo`` runs the whole receive-and-store job on generated sample data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
from typer.testing import CliRunner

from pacslink.cli.main import app
from pacslink.samples import ct_phantom_series


def test_demo_stores_the_samples_and_is_repeatable(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["--home", str(tmp_path), "demo"])
    assert first.exit_code == 0, first.output
    assert "48 of 48 images stored" in first.output
    listing = runner.invoke(app, ["--home", str(tmp_path / "demo"), "store", "list", "--json"])
    studies = json.loads(listing.output)
    assert sorted((s["patient_id"], s["instances"]) for s in studies) == [("VET001", 24), ("VET002", 24)]
    again = runner.invoke(app, ["--home", str(tmp_path), "demo"])
    assert again.exit_code == 0, again.output
    verify = runner.invoke(app, ["--home", str(tmp_path / "demo"), "store", "verify"])
    assert verify.exit_code == 0, verify.output


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


def test_demo_output_leads_to_the_next_steps(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["--home", str(tmp_path), "demo"], env={"COLUMNS": "80"})
    assert first.exit_code == 0, first.output
    listing = runner.invoke(app, ["--home", str(tmp_path / "demo"), "store", "list", "--json"])
    uids = [s["study_instance_uid"] for s in json.loads(listing.output)]
    assert len(uids) == 2
    lines = first.stdout.splitlines()
    for uid in uids:  # whole, so "store show UID" can be copied from the listing
        assert any(uid in line for line in lines), first.stdout
    next_steps = first.stdout[first.stdout.index("Next:"):]
    assert f"--home {tmp_path / 'demo'} listen --bind 0.0.0.0" in next_steps, next_steps
    assert "port 11112" in next_steps and "--port" not in next_steps, next_steps
    assert f"store show {uids[0]}" in next_steps or f"store show {uids[1]}" in next_steps

    again = runner.invoke(app, ["--home", str(tmp_path), "demo"], env={"COLUMNS": "80"})
    assert again.exit_code == 0, again.output
    assert "48 images already in the store (duplicates kept)" in again.stdout, again.stdout
    assert "stored durably" not in again.stdout, again.stdout
