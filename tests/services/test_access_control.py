"""Who may associate: calling and called AE titles, caller hosts, running retrieves.

The policy (:mod:`pacslink.services.access`) is tested as a unit, then through a real
``Pacslink.start_listener()`` with raw PDUs (the A-ASSOCIATE-RJ bytes on the wire),
pynetdicom, DCMTK's storescu/echoscu and a real C-MOVE from the sample PACS. Every
rejection test also checks that nothing reached the store.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from pacslink.aeregistry import AERegistry
from pacslink.api import Pacslink, RetrieveTarget, scan_paths
from pacslink.config import SETTINGS_BY_NAME, load_settings
from pacslink.dicomnet import pdu as P
from pacslink.dicomnet.association import AEConfig, Limits
from pacslink.dicomnet.client import associate, c_echo, c_store
from pacslink.dicomnet.errors import AssociationRejected
from pacslink.dicomnet.items import PresentationContextRQ
from pacslink.dicomnet.negotiation import build_contexts
from pacslink.dicomnet.server import DicomServer
from pacslink.errors import ConfigError
from pacslink.models import Query, QueryLevel, RemoteAE, RetrieveMethod
from pacslink.services.access import (
    CALLING_AE_NOT_RECOGNIZED,
    CachedRegistry,
    CallerPolicy,
    resolve_host,
    verification_only,
)
from pacslink.services.tracking import RetrieveRegistry
from tests.factory import (
    CT_IMAGE_STORAGE,
    EXPLICIT_VR_LITTLE_ENDIAN,
    make_ct,
    make_dataset_bytes,
    make_part10_bytes,
)
from tests.peers import allow_callers, free_port, require_module, run_tool

VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT = "1.2.840.10008.1.2"
RJ_CALLING = bytes([0x03, 0x00, 0, 0, 0, 4, 0x00, 0x01, 0x01, 0x03])  # PS3.8 9.3.4, reason 3
RJ_CALLED = bytes([0x03, 0x00, 0, 0, 0, 4, 0x00, 0x01, 0x01, 0x07])  # reason 7


def scu(ae_title: str) -> AEConfig:
    return AEConfig(ae_title, "2.25.4711", "ACLTEST", Limits(connect_timeout=5, acse_timeout=5,
                                                            network_timeout=10, dimse_timeout=10))


def rq(calling: str, *abstract_syntaxes: str, called: str = "PACSLINK") -> P.AssociateRQ:
    contexts = tuple(PresentationContextRQ(2 * i + 1, uid, (IMPLICIT,))
                     for i, uid in enumerate(abstract_syntaxes))
    return P.AssociateRQ(called, calling, contexts, P.UserInformation(max_length=16384))


def remote(name: str, host: str = "127.0.0.1", ae_title: str | None = None) -> RemoteAE:
    return RemoteAE(name, ae_title or name, host, 104)


def policy(*aes: RemoteAE, **options: Any) -> CallerPolicy:
    return CallerPolicy(lambda: aes, **options)


PEER = ("127.0.0.1", 40000)


# --- the policy as a unit ---------------------------------------------------------------


def test_verification_only_means_every_context_is_verification() -> None:
    assert verification_only(rq("X", VERIFICATION))
    assert verification_only(rq("X", VERIFICATION, VERIFICATION))
    assert not verification_only(rq("X", VERIFICATION, CT_IMAGE_STORAGE))
    assert not verification_only(rq("X"))


async def test_unknown_caller_storing_is_rejected_with_reason_3_and_a_next_step() -> None:
    rejection = await policy(remote("MODALITY1")).check(rq("STRANGER", CT_IMAGE_STORAGE), PEER)
    assert isinstance(rejection, tuple)
    rj, why = rejection
    assert rj == CALLING_AE_NOT_RECOGNIZED == P.AssociateRJ(1, 1, 3)
    assert rj.describe() == "permanent: calling AE title not recognized"
    assert why == ("STRANGER is not a configured remote AE; add it with `pacslink ae add "
                   "STRANGER --aet STRANGER --host 127.0.0.1 --port 104` (--port: its own "
                   "DICOM port; 104 if it only sends), or set accept_unknown_callers = true "
                   "(in [settings] of pacslink.toml, or PACSLINK_ACCEPT_UNKNOWN_CALLERS=true)")
    odd = await policy(home=Path("/srv/my home")).check(rq("CT 1\\A", CT_IMAGE_STORAGE), PEER)
    assert isinstance(odd, tuple)
    assert "`pacslink --home '/srv/my home' ae add CT_1_A --aet 'CT 1\\A' " in odd[1]


async def test_unknown_caller_may_echo_only() -> None:
    known = policy(remote("MODALITY1"))
    assert await known.check(rq("STRANGER", VERIFICATION), PEER) is None
    assert await known.check(rq("STRANGER", VERIFICATION, CT_IMAGE_STORAGE), PEER) is not None


async def test_known_caller_and_accept_unknown_callers() -> None:
    assert await policy(remote("MODALITY1")).check(rq("MODALITY1", CT_IMAGE_STORAGE), PEER) is None
    # titles are compared exactly (after the padding is stripped), not case-folded
    assert await policy(remote("MODALITY1")).check(rq("modality1", CT_IMAGE_STORAGE), PEER)
    anyone = policy(remote("MODALITY1"), accept_unknown=True)
    assert await anyone.check(rq("STRANGER ", CT_IMAGE_STORAGE), PEER) is None


async def test_source_of_a_running_retrieve_is_accepted_only_while_it_runs() -> None:
    retrieves = RetrieveRegistry("PACSLINK")
    callers = policy(expected=retrieves.senders)
    store = rq("ADHOCPACS", CT_IMAGE_STORAGE)
    assert await callers.check(store, PEER) is not None
    tracker = retrieves.begin("ADHOCPACS", {"1.2.3"}, "127.0.0.1")
    assert await callers.check(store, PEER) is None
    assert await callers.check(rq("OTHERPACS", CT_IMAGE_STORAGE), PEER) is not None
    retrieves.end(tracker)
    assert await callers.check(store, PEER) is not None


@pytest.mark.parametrize(("configured", "peer"), [
    ("127.0.0.1", "127.0.0.1"),
    ("localhost", "127.0.0.1"),
    ("localhost", "::1"),
    ("127.0.0.1", "::ffff:127.0.0.1"),
    ("::1", "127.0.0.1"),
    ("192.0.2.7", "::ffff:192.0.2.7"),
])
async def test_caller_host_matches(configured: str, peer: str) -> None:
    bound = policy(remote("MODALITY1", configured), check_host=True)
    assert await bound.check(rq("MODALITY1", CT_IMAGE_STORAGE), (peer, 1)) is None


async def test_caller_from_another_host_is_rejected_with_reason_3() -> None:
    bound = policy(remote("MODALITY1", "192.0.2.7"), check_host=True)
    rejection = await bound.check(rq("MODALITY1", CT_IMAGE_STORAGE), ("127.0.0.1", 1))
    assert isinstance(rejection, tuple)
    assert rejection[0] == P.AssociateRJ(1, 1, 3)
    assert rejection[1] == ("MODALITY1 is allowed from 192.0.2.7 only (check_caller_host = true); "
                            "correct it with `pacslink ae edit MODALITY1 --host 127.0.0.1` or set "
                            "check_caller_host = false (in [settings] of pacslink.toml)")
    # without the setting the host is not looked at; C-ECHO is never refused for it
    assert await policy(remote("MODALITY1", "192.0.2.7")).check(
        rq("MODALITY1", CT_IMAGE_STORAGE), ("127.0.0.1", 1)) is None
    assert await bound.check(rq("MODALITY1", VERIFICATION), ("127.0.0.1", 1)) is None
    # any entry with that title may match: two modalities sharing a title
    two = policy(remote("A", "192.0.2.7", "MODALITY1"), remote("B", "127.0.0.1", "MODALITY1"),
                 check_host=True)
    assert await two.check(rq("MODALITY1", CT_IMAGE_STORAGE), ("127.0.0.1", 1)) is None


async def test_unresolvable_host_rejects_and_says_so() -> None:
    async def nothing(host: str) -> set[Any]:
        return set()

    bound = policy(remote("MODALITY1", "gone.example"), check_host=True, resolve=nothing)
    rejection = await bound.check(rq("MODALITY1", CT_IMAGE_STORAGE), ("127.0.0.1", 1))
    assert isinstance(rejection, tuple) and rejection[0] == CALLING_AE_NOT_RECOGNIZED
    assert "; gone.example does not resolve;" in rejection[1], rejection[1]


async def test_a_running_retrieve_is_bound_to_its_source_host() -> None:
    retrieves = RetrieveRegistry("PACSLINK")
    retrieves.begin("ADHOCPACS", {"1.2.3"}, "192.0.2.7")
    bound = policy(expected=retrieves.senders, check_host=True)
    rejection = await bound.check(rq("ADHOCPACS", CT_IMAGE_STORAGE), ("127.0.0.1", 1))
    assert isinstance(rejection, tuple) and rejection[0] == CALLING_AE_NOT_RECOGNIZED
    assert "ADHOCPACS is allowed from 192.0.2.7 only" in rejection[1]
    assert await bound.check(rq("ADHOCPACS", CT_IMAGE_STORAGE), ("192.0.2.7", 1)) is None


async def test_resolve_host_literal_and_localhost() -> None:
    assert await resolve_host("192.0.2.7") == {ipaddress.ip_address("192.0.2.7")}
    assert any(a.is_loopback for a in await resolve_host("localhost"))


async def test_an_invalid_registry_fails_closed_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "pacslink.toml"
    path.write_text("[ae.BROKEN]\naet = 'X'\nhost = '127.0.0.1'\nport = 70000\n")
    registry = AERegistry(path)
    strict = CallerPolicy(registry.list)
    rejection = await strict.check(rq("X", CT_IMAGE_STORAGE), PEER)
    assert isinstance(rejection, tuple) and rejection[0] == CALLING_AE_NOT_RECOGNIZED
    assert rejection[1].startswith(f"the remote AEs cannot be read ({path}: [ae.BROKEN] port:")
    assert await CallerPolicy(registry.list, accept_unknown=True).check(
        rq("X", CT_IMAGE_STORAGE), PEER) is None


def test_cached_registry_reads_again_only_when_the_file_changes(tmp_path: Path) -> None:
    registry = AERegistry(tmp_path / "pacslink.toml")
    reads: list[int] = []

    def read() -> list[RemoteAE]:
        reads.append(1)
        return registry.list()

    known = CachedRegistry(registry.path, read)
    assert known() == () and known() == ()
    assert len(reads) == 1
    registry.add(remote("MODALITY1"))
    assert [ae.ae_title for ae in known()] == ["MODALITY1"]
    assert [ae.ae_title for ae in known()] == ["MODALITY1"]
    assert len(reads) == 2


# --- settings ---------------------------------------------------------------------------


def test_settings_default_off_and_parse_from_file_and_environment(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})
    assert settings.accept_unknown_callers is False and settings.check_caller_host is False
    assert SETTINGS_BY_NAME["accept_unknown_callers"].default == "false"  # as TOML writes it
    (tmp_path / "pacslink.toml").write_text("[settings]\naccept_unknown_callers = true\n")
    settings = load_settings(tmp_path, environ={"PACSLINK_CHECK_CALLER_HOST": "yes"})
    assert settings.accept_unknown_callers is True and settings.check_caller_host is True
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={"PACSLINK_CHECK_CALLER_HOST": "maybe"})
    assert str(caught.value) == "PACSLINK_CHECK_CALLER_HOST: must be true or false, got 'maybe'"


# --- through a real listener ------------------------------------------------------------


def make_app(home: Path, **flags: Any) -> Pacslink:
    return Pacslink.from_home(home, flags={"port": free_port(), "min_free_mb": 1, **flags},
                              environ={})


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Pacslink]:
    application = make_app(tmp_path / "home")
    allow_callers(application.registry, "MODALITY1")
    yield application
    application.close()


async def raw_answer(port: int, request: P.AssociateRQ) -> bytes:
    """Send an A-ASSOCIATE-RQ and return the answer PDU's bytes as they came."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request.encode())
        await writer.drain()
        header = await asyncio.wait_for(reader.readexactly(6), 10)
        body = await asyncio.wait_for(reader.readexactly(int.from_bytes(header[2:], "big")), 10)
        return header + body
    finally:
        writer.close()


def stored(app: Pacslink) -> list[str]:
    return [i.sop_instance_uid for i in app.index.iter_instances()]


def objects(app: Pacslink) -> list[Path]:
    folder = app.store.objects_dir
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


async def store_one(port: int, calling: str) -> int:
    ds = make_ct()
    contexts = build_contexts([(CT_IMAGE_STORAGE, [EXPLICIT_VR_LITTLE_ENDIAN])])
    async with await associate("127.0.0.1", port, scu(calling), "PACSLINK", contexts) as a:
        rsp = await c_store(a, a.context_for(CT_IMAGE_STORAGE), CT_IMAGE_STORAGE,
                            ds.SOPInstanceUID, make_dataset_bytes(ds))
    return int(rsp.Status or 0)


async def test_unknown_caller_gets_reason_3_on_the_wire_and_a_warning(
    app: Pacslink, server: DicomServer, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="pacslink"):
        answer = await raw_answer(server.port, rq("STRANGER", CT_IMAGE_STORAGE))
    assert answer == RJ_CALLING
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert line.startswith("rejected association from STRANGER@127.0.0.1:"), line
    assert line.split(": ", 1)[1] == (
        "permanent: calling AE title not recognized; STRANGER is not a configured remote AE; "
        f"add it with `pacslink --home {app.settings.home} ae add STRANGER --aet STRANGER "
        "--host 127.0.0.1 --port 104` (--port: its own DICOM port; 104 if it only sends), or "
        "set accept_unknown_callers = true (in [settings] of pacslink.toml, or "
        "PACSLINK_ACCEPT_UNKNOWN_CALLERS=true)"), line
    with pytest.raises(AssociationRejected) as caught:
        await store_one(server.port, "STRANGER")
    assert (caught.value.rj.result, caught.value.rj.source, caught.value.rj.reason) == (1, 1, 3)
    assert stored(app) == [] and objects(app) == []


async def test_wrong_called_ae_is_reason_7_before_the_caller_is_looked_at(
    app: Pacslink, server: DicomServer,
) -> None:
    for calling in ("STRANGER", "MODALITY1"):
        answer = await raw_answer(server.port, rq(calling, CT_IMAGE_STORAGE, called="OTHER"))
        assert answer == RJ_CALLED, calling
    assert stored(app) == []


async def test_a_control_character_in_the_title_cannot_forge_a_log_line(
    app: Pacslink, server: DicomServer, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="pacslink"):
        answer = await raw_answer(server.port, rq("X\nwarning: ok", CT_IMAGE_STORAGE))
    assert answer == RJ_CALLING
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "\n" not in line and line.startswith("rejected association from X?warning: ok@"), line
    assert "--aet 'X?warning: ok' --host" in line, line  # quoted for the shell


async def test_unknown_caller_echo_is_accepted(server: DicomServer) -> None:
    answer = await raw_answer(server.port, rq("STRANGER", VERIFICATION))
    assert answer[0] == 0x02  # A-ASSOCIATE-AC
    async with await associate("127.0.0.1", server.port, scu("STRANGER"), "PACSLINK",
                               build_contexts([(VERIFICATION, [IMPLICIT])])) as assoc:
        assert await c_echo(assoc) == 0x0000


async def test_known_caller_stores(app: Pacslink, server: DicomServer) -> None:
    assert await store_one(server.port, "MODALITY1") == 0x0000
    assert len(stored(app)) == 1 and len(objects(app)) == 1


async def test_ae_added_while_listening_is_accepted_without_a_restart(
    app: Pacslink, server: DicomServer,
) -> None:
    with pytest.raises(AssociationRejected):
        await store_one(server.port, "NEWMODALITY")
    app.registry.add(remote("NEWMODALITY"))
    assert await store_one(server.port, "NEWMODALITY") == 0x0000
    assert len(stored(app)) == 1


async def test_accept_unknown_callers_stores(tmp_path: Path) -> None:
    app = make_app(tmp_path / "open", accept_unknown_callers=True)
    server = await app.start_listener()
    try:
        assert await store_one(server.port, "STRANGER") == 0x0000
    finally:
        await server.close()
    assert len(stored(app)) == 1
    app.close()


async def test_known_caller_from_another_host_is_rejected_when_hosts_are_checked(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path / "bound", check_caller_host=True)
    app.registry.add(remote("MODALITY1", "192.0.2.7"))  # TEST-NET-1: never our loopback peer
    app.registry.add(remote("MODALITY2", "localhost"))
    server = await app.start_listener()
    try:
        assert await raw_answer(server.port, rq("MODALITY1", CT_IMAGE_STORAGE)) == RJ_CALLING
        assert await store_one(server.port, "MODALITY2") == 0x0000
    finally:
        await server.close()
    assert len(stored(app)) == 1
    app.close()


def _pynetdicom_store(port: int, calling: str, ds: Dataset) -> tuple[bool, int | None]:
    from pynetdicom import AE

    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_requested_context(CT_IMAGE_STORAGE, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", port, ae_title="PACSLINK")
    if not assoc.is_established:
        return assoc.is_rejected, None
    try:
        return False, int(assoc.send_c_store(ds).Status)
    finally:
        assoc.release()


def _with_meta(ds: Dataset) -> Dataset:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


async def test_pynetdicom_unknown_is_rejected_known_stores(
    app: Pacslink, server: DicomServer, caplog: pytest.LogCaptureFixture,
) -> None:
    require_module("pynetdicom")
    ds = _with_meta(make_ct())
    with caplog.at_level(logging.ERROR, logger="pynetdicom"):
        rejected, status = await asyncio.to_thread(_pynetdicom_store, server.port, "PYNETDICOM", ds)
    assert (rejected, status) == (True, None)
    said = " ".join(r.getMessage() for r in caplog.records if r.name.startswith("pynetdicom"))
    assert "Rejected Permanent, Source: Service User" in said, said
    assert "Calling AE title not recognised" in said, said
    assert stored(app) == []
    assert await asyncio.to_thread(_pynetdicom_store, server.port, "MODALITY1", ds) == (False, 0)
    assert stored(app) == [ds.SOPInstanceUID]


async def test_dcmtk_storescu_is_told_why_and_echoscu_still_works(
    app: Pacslink, server: DicomServer, tmp_path: Path,
) -> None:
    path = tmp_path / "ct.dcm"
    ds = _with_meta(make_ct())
    ds.save_as(path, enforce_file_format=True)
    rc, out = await run_tool("storescu", "-aet", "STRANGER", "-aec", "PACSLINK", "127.0.0.1",
                             str(server.port), str(path))
    assert rc != 0, out
    assert "Association Rejected" in out and "Calling AE Title Not Recognized" in out, out
    assert stored(app) == [] and objects(app) == []
    rc, out = await run_tool("echoscu", "-aet", "STRANGER", "-aec", "PACSLINK", "127.0.0.1",
                             str(server.port))
    assert rc == 0, out
    rc, out = await run_tool("storescu", "-aet", "MODALITY1", "-aec", "PACSLINK", "127.0.0.1",
                             str(server.port), str(path))
    assert rc == 0, out
    assert stored(app) == [ds.SOPInstanceUID]


# --- C-MOVE sub-operations: the source of a running retrieve -----------------------------


def write_study(folder: Path, count: int, study_uid: str | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    first = make_ct(study_instance_uid=study_uid)
    paths = []
    for i in range(count):
        ds = first if i == 0 else make_ct(study_instance_uid=first.StudyInstanceUID,
                                           series_instance_uid=first.SeriesInstanceUID,
                                           instance_number=i + 1)
        path = folder / f"ct{i}.dcm"
        _with_meta(ds).save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


async def test_unconfigured_source_of_a_running_retrieve_may_store_only_then(
    tmp_path: Path,
) -> None:
    client = make_app(tmp_path / "client")  # no remote AEs at all
    pacs = make_app(tmp_path / "pacs", ae_title="ADHOCPACS")
    files = write_study(tmp_path / "study", 2)
    assert pacs.import_paths(files)["stored"] == 2
    # the PACS knows us: as a caller (C-FIND, C-MOVE) and as the move destination
    pacs.registry.add(RemoteAE("PACSLINK", "PACSLINK", "127.0.0.1", client.settings.port))
    pacs_server = await pacs.start_pacs()
    source = f"ADHOCPACS@127.0.0.1:{pacs_server.port}"
    study = str(make_ct_study_uid(files[0]))
    try:
        report = await client.retrieve(source, RetrieveTarget(study), method=RetrieveMethod.MOVE)
        assert report.complete, (report.error, report.missing)
        assert len(stored(client)) == 2
        # the retrieve is over: the same AE pushing to us is an unknown caller again
        listener = await client.start_listener()
        try:
            extra = write_study(tmp_path / "extra", 1)
            outcomes = await pacs.send(f"PACSLINK@127.0.0.1:{listener.port}",
                                       scan_paths(extra).files)
        finally:
            await listener.close()
    finally:
        await pacs_server.close()
    assert [o.category for o in outcomes] == ["Failure"], outcomes
    assert "calling AE title not recognized" in outcomes[0].detail, outcomes
    assert len(stored(client)) == 2
    client.close()
    pacs.close()


def make_ct_study_uid(path: Path) -> str:
    from pydicom import dcmread

    return str(dcmread(path, stop_before_pixels=True).StudyInstanceUID)


async def test_our_scu_says_which_ae_title_to_change_when_rejected(
    app: Pacslink, server: DicomServer, tmp_path: Path,
) -> None:
    """Reason 3: the peer must learn our AE title; reason 7: our entry has the wrong one."""
    path = tmp_path / "ct.dcm"
    path.write_bytes(make_part10_bytes(make_ct()))
    client = Pacslink.from_home(tmp_path / "client", flags={"ae_title": "NEWCOMER"}, environ={})
    try:
        listener = RemoteAE("LISTENER", app.settings.ae_title, "127.0.0.1", server.port)
        (outcome,) = await client.send(listener, scan_paths([path]).files)
        assert outcome.detail == (
            "association rejected (permanent: calling AE title not recognized); LISTENER does "
            "not accept our AE title NEWCOMER: add NEWCOMER (this host and our port) to its "
            "list of known AEs")
        wrong = RemoteAE("LISTENER", "WRONGTITLE", "127.0.0.1", server.port)
        echo = await client.echo(wrong)
        assert echo.status is None
        assert echo.error == (
            "association rejected (permanent: called AE title not recognized); "
            f"127.0.0.1:{server.port} is not WRONGTITLE: ask its administrator for its AE "
            "title and correct it (pacslink ae edit LISTENER --aet TITLE)")
        client.registry.add(listener)
        found = await client.find(Query(QueryLevel.STUDY, patient_id="X"), aes=["LISTENER"])
        (result,) = found.per_ae
        assert result.state == "failed"
        assert result.error == (
            "association rejected: calling AE title not recognized; LISTENER does not accept "
            "our AE title NEWCOMER: add NEWCOMER (this host and our port) to its list of "
            "known AEs")
    finally:
        client.close()
    assert list(app.index.iter_instances()) == []
