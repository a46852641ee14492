"""``pacslink echo``, ``send``, ``listen`` and ``store`` as a user runs them, against real peers.

In-process runs use Typer's ``CliRunner`` on the real app; ``pacslink listen`` runs as a
subprocess (``python -m pacslink``) and is stopped with SIGTERM like a service manager
would; the peers are DCMTK's ``storescp`` and ``storescu``.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from typer.testing import CliRunner, Result

from pacslink.aeregistry import AERegistry
from pacslink.cli.main import app
from tests.factory import make_ct
from tests.peers import (
    CLEAN_ENV,
    DCMTK_ENV,
    allow_callers,
    dcmtk_server,
    free_port,
    require,
    wait_for_port,
)

pytestmark = [pytest.mark.interop, pytest.mark.filterwarnings("ignore:The (PN component|value) length")]


class Cli:
    """``pacslink --home <home> ...`` in process."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        result = self.runner.invoke(app, ["--home", str(self.home), *args])
        assert "Traceback" not in result.output, result.output
        return result

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "home")


def write_ct(path: Path, **attrs: object) -> Dataset:
    ds = make_ct(rows=16, columns=16, **attrs)  # type: ignore[arg-type]
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return ds


@dataclass
class StoreSCP:
    port: int
    out_dir: Path


@pytest.fixture
def storescp(tmp_path: Path) -> Iterator[StoreSCP]:
    port = free_port()
    out_dir = tmp_path / "storescp-out"
    out_dir.mkdir()
    with dcmtk_server(["storescp", "-aet", "STORESCP", "-od", str(out_dir), str(port)],
                      port, tmp_path):
        yield StoreSCP(port, out_dir)


def dead_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


# --- pacslink echo ----------------------------------------------------------------------


def test_echo_configured_ae_and_address(cli: Cli, storescp: StoreSCP) -> None:
    cli.ok("ae", "add", "SCP1", "--aet", "STORESCP", "--host", "127.0.0.1",
           "--port", str(storescp.port))
    result = cli.ok("echo", "SCP1")
    (line,) = result.stdout.strip().splitlines()
    assert line.startswith("OK"), line
    assert "SCP1" in line and f"STORESCP@127.0.0.1:{storescp.port}" in line
    assert line.endswith(" ms") and float(line.split(":")[-1].removesuffix(" ms")) >= 0

    result = cli.ok("echo", f"STORESCP@127.0.0.1:{storescp.port}")
    (line,) = result.stdout.strip().splitlines()
    assert line.startswith("OK") and line.endswith(" ms"), line


def test_echo_all_with_a_dead_peer(cli: Cli, storescp: StoreSCP) -> None:
    dead = dead_port()
    cli.ok("ae", "add", "LIVE", "--aet", "STORESCP", "--host", "127.0.0.1",
           "--port", str(storescp.port))
    cli.ok("ae", "add", "DEAD", "--aet", "NOBODY", "--host", "127.0.0.1", "--port", str(dead))
    result = cli("echo", "--all")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2, lines
    ok = [line for line in lines if line.startswith("OK")]
    failed = [line for line in lines if line.startswith("FAIL")]
    assert len(ok) == 1 and "LIVE" in ok[0] and ok[0].endswith(" ms")
    assert len(failed) == 1 and "DEAD" in failed[0]
    assert f"127.0.0.1:{dead}" in failed[0]
    assert "cannot connect" in failed[0] and "refused" in failed[0].lower(), failed[0]

    result = cli("echo", "--all", "--json")
    assert result.exit_code == 1
    answers = {a["name"]: a for a in json.loads(result.stdout)}
    assert set(answers) == {"LIVE", "DEAD"}
    assert answers["LIVE"]["ok"] is True and answers["LIVE"]["status"] == 0
    assert answers["LIVE"]["round_trip_ms"] > 0
    assert answers["DEAD"]["ok"] is False and answers["DEAD"]["status"] is None
    assert answers["DEAD"]["address"] == f"NOBODY@127.0.0.1:{dead}" and answers["DEAD"]["error"]


def test_echo_json_single(cli: Cli, storescp: StoreSCP) -> None:
    result = cli.ok("echo", f"STORESCP@127.0.0.1:{storescp.port}", "--json")
    (answer,) = json.loads(result.stdout)
    assert answer["ok"] is True and answer["status"] == 0
    assert answer["address"] == f"STORESCP@127.0.0.1:{storescp.port}"


# --- pacslink send ----------------------------------------------------------------------


def make_folder(folder: Path) -> list[Dataset]:
    sent = [write_ct(folder / f"ct{i}.dcm") for i in range(2)]
    sent.append(write_ct(folder / "sub" / "deeper" / "ct2.dcm"))
    (folder / "sub" / "notes.txt").write_text("not DICOM\n")
    return sent


def test_send_folder_to_storescp(cli: Cli, storescp: StoreSCP, tmp_path: Path) -> None:
    sent = make_folder(tmp_path / "in")
    cli.ok("ae", "add", "SCP1", "--aet", "STORESCP", "--host", "127.0.0.1",
           "--port", str(storescp.port))
    result = cli.ok("send", "SCP1", str(tmp_path / "in"))
    assert "3 stored" in result.stdout and "1 skipped" in result.stdout, result.stdout
    assert "0 failed" in result.stdout
    assert "notes.txt" in result.stderr  # the skipped file is named
    received = {pydicom.dcmread(p).SOPInstanceUID for p in storescp.out_dir.iterdir()}
    assert received == {ds.SOPInstanceUID for ds in sent}


def test_send_json(cli: Cli, storescp: StoreSCP, tmp_path: Path) -> None:
    sent = make_folder(tmp_path / "in")
    result = cli.ok("send", f"STORESCP@127.0.0.1:{storescp.port}", str(tmp_path / "in"), "--json")
    report = json.loads(result.stdout)
    assert (report["sent"], report["failed"], report["skipped"]) == (3, 0, 1)
    assert len(report["files"]) == 3
    assert all(f["status"] == 0 and f["result"] == "success" for f in report["files"])
    assert {f["sop_instance_uid"] for f in report["files"]} == {ds.SOPInstanceUID for ds in sent}
    assert {Path(f["path"]).name for f in report["files"]} == {"ct0.dcm", "ct1.dcm", "ct2.dcm"}
    assert len(list(storescp.out_dir.iterdir())) == 3


def test_send_to_dead_port_fails_clearly(cli: Cli, tmp_path: Path) -> None:
    make_folder(tmp_path / "in")
    dead = dead_port()
    result = cli("send", f"NOBODY@127.0.0.1:{dead}", str(tmp_path / "in"))
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "3 failed" in result.stdout and "0 stored" in result.stdout, result.stdout
    assert f"127.0.0.1:{dead}" in " ".join(result.output.split()), result.output
    assert "refused" in result.output.lower(), result.output

    result = cli("send", f"NOBODY@127.0.0.1:{dead}", str(tmp_path / "in"), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["failed"] == 3 and report["sent"] == 0
    assert all(f["status"] is None and "cannot connect" in f["detail"] for f in report["files"])


# --- pacslink listen --------------------------------------------------------------------


@dataclass
class Listener:
    proc: subprocess.Popen[bytes]
    port: int
    home: Path
    stdout: Path
    stderr: Path

    def stop(self) -> tuple[str, str]:
        """SIGTERM; wait; return (stdout, stderr). Fails if it needed SIGKILL."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                pytest.fail("pacslink listen did not stop on SIGTERM")
        return self.output()

    def output(self) -> tuple[str, str]:
        return self.stdout.read_text(errors="replace"), self.stderr.read_text(errors="replace")


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    home = tmp_path / "home"
    port = free_port()
    allow_callers(AERegistry.for_home(home), "STORESCU")
    out, err = tmp_path / "listen.out", tmp_path / "listen.err"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pacslink", "--home", str(home), "listen", "--port", str(port)],
            stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, env=CLEAN_ENV,
        )
    try:
        wait_for_port(port, proc, timeout=20)
        yield Listener(proc, port, home, out, err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def storescu(port: int, *files: Path) -> None:
    require("storescu")
    done = subprocess.run(["storescu", "-aec", "PACSLINK", "127.0.0.1", str(port),
                           *map(str, files)],
                          capture_output=True, env=DCMTK_ENV, timeout=30, check=False)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


def test_listen_store_list_show_verify(listener: Listener, tmp_path: Path) -> None:
    cli = Cli(listener.home)
    study_uid = pydicom.uid.generate_uid()
    series_uid = pydicom.uid.generate_uid()
    files = [tmp_path / "in" / f"ct{i}.dcm" for i in range(2)]
    sent = [write_ct(f, study_instance_uid=study_uid, series_instance_uid=series_uid,
                     patient_id="PID42") for f in files]
    storescu(listener.port, *files)

    # Visible while the listener still runs: a success means it is in the index.
    studies = json.loads(cli.ok("store", "list", "--json").stdout)
    assert [(s["study_instance_uid"], s["instances"], s["patient_id"]) for s in studies] == [
        (study_uid, 2, "PID42")]

    stdout, stderr = listener.stop()
    assert listener.proc.returncode == 0, stderr
    assert "Stopped: 2 instances stored, 0 refused." in stderr, stderr
    assert "Traceback" not in stderr
    for ds in sent:
        assert f"stored {ds.SOPInstanceUID}" in stdout, stdout

    detail = json.loads(cli.ok("store", "show", study_uid, "--json").stdout)
    assert detail["study_instance_uid"] == study_uid
    instances = [i for series in detail["series"] for i in series["instances"]]
    assert {i["sop_instance_uid"] for i in instances} == {ds.SOPInstanceUID for ds in sent}
    for inst in instances:
        path = Path(inst["path"])
        assert path.is_file() and path.stat().st_size == inst["size"]
        assert path.is_relative_to(listener.home)
        assert pydicom.dcmread(path).SOPInstanceUID == inst["sop_instance_uid"]

    result = cli.ok("store", "verify")
    assert "2 instances checked" in result.stdout and "OK" in result.stdout

    victim = Path(instances[0]["path"])
    with open(victim, "ab") as fp:
        fp.write(b"\x00garbage appended")
    result = cli("store", "verify")
    assert result.exit_code == 1, result.stdout
    assert victim.name in result.stdout and instances[0]["sop_instance_uid"] in result.stdout
    assert Path(instances[1]["path"]).name not in result.stdout
    report = json.loads(cli("store", "verify", "--json").stdout)
    assert report["ok"] is False and report["checked"] == 2
    assert [i["sop_instance_uid"] for i in report["issues"]] == [instances[0]["sop_instance_uid"]]

    result = cli("store", "show", "1.2.3.999.888")
    assert result.exit_code == 1
    assert "1.2.3.999.888" in result.stderr and "pacslink store list" in result.stderr
    assert result.stdout == ""


def test_listen_sync_never_stores_and_bad_mode_is_refused(tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    done = subprocess.run(
        [sys.executable, "-m", "pacslink", "--home", str(home), "listen", "--port", str(port),
         "--sync", "sometimes"],
        capture_output=True, env=CLEAN_ENV, timeout=30, stdin=subprocess.DEVNULL, check=False,
    )
    assert done.returncode == 2  # a configuration error
    assert "--sync: must be one of 'durable', 'never', got 'sometimes'" in done.stderr.decode()
    allow_callers(AERegistry.for_home(home), "STORESCU")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pacslink", "--home", str(home), "listen", "--port", str(port),
         "--sync", "never"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=CLEAN_ENV,
    )
    try:
        wait_for_port(port, proc, timeout=20)
        ds = write_ct(tmp_path / "in" / "ct.dcm")
        storescu(port, tmp_path / "in" / "ct.dcm")
        studies = json.loads(Cli(home).ok("store", "list", "--json").stdout)
        assert [s["instances"] for s in studies] == [1]
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=10)
    assert f"stored {ds.SOPInstanceUID}" in stdout.decode()


def test_listen_on_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "pacslink", "--home", str(tmp_path / "home"), "listen",
             "--port", str(port)],
            capture_output=True, env=CLEAN_ENV, timeout=30, stdin=subprocess.DEVNULL, check=False,
        )
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "in use" in lines[0] and str(port) in lines[0]


def test_default_logs_carry_no_patient_data(listener: Listener, tmp_path: Path) -> None:
    secret = tmp_path / "in" / "secret.dcm"
    ds = write_ct(secret, patient_name="SECRET^NAME", patient_id="SECRETID")
    storescu(listener.port, secret)
    storescu(listener.port, secret)  # a duplicate is logged too
    # A value pydicom finds invalid (LO longer than 64) must not be echoed in a warning.
    odd = tmp_path / "in" / "odd.dcm"
    write_ct(odd, patient_name="SECRET^NAME^" + "X" * 70, patient_id="SECRETID" * 10)
    storescu(listener.port, odd)
    stdout, stderr = listener.stop()
    assert listener.proc.returncode == 0, stderr
    assert f"stored {ds.SOPInstanceUID}" in stdout
    for text in (stdout, stderr):
        assert "SECRET" not in text, text


@pytest.mark.parametrize("command", [["listen"], ["pacs", "serve"]])
def test_sigterm_as_soon_as_the_port_answers_stops_cleanly(tmp_path: Path,
                                                           command: list[str]) -> None:
    """A service manager may stop a server the moment it listens: exit 0, not killed."""
    for attempt in range(3):
        home, port = tmp_path / f"home{attempt}", free_port()
        args = [*command, "--port", str(port)]
        if command[0] == "pacs":
            (tmp_path / "empty").mkdir(exist_ok=True)
            args = [*command, str(tmp_path / "empty"), "--port", str(port)]
        proc = subprocess.Popen(
            [sys.executable, "-m", "pacslink", "--home", str(home), *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=CLEAN_ENV)
        wait_for_port(port, proc, timeout=20, interval=0.001)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr.decode()


def test_store_verify_mentions_the_quarantine(cli: Cli) -> None:
    """Files a crash left without a row are not a problem, but a person should see them."""
    cli.ok("store", "verify")  # creates the store
    kept = cli.home / "store" / "quarantine" / "20261130T000000Z" / "objects" / "ab"
    kept.mkdir(parents=True)
    (kept / "ab12.dcm").write_bytes(b"DICM")
    result = cli.ok("store", "verify")
    assert "0 instances checked: OK" in result.stdout
    assert (f"1 file(s) in {cli.home / 'store' / 'quarantine'}: instances a crash left without "
            "an index row") in " ".join(result.stdout.split())
    report = json.loads(cli.ok("store", "verify", "--json").stdout)
    assert (report["ok"], report["quarantined"]) == (True, 1)
