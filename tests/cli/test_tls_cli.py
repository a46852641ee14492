"""``pacslink listen --tls`` and TLS AEs from the command line, with DCMTK as the other side."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ImplicitVRLittleEndian
from typer.testing import CliRunner

from pacslink.cli.main import app
from tests.factory import make_ct
from pacslink.aeregistry import AERegistry
from tests.peers import CLEAN_ENV, DCMTK_ENV, allow_callers, free_port, require, wait_for_port
from tests.tls_certs import make_ca

pytestmark = pytest.mark.interop


def test_listen_tls_without_a_certificate_says_what_to_set(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--home", str(tmp_path), "listen", "--tls",
                                      "--port", str(free_port())])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        "error: tls_cert is not set; DICOM TLS needs our certificate (tls_cert) and its private "
        "key (tls_key) as PEM files")


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pacslink", "--home", str(home), *args],
                          capture_output=True, text=True, env=CLEAN_ENV, timeout=60, check=False)


def test_listen_tls_serves_dcmtk_and_pacslink_and_logs_refusals(tmp_path: Path) -> None:
    require("echoscu")
    ca = make_ca(tmp_path, "trusted")
    server, client = ca.issue("server"), ca.issue("client")
    ds = make_ct()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    image = tmp_path / "ct.dcm"
    ds.save_as(image, enforce_file_format=True)

    listen_home, port = tmp_path / "listener", free_port()
    allow_callers(AERegistry.for_home(listen_home), "STORESCU")
    err = tmp_path / "listen.err"
    with open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pacslink", "--home", str(listen_home), "listen", "--tls",
             "--port", str(port), "--tls-cert", str(server.cert), "--tls-key", str(server.key),
             "--tls-ca", str(ca.cert)],
            stdout=subprocess.DEVNULL, stderr=stderr, stdin=subprocess.DEVNULL, env=CLEAN_ENV)
    try:
        wait_for_port(port, proc, timeout=20)
        tls = ["+tls", str(client.key), str(client.cert), "-pw", "+cf", str(ca.cert)]
        done = subprocess.run(["storescu", *tls, "-aec", "PACSLINK", "127.0.0.1", str(port),
                               str(image)], capture_output=True, env=DCMTK_ENV, timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr
        plain = subprocess.run(["echoscu", "-aec", "PACSLINK", "127.0.0.1", str(port)],
                               capture_output=True, env=DCMTK_ENV, timeout=30)
        assert plain.returncode != 0

        # our own SCU, configured through the settings file and `ae add --tls`
        client_home = tmp_path / "client"
        client_home.mkdir()
        (client_home / "pacslink.toml").write_text(
            f'[settings]\ntls_cert = "{client.cert}"\ntls_key = "{client.key}"\n'
            f'tls_ca = "{ca.cert}"\n')
        added = run("ae", "add", "SECURE", "--aet", "PACSLINK", "--host", "127.0.0.1",
                    "--port", str(port), "--tls", home=client_home)
        assert added.returncode == 0, added.stderr
        echo = run("echo", "SECURE", home=client_home)
        assert echo.returncode == 0, echo.stdout + echo.stderr
        run("ae", "edit", "SECURE", "--no-tls", home=client_home)
        refused = run("echo", "SECURE", home=client_home)
        assert refused.returncode == 1
        assert "pacslink ae edit SECURE --tls" in " ".join(refused.stdout.split()), refused.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    log = err.read_text()
    assert proc.returncode == 0, log
    assert f"Listening as PACSLINK on 127.0.0.1:{port} with DICOM TLS" in log
    refusals = [line for line in log.splitlines() if line.startswith("warning: TLS handshake")]
    assert len(refusals) == 2, log
    for line in refusals:
        assert line.startswith("warning: TLS handshake with 127.0.0.1:")
        assert line.endswith(" failed: the client did not speak TLS (plain DICOM to a TLS port?)")
    assert "Stopped: 1 instance stored, 0 refused." in log
    assert "Traceback" not in log
    stored = list((listen_home / "store").rglob("*.dcm"))
    assert [pydicom.dcmread(p).SOPInstanceUID for p in stored] == [ds.SOPInstanceUID]


def test_send_to_a_tls_ae_without_tls_ca_is_a_configuration_error(tmp_path: Path) -> None:
    ds = make_ct()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    image = tmp_path / "ct.dcm"
    ds.save_as(image, enforce_file_format=True)
    runner, home = CliRunner(), str(tmp_path / "home")
    added = runner.invoke(app, ["--home", home, "ae", "add", "SECURE", "--aet", "PACS",
                                "--host", "127.0.0.1", "--port", str(free_port()), "--tls"])
    assert added.exit_code == 0, added.output
    sent = runner.invoke(app, ["--home", home, "send", "SECURE", str(image)])
    assert sent.exit_code == 2, sent.output
    assert sent.stderr.count("tls_ca is not set") == 1, sent.stderr
    assert "SECURE uses DICOM TLS (tls = true) but tls_ca is not set" in sent.stderr
