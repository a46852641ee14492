"""The messages a person reads when listening, connecting or storing goes wrong.

Each is one sentence that says what to change (``--port``, ``--bind``, ``min_free_mb``),
never a bare ``errno`` text such as "Unknown error -2".
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pacslink.api import Pacslink, StoredEvent
from pacslink.dicomnet.association import AEConfig, Limits
from pacslink.dicomnet.client import associate, c_store
from pacslink.dicomnet.errors import AssociationRejected, ConnectError
from pacslink.dicomnet.negotiation import build_contexts
from pacslink.dicomnet.server import DicomServer
from pacslink.errors import PacslinkError, StoreFullError
from pacslink.services.scp import status_for
from pacslink.store.paths import check_free_space
from tests.factory import CT_IMAGE_STORAGE, EXPLICIT_VR_LITTLE_ENDIAN, make_ct, make_dataset_bytes
from tests.peers import allow_callers, free_port

SCU = AEConfig("MODALITY1", "2.25.999", "MODALITY1_1", Limits(connect_timeout=5, acse_timeout=5,
                                                               network_timeout=10, dimse_timeout=10))


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Pacslink]:
    application = Pacslink.from_home(tmp_path / "home", flags={"min_free_mb": 1}, environ={})
    yield application
    application.close()


async def listen_error(app: Pacslink, **where: Any) -> str:
    with pytest.raises(PacslinkError) as caught:
        server = await app.start_listener(**where)
        await server.close()
    return str(caught.value)


# --- 4. binding the listener ------------------------------------------------------------


async def test_port_in_use(app: Pacslink) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        message = await listen_error(app, bind="127.0.0.1", port=port)
    assert message == (f"port {port} is in use (is another pacslink or DICOM server running?); "
                       "choose another with --port")


@pytest.mark.parametrize("bind", ["192.0.2.1", "no-such-host.invalid"])
async def test_bind_to_an_address_this_machine_does_not_have(app: Pacslink, bind: str) -> None:
    message = await listen_error(app, bind=bind, port=free_port())
    assert message == f"cannot bind to '{bind}': no such local address; check --bind"


async def test_privileged_port(app: Pacslink, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, where binding port 104 works: simulate the refusal.
    async def refuse(self: DicomServer, host: str, port: int) -> None:
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(DicomServer, "start", refuse)
    message = await listen_error(app, bind="127.0.0.1", port=104)
    assert message == "port 104 needs privileges; use a port above 1023"


async def test_connecting_to_a_host_that_does_not_resolve() -> None:
    with pytest.raises(ConnectError) as caught:
        await associate("no-such-host.invalid", 104, SCU, "PACS",
                        build_contexts([(CT_IMAGE_STORAGE, [EXPLICIT_VR_LITTLE_ENDIAN])]))
    message = str(caught.value)
    assert message.startswith("cannot resolve host 'no-such-host.invalid'"), message
    assert "Unknown error" not in message


# --- 5. rejected associations are logged at WARNING -------------------------------------


async def test_rejected_association_is_a_warning(
    app: Pacslink, caplog: pytest.LogCaptureFixture
) -> None:
    server = await app.start_listener(bind="127.0.0.1", port=free_port())
    try:
        with caplog.at_level(logging.WARNING, logger="pacslink"):
            with pytest.raises(AssociationRejected):
                await associate("127.0.0.1", server.port, SCU, "WRONG",
                                build_contexts([(CT_IMAGE_STORAGE, [EXPLICIT_VR_LITTLE_ENDIAN])]))
    finally:
        await server.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("rejected association from MODALITY1@127.0.0.1:")
    assert warnings[0].endswith(
        "called AE title not recognized; it called 'WRONG', but this AE is 'PACSLINK'; set "
        "the called (destination) AE title on the caller to PACSLINK"), warnings[0]


# --- 6. the free-space floor ------------------------------------------------------------


def test_free_space_message_uses_mb_and_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(StoreFullError) as caught:
        check_free_space(tmp_path, 200 * 10**15)
    message = str(caught.value)
    assert message.startswith("only "), message
    assert "MB free, below min_free_mb=200000000000 MB; " in message, message
    assert message.endswith("or lower min_free_mb / PACSLINK_MIN_FREE_MB"), message
    assert "MiB" not in message


def test_error_comment_does_not_repeat_the_status() -> None:
    status, comment = status_for(StoreFullError("only 5 MB free, below min_free_mb=200 MB"))
    assert status == 0xA700
    assert comment == "only 5 MB free, below min_free_mb=200 MB"


async def test_refusal_is_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Below the floor: the observer gets the refusal, the log stays below WARNING."""
    app = Pacslink.from_home(tmp_path / "home", flags={"min_free_mb": 10**9}, environ={})
    allow_callers(app.registry, SCU.ae_title)
    events: list[StoredEvent] = []
    server = await app.start_listener(events.append, bind="127.0.0.1", port=free_port())
    ds = make_ct()
    try:
        with caplog.at_level(logging.DEBUG, logger="pacslink"):
            async with await associate(
                "127.0.0.1", server.port, SCU, "PACSLINK",
                build_contexts([(CT_IMAGE_STORAGE, [EXPLICIT_VR_LITTLE_ENDIAN])]),
            ) as assoc:
                ctx = assoc.context_for(CT_IMAGE_STORAGE, EXPLICIT_VR_LITTLE_ENDIAN)
                rsp = await c_store(assoc, ctx, CT_IMAGE_STORAGE, ds.SOPInstanceUID,
                                    make_dataset_bytes(ds))
    finally:
        await server.close()
        app.close()
    assert rsp.Status == 0xA700
    assert (rsp.ErrorComment or "").startswith("only "), rsp.ErrorComment
    assert "below min_free_mb=1000000000 MB" in (rsp.ErrorComment or ""), rsp.ErrorComment
    (event,) = events
    assert event.status == 0xA700 and "below min_free_mb=1000000000 MB;" in event.detail
    assert "out of resources" not in event.detail.lower()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
