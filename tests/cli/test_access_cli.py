"""``pacslink listen`` and ``pacslink pacs serve`` tell the user about rejected callers.

Both run as subprocesses with the default log level; DCMTK's storescu and findscu are
the callers. The rejection is one ``warning:`` line on stderr that says what to change,
and the change works on the running listener.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from typer.testing import CliRunner

from pacslink.aeregistry import AERegistry
from pacslink.api import Pacslink
from pacslink.cli.main import app
from tests.factory import make_ct
from tests.peers import CLEAN_ENV, DCMTK_ENV, free_port, require, stop, wait_for_port

Started = tuple[subprocess.Popen[bytes], int, Path, Path]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Started]]:
    """Start ``pacslink ARGS --port N`` with stdout and stderr into files."""
    procs: list[subprocess.Popen[bytes]] = []

    def run(*args: str, env: dict[str, str] | None = None) -> Started:
        port = free_port()
        out, err = tmp_path / f"{port}.out", tmp_path / f"{port}.err"
        with open(out, "wb") as fo, open(err, "wb") as fe:
            proc = subprocess.Popen([sys.executable, "-m", "pacslink", *args, "--port", str(port)],
                                    stdout=fo, stderr=fe, stdin=subprocess.DEVNULL,
                                    env={**CLEAN_ENV, **(env or {})})
        procs.append(proc)
        wait_for_port(port, proc, timeout=60)
        return proc, port, out, err

    yield run
    for proc in procs:
        stop(proc)


def storescu(port: int, calling: str, path: Path) -> subprocess.CompletedProcess[str]:
    require("storescu")
    return subprocess.run(["storescu", "-aet", calling, "-aec", "PACSLINK", "127.0.0.1", str(port),
                           str(path)], capture_output=True, text=True, env=DCMTK_ENV, timeout=30)


def ct_file(path: Path) -> str:
    ds = make_ct()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return str(ds.SOPInstanceUID)


def warnings_in(err: Path) -> list[str]:
    return [line for line in err.read_text().splitlines() if line.startswith("warning: ")]


def test_listen_rejects_an_unknown_sender_says_how_and_the_fix_applies_live(
    start: Callable[..., Started], tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    proc, port, out, err = start("--home", str(home), "listen")
    uid = ct_file(tmp_path / "in" / "ct.dcm")
    first = storescu(port, "MODALITY9", tmp_path / "in" / "ct.dcm")
    assert first.returncode != 0, first.stdout + first.stderr
    assert "Calling AE Title Not Recognized" in first.stdout + first.stderr
    deadline = time.monotonic() + 10
    while not warnings_in(err) and time.monotonic() < deadline:
        time.sleep(0.05)
    (line,) = warnings_in(err)
    assert line.startswith("warning: rejected association from MODALITY9@127.0.0.1:"), line
    suggested = line.split("`")[1]
    assert line.split(": ", 2)[2] == (
        "permanent: calling AE title not recognized; MODALITY9 is not a configured remote AE; "
        f"add it with `{suggested}` (--port: its own DICOM port; 104 if it only sends), or set "
        "accept_unknown_callers = true (in [settings] of pacslink.toml, or "
        "PACSLINK_ACCEPT_UNKNOWN_CALLERS=true)"), line
    # the suggested command, pasted as it is, fixes it for the running listener
    command = shlex.split(suggested)
    assert command[0] == "pacslink"
    added = CliRunner().invoke(app, command[1:])
    assert added.exit_code == 0, added.output
    assert AERegistry.for_home(home).get("MODALITY9").ae_title == "MODALITY9"
    second = storescu(port, "MODALITY9", tmp_path / "in" / "ct.dcm")
    assert second.returncode == 0, second.stdout + second.stderr
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    assert len(warnings_in(err)) == 1
    assert out.read_text().splitlines() == [f"stored {uid} from MODALITY9"]
    application = Pacslink.from_home(home, environ={})
    assert [i.sop_instance_uid for i in application.index.iter_instances()] == [uid]
    application.close()


def test_listen_with_accept_unknown_callers_stores_from_anyone(
    start: Callable[..., Started], tmp_path: Path,
) -> None:
    _, port, _, err = start("--home", str(tmp_path / "home"), "listen",
                            env={"PACSLINK_ACCEPT_UNKNOWN_CALLERS": "true"})
    ct_file(tmp_path / "ct.dcm")
    done = storescu(port, "ANYBODY", tmp_path / "ct.dcm")
    assert done.returncode == 0, done.stdout + done.stderr
    assert warnings_in(err) == []


def test_pacs_serve_shows_the_rejection_and_accept_unknown_callers_opens_it(
    start: Callable[..., Started], tmp_path: Path,
) -> None:
    require("findscu")
    folder = tmp_path / "dicom"
    ct_file(folder / "ct.dcm")

    def findscu(port: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["findscu", "-S", "-aec", "SAMPLEPACS",
                               "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID=PAT001",
                               "127.0.0.1", str(port)],
                              capture_output=True, text=True, env=DCMTK_ENV, timeout=60)

    proc, port, _, err = start("pacs", "serve", str(folder))
    refused = findscu(port)
    assert refused.returncode != 0 and "Calling AE Title Not Recognized" in refused.stderr, refused
    stop(proc)
    (line,) = warnings_in(err)
    assert line.startswith("warning: rejected association from FINDSCU@127.0.0.1:"), line
    assert "FINDSCU is not a configured remote AE" in line, line

    _, port, _, err = start("pacs", "serve", str(folder), "--accept-unknown-callers")
    answered = findscu(port)
    assert answered.returncode == 0, answered.stdout + answered.stderr
    assert "Find Response: 1 (Pending)" in answered.stdout + answered.stderr
    assert warnings_in(err) == []
