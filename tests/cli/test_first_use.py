"""What a new user's first hour with the CLI ran into, as tests.

Narrow terminals (80 columns), options after the command, the errors a first try
produces, ``send`` and ``listen`` output. In-process runs use Typer's ``CliRunner`` on
the real app; ``pacslink listen`` runs as a subprocess stopped with SIGTERM; the peers are
pacslink itself, so nothing external is needed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from typer.testing import CliRunner, Result

from pacslink.aeregistry import AERegistry
from pacslink.api import Pacslink
from pacslink.cli.main import app
from tests.factory import EXPLICIT_VR_LITTLE_ENDIAN, make_ct, make_dataset_bytes
from tests.peers import CLEAN_ENV, allow_callers, free_port, wait_for_port

pytestmark = pytest.mark.filterwarnings("ignore:The (PN component|value) length")

NARROW = {"COLUMNS": "80"}


def run(*args: str, env: dict[str, str] | None = None, traceback: bool = False) -> Result:
    """``pacslink ARGS`` at 80 columns; no traceback unless ``traceback`` (``-vv``)."""
    result = CliRunner().invoke(app, list(args), env={**NARROW, **(env or {})})
    assert traceback or "Traceback" not in result.output, result.output
    return result


def long_uid() -> str:
    """A 64-character UID, the longest DICOM allows (what makes tables overflow)."""
    return ("1.2.826.0.1.3680043.8.498." + str(uuid.uuid4().int) * 2)[:64]


def populate(home: Path, study_uid: str, count: int) -> list[Dataset]:
    """Put ``count`` CT instances of one study (64-character UIDs) into ``home``'s store."""
    application = Pacslink.from_home(home, flags={"min_free_mb": 1}, environ={})
    series_uid = long_uid()
    stored = []
    try:
        for number in range(1, count + 1):
            ds = make_ct(study_instance_uid=study_uid, series_instance_uid=series_uid,
                         sop_instance_uid=long_uid(), instance_number=number,
                         patient_id="VET042", patient_name="Rex^Trial",
                         StudyDescription="CT HEAD")
            incoming = application.store.begin(
                sop_class_uid=ds.SOPClassUID, sop_instance_uid=ds.SOPInstanceUID,
                transfer_syntax_uid=EXPLICIT_VR_LITTLE_ENDIAN, calling_ae="MODALITY1")
            incoming.write(make_dataset_bytes(ds))
            incoming.commit()
            stored.append(ds)
    finally:
        application.close()
    return stored


def write_ct(path: Path) -> Dataset:
    ds = make_ct(rows=16, columns=16, sop_instance_uid=long_uid())
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return ds


def lines_of(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


# --- 1. UIDs and paths are never cut ----------------------------------------------------


def test_store_list_at_80_columns_shows_the_whole_study_uid(tmp_path: Path) -> None:
    home = tmp_path / "home"
    study_uid = long_uid()
    populate(home, study_uid, 2)
    result = run("--home", str(home), "store", "list")
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout, result.stdout
    assert any(study_uid in line for line in lines_of(result.stdout)), result.stdout
    assert "VET042" in result.stdout and "2 instances" in result.stdout

    wide = run("--home", str(home), "store", "list", env={"COLUMNS": "250"})
    assert study_uid in wide.stdout and "…" not in wide.stdout, wide.stdout


def test_store_show_at_80_columns_shows_whole_uids_and_paths(tmp_path: Path) -> None:
    home = tmp_path / "home"
    study_uid = long_uid()
    stored = populate(home, study_uid, 2)
    result = run("--home", str(home), "store", "show", study_uid)
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout, result.stdout
    detail = json.loads(run("--home", str(home), "store", "show", study_uid, "--json").stdout)
    instances = [i for series in detail["series"] for i in series["instances"]]
    assert {i["sop_instance_uid"] for i in instances} == {ds.SOPInstanceUID for ds in stored}
    text = lines_of(result.stdout)
    for inst in instances:
        assert any(inst["sop_instance_uid"] in line for line in text), result.stdout
        assert any(inst["path"] in line for line in text), result.stdout
    assert "(2 instances)" in result.stdout


def test_one_instance_is_singular(tmp_path: Path) -> None:
    home = tmp_path / "home"
    study_uid = long_uid()
    populate(home, study_uid, 1)
    shown = run("--home", str(home), "store", "show", study_uid, env={"COLUMNS": "250"})
    assert "(1 instance)" in shown.stdout and "1 instances" not in shown.stdout, shown.stdout
    listed = run("--home", str(home), "store", "list")
    assert "1 instance" in listed.stdout and "1 instances" not in listed.stdout, listed.stdout


# --- 2. --home and -v after the command -------------------------------------------------


def test_home_and_verbose_work_after_the_command(tmp_path: Path) -> None:
    home = tmp_path / "home"
    added = run("ae", "add", "PACS1", "--aet", "ORTHANC", "--host", "127.0.0.1",
                "--port", "4242", "--home", str(home))
    assert added.exit_code == 0, added.output
    assert (home / "pacslink.toml").is_file()

    listed = run("ae", "list", "--json", "--home", str(home))
    assert listed.exit_code == 0, listed.output
    assert [ae["name"] for ae in json.loads(listed.stdout)] == ["PACS1"]
    # Before and after: the later --home wins.
    later = run("--home", str(tmp_path / "elsewhere"), "ae", "list", "--json", "--home", str(home))
    assert [ae["name"] for ae in json.loads(later.stdout)] == ["PACS1"]

    # -vv after the command: tracebacks for errors, as before the command.
    loud = run("ae", "remove", "NOPE", "--home", str(home), "-vv", traceback=True)
    assert loud.exit_code == 2
    assert "Traceback" in loud.stderr
    # -v after the command sets the log level, and adds to a -v before it.
    def log_level(*args: str) -> str:
        shown = json.loads(run("--home", str(home), *args).stdout)
        (row,) = [r for r in shown["settings"] if r["name"] == "log_level"]
        return str(row["value"])

    assert log_level("config", "show", "--json") == "WARNING"
    assert log_level("config", "show", "--json", "-v") == "INFO"
    assert log_level("-v", "config", "show", "--json", "-v") == "DEBUG"


def test_global_options_are_listed_in_each_commands_help() -> None:
    result = run("store", "list", "--help", env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "--home" in result.stdout and "--verbose" in result.stdout


# --- 7, 8, 10: send ---------------------------------------------------------------------


def test_send_to_a_dead_ae_reports_the_shared_failure_once(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    for i in range(3):
        write_ct(folder / f"ct{i}.dcm")
    dead = free_port()
    result = run("--home", str(tmp_path / "home"), "send", f"NOBODY@127.0.0.1:{dead}", str(folder))
    assert result.exit_code == 1, result.output
    out = lines_of(result.stdout)
    assert f"3 files not sent: cannot connect to 127.0.0.1:{dead}: Connection refused" in out, out
    assert "ct0.dcm" not in result.stdout, result.stdout  # no identical row per file
    assert out[-1].endswith("0 stored, 0 with warnings, 3 failed, 0 skipped"), out


def test_send_a_missing_path_is_a_usage_error_and_sends_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_ct(folder / "ct0.dcm")
    home = str(tmp_path / "home")
    missing = tmp_path / "does" / "not" / "exist"
    result = run("--home", home, "send", f"NOBODY@127.0.0.1:{free_port()}", str(folder),
                 str(missing))
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: no such file or folder: {missing}\n"
    assert result.stdout == ""  # nothing was sent, so no summary

    result = run("--home", home, "send", "DCMTK", "/does/not/exist")
    assert result.exit_code == 2, result.output
    assert "no such file or folder: /does/not/exist" in result.stderr


def test_send_says_a_tiny_file_is_too_short(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_ct(folder / "ct0.dcm")
    (folder / "empty.dcm").write_bytes(b"")
    (folder / "tiny.dcm").write_bytes(b"DICM" * 3)
    (folder / "notes.txt").write_text("x" * 500)
    result = run("--home", str(tmp_path / "home"), "send", f"NOBODY@127.0.0.1:{free_port()}",
                 str(folder))
    stderr = lines_of(result.stderr)
    for name in ("empty.dcm", "tiny.dcm"):
        assert f"skipped {folder / name}: not a DICOM file (too short)" in stderr, stderr
    assert any(line.startswith(f"skipped {folder / 'notes.txt'}: not a DICOM Part 10 file")
               for line in stderr), stderr


# --- 8, 10: echo ------------------------------------------------------------------------


def test_echo_all_without_aes_is_a_usage_error(tmp_path: Path) -> None:
    result = run("--home", str(tmp_path / "home"), "echo", "--all")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and "pacslink ae add" in result.stderr


def test_echo_failure_names_the_address_once(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    dead = free_port()
    run("--home", home, "ae", "add", "DEAD", "--aet", "NOBODY", "--host", "127.0.0.1",
        "--port", str(dead))
    for target in ("DEAD", f"NOBODY@127.0.0.1:{dead}"):
        result = run("--home", home, "echo", target)
        assert result.exit_code == 1
        (line,) = lines_of(result.stdout)
        assert line.startswith("FAIL ") and "Connection refused" in line, line
        assert line.count(f"127.0.0.1:{dead}") == 1, line


def test_echo_an_unknown_host_says_so(tmp_path: Path) -> None:
    result = run("--home", str(tmp_path / "home"), "echo", "X@no-such-host.invalid:104")
    assert result.exit_code == 1
    assert "cannot resolve host 'no-such-host.invalid'" in result.stdout, result.stdout
    assert "Unknown error" not in result.stdout


# --- 10: option errors look alike -------------------------------------------------------


def test_listen_port_error_matches_ae_add(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    listen = run("--home", home, "listen", "--port", "abc")
    add = run("--home", home, "ae", "add", "X", "--aet", "X", "--host", "h", "--port", "abc")
    assert listen.exit_code == add.exit_code == 2
    assert listen.stderr == add.stderr == "error: --port: must be an integer 1-65535, got 'abc'\n"


def test_ae_retrieve_must_be_a_known_method(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    result = run("--home", home, "ae", "add", "X", "--aet", "X", "--host", "h", "--port", "104",
                 "--retrieve", "foo")
    assert result.exit_code == 2
    assert result.stderr == "error: --retrieve must be move, get or auto, got 'foo'\n"
    ok = run("--home", home, "ae", "add", "X", "--aet", "X", "--host", "h", "--port", "104",
             "--retrieve", "get")
    assert ok.exit_code == 0, ok.output
    edited = run("--home", home, "ae", "edit", "X", "--retrieve", "MOVE")
    assert edited.exit_code == 0 and "retrieve get -> move" in edited.stdout, edited.output
    bad = run("--home", home, "ae", "edit", "X", "--retrieve", "c-move")
    assert bad.exit_code == 2 and "got 'c-move'" in bad.stderr


# --- 5, 6: pacslink listen --------------------------------------------------------------


@dataclass
class Listener:
    proc: subprocess.Popen[bytes]
    port: int
    stdout: Path
    stderr: Path

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        return self.stdout.read_text(errors="replace"), self.stderr.read_text(errors="replace")


@pytest.fixture
def start_listener(tmp_path: Path) -> Iterator[Callable[..., Listener]]:
    started: list[Listener] = []

    def start(**env: str) -> Listener:
        port = free_port()
        allow_callers(AERegistry.for_home(tmp_path / "srv"), "PACSLINK")  # `send`'s AE title
        out, err = tmp_path / f"listen{port}.out", tmp_path / f"listen{port}.err"
        with open(out, "wb") as fo, open(err, "wb") as fe:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pacslink", "listen", "--home", str(tmp_path / "srv"),
                 "--port", str(port)],
                stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, env={**CLEAN_ENV, **env})
        listener = Listener(proc, port, out, err)
        started.append(listener)
        wait_for_port(port, proc, timeout=20)
        return listener

    yield start
    for listener in started:
        if listener.proc.poll() is None:
            listener.proc.kill()
            listener.proc.wait(5)


def test_listen_shows_a_rejected_association_in_one_line(
    start_listener: Callable[..., Listener], tmp_path: Path
) -> None:
    listener = start_listener()
    echo = run("--home", str(tmp_path / "home"), "echo", f"WRONG@127.0.0.1:{listener.port}",
               env={"PACSLINK_AET": "MODALITY1"})
    assert echo.exit_code == 1 and "called AE title not recognized" in echo.stdout, echo.output
    stdout, stderr = listener.stop()
    assert listener.proc.returncode == 0, stderr
    rejected = [line for line in lines_of(stderr) if "rejected association" in line]
    assert len(rejected) == 1, stderr
    assert rejected[0].startswith("warning: rejected association from MODALITY1@127.0.0.1:")
    assert rejected[0].endswith(
        ": permanent: called AE title not recognized; it called 'WRONG', but this AE is "
        "'PACSLINK'; set the called (destination) AE title on the caller to PACSLINK"), rejected[0]


def test_listen_below_the_free_space_floor_one_line_per_refusal(
    start_listener: Callable[..., Listener], tmp_path: Path
) -> None:
    listener = start_listener(PACSLINK_MIN_FREE_MB="1000000000")
    folder = tmp_path / "a folder with a rather long name to overflow eighty columns" / "in"
    sent = [write_ct(folder / f"ct{i}.dcm") for i in range(2)]
    result = run("--home", str(tmp_path / "home"), "send", f"PACSLINK@127.0.0.1:{listener.port}",
                 str(folder))
    assert result.exit_code == 1, result.output
    stdout, stderr = listener.stop()

    # The sender sees each refused file whole, with the status once and the reason.
    for i in range(2):
        assert any(str(folder / f"ct{i}.dcm") in line for line in lines_of(result.stdout)), \
            result.stdout
    assert "0xA700 Out of resources: only " in result.stdout, result.stdout
    assert "out of resources" not in result.stdout.replace("Out of resources", ""), result.stdout

    # The listener prints one line per refusal, naming the setting in MB, and no log too.
    refused = [line for line in lines_of(stdout) if line.startswith("refused ")]
    assert len(refused) == 2, stdout
    for ds in sent:
        (line,) = [r for r in refused if ds.SOPInstanceUID in r]
        assert " from PACSLINK: 0xA700 Out of resources: only " in line, line
        assert "below min_free_mb=1000000000 MB; free space in " in line, line
        assert line.endswith("or lower min_free_mb / PACSLINK_MIN_FREE_MB"), line
        assert "MiB" not in line and "out of resources" not in line, line
    assert "C-STORE" not in stderr and "warning" not in stderr.lower(), stderr
    assert "Stopped: 0 instances stored, 2 refused." in stderr, stderr
