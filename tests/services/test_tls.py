"""DICOM TLS (PS3.15 B.1, TLS 1.2+): our listener and SCUs with each other and with DCMTK.

A throwaway PKI per module (``openssl`` CLI): CA ``trusted`` signs the listener's and the
good client's certificates; CA ``other`` signs a rogue client and a rogue server.
Every refusal is checked three ways: what the peer sees, the listener's log line, and
that nothing reached the store; then a good client must still be served.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ImplicitVRLittleEndian

from pacslink.api import Pacslink, scan_paths
from pacslink.conformance import STUDY_ROOT_QR_MOVE
from pacslink.dicomnet.negotiation import build_contexts
from pacslink.dicomnet.qr import c_move
from pacslink.dicomnet.server import DicomServer
from pacslink.models import Query, QueryLevel, RemoteAE, RetrieveMethod
from pacslink.services.retrieve import RetrieveTarget
from pacslink.services.part10 import read_part10_info
from pacslink.identifiers import encode_identifier
from pacslink.services.tls import open_association, server_context
from tests.factory import make_ct
from tests.peers import dcmtk_server, free_port, run_tool
from tests.tls_certs import CA, KeyPair, make_ca

pytestmark = pytest.mark.interop


@dataclass(frozen=True)
class PKI:
    trusted: CA
    other: CA
    server: KeyPair
    client: KeyPair
    rogue_client: KeyPair
    rogue_server: KeyPair
    named_server: KeyPair  # names pacs.example only, not 127.0.0.1


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    folder = tmp_path_factory.mktemp("pki")
    trusted, other = make_ca(folder, "trusted"), make_ca(folder, "other")
    return PKI(trusted, other, trusted.issue("server"), trusted.issue("client"),
               other.issue("rogue-client"), other.issue("rogue-server"),
               trusted.issue("named-server", san="DNS:pacs.example"))


def home(
    tmp_path: Path, name: str, pair: KeyPair | None, ca: Path | None, **flags: object
) -> Pacslink:
    """A pacslink home whose tls_* settings name ``pair`` and ``ca``."""
    # These tests are about TLS; calling-AE checks are tested in test_access_control.py.
    given: dict[str, object] = {"port": free_port(), "min_free_mb": 1, "ae_title": name.upper(),
                                "accept_unknown_callers": True}
    if pair is not None:
        given |= {"tls_cert": pair.cert, "tls_key": pair.key}
    if ca is not None:
        given["tls_ca"] = ca
    return Pacslink.from_home(tmp_path / name, flags=given | flags, environ={})


@pytest.fixture
def listener_app(tmp_path: Path, pki: PKI) -> Pacslink:
    return home(tmp_path, "listener", pki.server, pki.trusted.cert, acse_timeout=3)


def secure(server: DicomServer, name: str = "SECURE", ae_title: str = "LISTENER") -> RemoteAE:
    return RemoteAE(name, ae_title, "127.0.0.1", server.port, tls=True)


def write_ct(folder: Path, name: str, rows: int = 16) -> Path:
    ds = make_ct(rows=rows, columns=rows)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    ds.save_as(path, enforce_file_format=True)
    return path


def dataset_part(path: Path) -> bytes:
    return path.read_bytes()[read_part10_info(path).dataset_offset:]


def uid_of(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def tls_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(("TLS", "no TLS"))]


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def good_echo(server: DicomServer, tmp_path: Path, pki: PKI) -> None:
    """The listener still serves a client with a good certificate."""
    client = home(tmp_path, "good", pki.client, pki.trusted.cert)
    result = await client.echo(secure(server))
    assert result.ok, result.error


# --- our SCU and our listener ---------------------------------------------------------


async def test_our_scu_echoes_and_stores_over_tls(
    listener_app: Pacslink, tmp_path: Path, pki: PKI, caplog: pytest.LogCaptureFixture,
) -> None:
    files = [write_ct(tmp_path / "in", "small.dcm"), write_ct(tmp_path / "in", "big.dcm", 1024)]
    client = home(tmp_path, "client", pki.client, pki.trusted.cert)
    client.registry.add(RemoteAE("SECURE", "LISTENER", "127.0.0.1", listener_app.settings.port,
                                 tls=True))
    with caplog.at_level(logging.INFO, logger="pacslink"):
        server = await listener_app.start_listener(tls=True)
        port = server.port
        try:
            echo = await client.echo("SECURE")
            assert echo.ok and echo.status == 0, echo.error
            outcomes = await client.send("SECURE", scan_paths(files).files)
        finally:
            await server.close()
    assert [o.status for o in outcomes] == [0, 0], outcomes
    for path in files:  # 2 MB through TLS too: the reader's flow control works after start_tls
        row = listener_app.index.get_instance(uid_of(path))
        assert row is not None and row.calling_ae == "CLIENT"
        assert dataset_part(listener_app.store.path_of(row)) == dataset_part(path)
    assert "TLS with 127.0.0.1:" in "\n".join(tls_lines(caplog))
    assert any(line.endswith(", certificate CN=client") for line in tls_lines(caplog))
    no_tracebacks(caplog)


async def test_plain_dicom_to_the_tls_port_is_dropped_and_the_server_serves_on(
    listener_app: Pacslink, tmp_path: Path, pki: PKI, caplog: pytest.LogCaptureFixture,
) -> None:
    plain = home(tmp_path, "plain", None, None)
    plain.registry.add(RemoteAE("PLAIN", "LISTENER", "127.0.0.1", listener_app.settings.port))
    path = write_ct(tmp_path / "in", "ct.dcm")
    with caplog.at_level(logging.INFO, logger="pacslink"):
        server = await listener_app.start_listener(tls=True)
        port = server.port
        try:
            echo = await asyncio.wait_for(plain.echo("PLAIN"), 10)
            sent = await asyncio.wait_for(plain.send("PLAIN", scan_paths([path]).files), 10)
            rc, out = await run_tool("echoscu", "-aec", "LISTENER", "127.0.0.1", str(server.port))
            await good_echo(server, tmp_path, pki)
        finally:
            await server.close()
    assert echo.status is None
    assert echo.error == (
        f"LISTENER@127.0.0.1:{port} closed the connection without answering the "
        "association request; if it requires DICOM TLS, mark it with: pacslink ae edit PLAIN --tls")
    assert sent[0].category == "Failure" and "without answering" in sent[0].detail
    assert rc != 0, out
    assert listener_app.index.get_instance(uid_of(path)) is None
    refused = [line for line in tls_lines(caplog) if "failed" in line]
    assert len(refused) == 3
    for line in refused:
        assert line.startswith("TLS handshake with 127.0.0.1:")
        assert line.endswith(" failed: the client did not speak TLS (plain DICOM to a TLS port?)")
    no_tracebacks(caplog)


async def test_client_without_certificate_is_refused(
    listener_app: Pacslink, tmp_path: Path, pki: PKI, caplog: pytest.LogCaptureFixture,
) -> None:
    anonymous = home(tmp_path, "anonymous", None, pki.trusted.cert)
    path = write_ct(tmp_path / "in", "ct.dcm")
    with caplog.at_level(logging.INFO, logger="pacslink"):
        server = await listener_app.start_listener(tls=True)
        port = server.port
        try:
            echo = await anonymous.echo(secure(server))
            sent = await anonymous.send(secure(server), scan_paths([path]).files)
            # DCMTK's anonymous TLS (+tla): encrypted, but no client certificate
            rc, out = await run_tool("storescu", "+tla", "+cf", str(pki.trusted.cert),
                                     "-aec", "LISTENER", "127.0.0.1", str(server.port), str(path))
            await good_echo(server, tmp_path, pki)
        finally:
            await server.close()
    assert echo.status is None and echo.error == (
        f"LISTENER@127.0.0.1:{port} closed the connection without answering the "
        "association request; it may have refused our client certificate: check tls_cert and "
        "tls_key, and that it trusts the CA that signed tls_cert")
    assert sent[0].category == "Failure"
    assert rc != 0, out
    assert listener_app.index.get_instance(uid_of(path)) is None
    refused = [line for line in tls_lines(caplog) if "failed" in line]
    assert len(refused) == 3
    assert all(line.endswith(" failed: the client presented no certificate") for line in refused)
    no_tracebacks(caplog)


async def test_client_certificate_from_another_ca_is_refused(
    listener_app: Pacslink, tmp_path: Path, pki: PKI, caplog: pytest.LogCaptureFixture,
) -> None:
    rogue = home(tmp_path, "rogue", pki.rogue_client, pki.trusted.cert)
    path = write_ct(tmp_path / "in", "ct.dcm")
    with caplog.at_level(logging.INFO, logger="pacslink"):
        server = await listener_app.start_listener(tls=True)
        port = server.port
        try:
            echo = await rogue.echo(secure(server))
            rc, out = await run_tool(
                "storescu", "+tls", str(pki.rogue_client.key), str(pki.rogue_client.cert), "-pw",
                "+cf", str(pki.trusted.cert), "-aec", "LISTENER", "127.0.0.1", str(server.port),
                str(path))
            await good_echo(server, tmp_path, pki)
        finally:
            await server.close()
    assert echo.status is None and "may have refused our client certificate" in echo.error
    assert rc != 0, out
    assert listener_app.index.get_instance(uid_of(path)) is None
    refused = [line for line in tls_lines(caplog) if "failed" in line]
    assert len(refused) == 2
    for line in refused:
        assert " failed: the client's certificate was not accepted: " in line, line
    no_tracebacks(caplog)


def _tls11_client(ca: Path) -> ssl.SSLContext | None:
    """A client offering TLS 1.1 at most, or ``None`` when this OpenSSL cannot build one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1/TLSv1_1
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(ca)
        try:
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
            context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 refuses TLS 1.1 above 0
        except (ValueError, ssl.SSLError):
            return None
    return context


async def test_client_offering_only_tls_1_1_is_refused(
    listener_app: Pacslink, tmp_path: Path, pki: PKI, caplog: pytest.LogCaptureFixture,
) -> None:
    context = server_context(listener_app.tls_files())
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    old = _tls11_client(pki.trusted.cert)
    with caplog.at_level(logging.INFO, logger="pacslink"):
        server = await listener_app.start_listener(tls=True)
        port = server.port
        try:
            if old is not None:
                with pytest.raises((ssl.SSLError, ConnectionError)) as excinfo:
                    await asyncio.wait_for(
                        asyncio.open_connection("127.0.0.1", server.port, ssl=old), 10)
                offered = "NO_PROTOCOLS_AVAILABLE" not in str(excinfo.value)
            await good_echo(server, tmp_path, pki)
        finally:
            await server.close()
    if old is None or not offered:
        pytest.skip("this OpenSSL cannot offer TLS 1.1; the minimum version was checked above")
    refused = [line for line in tls_lines(caplog) if "failed" in line]
    assert len(refused) == 1 and refused[0].endswith(
        " failed: the client offered only TLS versions older than we accept (TLS 1.2)")
    no_tracebacks(caplog)


async def test_unfinished_handshakes_end_at_the_artim_deadline_and_count_as_pending(
    tmp_path: Path, pki: PKI, caplog: pytest.LogCaptureFixture,
) -> None:
    app = home(tmp_path, "listener", pki.server, pki.trusted.cert, acse_timeout=1,
               max_pending_per_source=2)
    with caplog.at_level(logging.INFO, logger="pacslink"):
        server = await app.start_listener(tls=True)
        port = server.port
        try:
            idle = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(3)]
            # a ClientHello's first bytes, then nothing: the handshake never finishes
            idle[2][1].write(b"\x16\x03\x01\x00\xff\x01")
            oldest = await asyncio.wait_for(idle[0][0].read(), 5)  # evicted: past the cap of 2
            assert oldest == b"" and len(server._pending) <= 2
            for reader, _ in idle[1:]:
                assert await asyncio.wait_for(reader.read(), 10) == b""  # ARTIM: 1 s
            assert not server._pending
            await good_echo(server, tmp_path, pki)
        finally:
            for _, writer in idle:
                writer.close()
            await server.close()
    assert sum(line.startswith("no TLS handshake from 127.0.0.1:") and
               line.endswith(" within the ARTIM timeout") for line in tls_lines(caplog)) == 2
    no_tracebacks(caplog)


# --- our SCU checks the server ---------------------------------------------------------


async def test_server_certificate_from_another_ca_is_refused(
    tmp_path: Path, pki: PKI,
) -> None:
    impostor = home(tmp_path, "impostor", pki.rogue_server, pki.trusted.cert)
    client = home(tmp_path, "client", pki.client, pki.trusted.cert)
    path = write_ct(tmp_path / "in", "ct.dcm")
    server = await impostor.start_listener(tls=True)
    port = server.port
    try:
        echo = await client.echo(secure(server, ae_title="IMPOSTOR"))
        sent = await client.send(secure(server, ae_title="IMPOSTOR"), scan_paths([path]).files)
    finally:
        await server.close()
    assert echo.status is None
    assert echo.error.startswith(f"TLS handshake with 127.0.0.1:{port} failed: the "
                                 "server's certificate was not accepted: ")
    assert echo.error.endswith("; check that tls_ca holds the CA that signed its certificate")
    assert sent[0].category == "Failure" and sent[0].detail == echo.error
    assert impostor.index.get_instance(uid_of(path)) is None


async def test_host_name_check_and_how_to_turn_it_off(tmp_path: Path, pki: PKI) -> None:
    named = home(tmp_path, "named", pki.named_server, pki.trusted.cert)
    checking = home(tmp_path, "checking", pki.client, pki.trusted.cert)
    lenient = home(tmp_path, "lenient", pki.client, pki.trusted.cert, tls_check_hostname=False)
    server = await named.start_listener(tls=True)
    port = server.port
    try:
        refused = await checking.echo(secure(server, ae_title="NAMED"))
        accepted = await lenient.echo(secure(server, ae_title="NAMED"))
    finally:
        await server.close()
    assert refused.error == (
        f"TLS handshake with 127.0.0.1:{port} failed: the server's certificate was not "
        "accepted: IP address mismatch, certificate is not valid for '127.0.0.1'; use the host "
        "name its certificate names for SECURE, or set tls_check_hostname = false if the "
        "certificate names the AE, not the host")
    assert accepted.ok, accepted.error


async def test_tls_ae_without_ca_setting_says_which_setting_to_set(
    tmp_path: Path, pki: PKI,
) -> None:
    client = home(tmp_path, "client", pki.client, None)
    echo = await client.echo(RemoteAE("SECURE", "X", "127.0.0.1", free_port(), tls=True))
    assert echo.error == (
        "SECURE uses DICOM TLS (tls = true) but tls_ca is not set; set it to the PEM file of the "
        "CA that signs the TLS AEs' certificates (setting tls_ca or PACSLINK_TLS_CA)")


async def test_plain_scu_to_a_plain_listener_is_unchanged(
    tmp_path: Path, pki: PKI, caplog: pytest.LogCaptureFixture,
) -> None:
    """tls_* settings alone change nothing: only ``--tls`` and ``tls = true`` turn TLS on."""
    listener = home(tmp_path, "listener", pki.server, pki.trusted.cert)
    client = home(tmp_path, "client", pki.client, pki.trusted.cert)
    with caplog.at_level(logging.INFO, logger="pacslink"):
        server = await listener.start_listener()
        port = server.port
        try:
            echo = await client.echo(RemoteAE("PLAIN", "LISTENER", "127.0.0.1", server.port))
            over_tls = await client.echo(secure(server))
        finally:
            await server.close()
    assert any(r.getMessage().endswith(" ended: unrecognized PDU type 0x16 (a TLS handshake "
                                       "record: the peer expects DICOM TLS here)")
               for r in caplog.records)
    assert echo.ok, echo.error
    assert over_tls.error == (
        f"TLS handshake with 127.0.0.1:{port} failed: the server did not answer with TLS "
        f"(is it a plain DICOM port?); check that {port} is its DICOM TLS port, or set "
        "tls = false for SECURE")


async def test_find_get_and_move_destination_over_tls_with_the_sample_pacs(
    tmp_path: Path, pki: PKI,
) -> None:
    """C-FIND and C-GET from a TLS PACS; its C-MOVE to a destination marked tls = true."""
    path = write_ct(tmp_path / "in", "ct.dcm")
    ds = pydicom.dcmread(path)
    pacs = home(tmp_path, "pacs", pki.server, pki.trusted.cert)
    assert pacs.import_paths([path])["stored"] == 1
    listener = home(tmp_path, "listener", pki.server, pki.trusted.cert)
    pacs.registry.add(RemoteAE("DEST", "LISTENER", "127.0.0.1", listener.settings.port, tls=True))
    client = home(tmp_path, "client", pki.client, pki.trusted.cert)
    server = await pacs.start_pacs(tls=True)
    port = server.port
    receiver = await listener.start_listener(tls=True)
    client.registry.add(RemoteAE("PACS", "PACS", "127.0.0.1", port, tls=True))
    try:
        found = await client.find(Query(QueryLevel.STUDY, patient_id=ds.PatientID), aes=["PACS"])
        report = await client.retrieve(
            "PACS", RetrieveTarget(ds.StudyInstanceUID, patient_id=ds.PatientID),
            method=RetrieveMethod.GET)
        # DCMTK 3.6.7's movescu has no TLS: a C-MOVE to LISTENER with our engine
        contexts = build_contexts([(STUDY_ROOT_QR_MOVE, [ImplicitVRLittleEndian])])
        async with await open_association(client.local_ae(), client.resolve("PACS"), contexts,
                                          tls=client.tls) as assoc:
            identifier = Dataset()
            identifier.QueryRetrieveLevel = "STUDY"
            identifier.StudyInstanceUID = ds.StudyInstanceUID
            context = assoc.context_for(STUDY_ROOT_QR_MOVE)
            move = c_move(assoc, context, "LISTENER",
                          encode_identifier(identifier, context.transfer_syntax))
            moved = [response async for response in move][-1]
    finally:
        await receiver.close()
        await server.close()
    assert [r.state for r in found.per_ae] == ["ok"], found.per_ae
    assert [row.match.get("StudyInstanceUID") for row in found.rows] == [ds.StudyInstanceUID]
    assert report.complete and report.method == "get", report
    assert (moved.status, moved.completed, moved.failed) == (0, 1, 0), moved
    for app in (client, listener):
        row = app.index.get_instance(ds.SOPInstanceUID)
        assert row is not None  # the transfer syntax may differ: compare the pixels
        assert pydicom.dcmread(app.store.path_of(row)).PixelData == ds.PixelData


# --- DCMTK ----------------------------------------------------------------------------


async def test_dcmtk_echoscu_and_storescu_over_tls_into_pacslink(
    listener_app: Pacslink, tmp_path: Path, pki: PKI, caplog: pytest.LogCaptureFixture,
) -> None:
    path = write_ct(tmp_path / "in", "ct.dcm", rows=256)
    tls = ["+tls", str(pki.client.key), str(pki.client.cert), "-pw", "+cf", str(pki.trusted.cert)]
    with caplog.at_level(logging.INFO, logger="pacslink"):
        server = await listener_app.start_listener(tls=True)
        port = server.port
        try:
            rc_echo, out_echo = await run_tool("echoscu", *tls, "-aec", "LISTENER", "127.0.0.1",
                                               str(server.port))
            rc_store, out_store = await run_tool("storescu", *tls, "-xi", "-aec", "LISTENER",
                                                 "127.0.0.1", str(server.port), str(path))
        finally:
            await server.close()
    assert rc_echo == 0, out_echo
    assert rc_store == 0, out_store
    row = listener_app.index.get_instance(uid_of(path))
    assert row is not None and row.calling_ae == "STORESCU"
    assert dataset_part(listener_app.store.path_of(row)) == dataset_part(path)
    versions = [line.split(": ", 1)[1] for line in tls_lines(caplog) if line.startswith("TLS with")]
    assert len(versions) == 2
    assert all(v.startswith(("TLSv1.2,", "TLSv1.3,")) and v.endswith("CN=client") for v in versions)
    no_tracebacks(caplog)


async def test_pacslink_echo_and_send_to_dcmtk_storescp_over_tls(
    tmp_path: Path, pki: PKI,
) -> None:
    files = [write_ct(tmp_path / "in", f"ct{i}.dcm") for i in range(2)]
    client = home(tmp_path, "client", pki.client, pki.trusted.cert)
    port = free_port()
    out_dir = tmp_path / "storescp"
    out_dir.mkdir()
    with dcmtk_server(["storescp", "+tls", str(pki.server.key), str(pki.server.cert), "-pw",
                       "+cf", str(pki.trusted.cert), "--bit-preserving", "-aet", "STORESCP",
                       "-od", str(out_dir), str(port)], port, tmp_path):
        ae = RemoteAE("DCMTK", "STORESCP", "127.0.0.1", port, tls=True)
        echo = await client.echo(ae)
        outcomes = await client.send(ae, scan_paths(files).files)
        # storescp requires a client certificate: one without is refused
        anonymous = home(tmp_path, "anonymous", None, pki.trusted.cert)
        refused = await anonymous.echo(ae)
    assert echo.ok, echo.error
    assert [o.status for o in outcomes] == [0, 0], outcomes
    received = {uid_of(p): p for p in out_dir.iterdir()}
    for path in files:
        assert dataset_part(received[uid_of(path)]) == dataset_part(path)
    # storescp's TLS 1.3 alert, or its TCP reset that overtook the alert
    assert refused.status is None and refused.error.startswith(f"STORESCP@127.0.0.1:{port} ")
    assert ("ended the TLS session without answering the association request: the server "
            "requires a certificate and we presented none" in refused.error
            or "it may have refused our client certificate" in refused.error), refused.error
