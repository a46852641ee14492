"""Requestor side: open an association and run DIMSE-C requests on it (PS3.7 9.1, 9.3).

>>> async def ping(host, port):                              # doctest: +SKIP
...     local = AEConfig("PACSLINK", "2.25.1")
...     async with await associate(host, port, local, "ORTHANC",
...                                build_contexts([(VERIFICATION, [IMPLICIT_VR_LE])])) as assoc:
...         return await c_echo(assoc)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl as _ssl
from collections.abc import AsyncIterator, Sequence

from pacslink.dicomnet import pdu as P
from pacslink.dicomnet.association import AcceptedContext, AEConfig, Association, FileDataset
from pacslink.dicomnet.commands import (
    C_ECHO_RQ,
    C_STORE_RQ,
    DATASET_PRESENT,
    PRIORITY_MEDIUM,
    Command,
)
from pacslink.dicomnet.errors import (
    AssociationAborted,
    AssociationRejected,
    ConnectError,
    NetworkTimeout,
    NoAcceptedContext,
    PDUError,
    TLSError,
)
from pacslink.dicomnet.negotiation import accepted_from_ac, build_request
from pacslink.dicomnet.tls import describe_tls_error, start_tls

VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"


class ClientAssociation(Association):
    """An association we requested; usable as ``async with`` (released on exit)."""

    async def __aenter__(self) -> ClientAssociation:
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc is None:
            await self.release()
        else:
            await self.abort()


async def associate(
    host: str,
    port: int,
    local: AEConfig,
    called_ae_title: str,
    contexts: Sequence[P.PresentationContextRQ],
    *,
    roles: Sequence[P.SCPSCURoleSelection] = (),
    extra_sub_items: Sequence[P.SubItem] = (),
    ssl: _ssl.SSLContext | None = None,
) -> ClientAssociation:
    """Connect and negotiate an association (PS3.8 7.1).

    With ``ssl``, the TCP connection is upgraded to TLS before the A-ASSOCIATE-RQ is sent
    (DICOM TLS, PS3.15 B.1); the server's certificate is checked as ``ssl`` says, against
    ``host`` when its ``check_hostname`` is set. TCP connection and handshake together
    must finish within the connect timeout.

    Raises
    ------
    ConnectError
        TCP connection refused or unreachable, or connect timeout.
    TLSError
        The TLS handshake failed (a :class:`ConnectError`); the message says why, e.g.
        ``TLS handshake with host:port failed: the server's certificate was not
        accepted: self-signed certificate in certificate chain``.
    AssociationAborted
        The peer closed the connection without answering the A-ASSOCIATE-RQ (as a DICOM
        TLS port does with a plain request) or answered A-ABORT. A TLS alert instead of
        an answer (a server that refused our certificate after a TLS 1.3 handshake had
        finished on our side) raises :class:`TLSError`.
    AssociationRejected
        The peer sent A-ASSOCIATE-RJ; ``exc.rj.describe()`` says why.
    NetworkTimeout
        No A-ASSOCIATE-AC/RJ within the ACSE timeout.
    NoAcceptedContext
        The peer accepted none of the proposed presentation contexts.
    """
    limits = local.limits
    connected = False
    try:
        async with asyncio.timeout(limits.connect_timeout):
            reader, writer = await asyncio.open_connection(
                host, port, limit=2 * limits.max_pdu_length + 65536
            )
            connected = True
            if ssl is not None:
                try:
                    await start_tls(writer, ssl, server_side=False, server_hostname=host,
                                    timeout=limits.connect_timeout + 1)
                except TLSError as exc:
                    writer.transport.abort()
                    raise TLSError(f"TLS handshake with {host}:{port} failed: {exc}") from exc
    except TimeoutError as exc:
        if connected:
            writer.transport.abort()
            raise TLSError(f"TLS handshake with {host}:{port} not finished within "
                           f"{limits.connect_timeout:g} s") from exc
        raise ConnectError(
            f"no TCP connection to {host}:{port} within {limits.connect_timeout:g} s"
        ) from exc
    except socket.gaierror as exc:
        # Its errno is a resolver code (EAI_*), not an errno: os.strerror() would say
        # "Unknown error -2".
        reason = f" ({exc.strerror})" if exc.strerror else ""
        raise ConnectError(f"cannot resolve host '{host}'{reason}") from exc
    except OSError as exc:
        # asyncio's strerror is "Connect call failed ('host', port)"; errno says why.
        reason = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))
        raise ConnectError(f"cannot connect to {host}:{port}: {reason}") from exc
    assoc = ClientAssociation(reader, writer, local=local, is_requestor=True)
    rq = build_request(local, called_ae_title, contexts, roles=roles, extra_sub_items=extra_sub_items)
    assoc.rq = rq
    assoc.fsm.state = "Sta4"
    try:
        await assoc.send_pdu(rq.encode(), "Evt2")
        pdu_type, body = await assoc.read_pdu(limits.acse_timeout)
        if pdu_type == P.A_ASSOCIATE_RJ:
            await assoc.close()
            raise AssociationRejected(P.AssociateRJ.decode(body))
        ac = P.AssociateAC.decode(body)
    except AssociationAborted as exc:
        if isinstance(exc.__cause__, _ssl.SSLError):
            reason = describe_tls_error(exc.__cause__, server_side=False)
            raise TLSError(f"{called_ae_title}@{host}:{port} ended the TLS session without "
                           f"answering the association request: {reason}") from exc
        if not isinstance(exc.__cause__, asyncio.IncompleteReadError | ConnectionError):
            raise  # an A-ABORT: its message says who aborted and why
        raise AssociationAborted(
            f"{called_ae_title}@{host}:{port} closed the connection without answering the "
            "association request"
        ) from exc
    except NetworkTimeout as exc:
        await assoc.abort()
        raise NetworkTimeout(
            f"{called_ae_title}@{host}:{port} did not answer the association request "
            f"within {limits.acse_timeout:g} s"
        ) from exc
    except PDUError:
        await assoc.abort()
        raise
    assoc.ac = ac
    assoc.peer_max_pdu = ac.user_information.max_length
    assoc.contexts = accepted_from_ac(rq, ac)
    if not assoc.contexts:
        await assoc.release()
        raise NoAcceptedContext(
            f"{called_ae_title}@{host}:{port} accepted none of the "
            f"{len(contexts)} proposed presentation contexts"
        )
    return assoc


async def c_echo(assoc: Association) -> int:
    """Send C-ECHO-RQ (PS3.7 9.1.5) and return the response status."""
    ctx = assoc.context_for(VERIFICATION_SOP_CLASS)
    rq = Command(
        CommandField=C_ECHO_RQ, MessageID=assoc.next_message_id(),
        AffectedSOPClassUID=VERIFICATION_SOP_CLASS,
    )
    rsp = await assoc.request(ctx.context_id, rq)
    return rsp.command.Status if rsp.command.Status is not None else 0xC000


async def c_store(
    assoc: Association,
    context: AcceptedContext,
    sop_class_uid: str,
    sop_instance_uid: str,
    dataset: bytes | FileDataset,
    *,
    priority: int = PRIORITY_MEDIUM,
    move_originator: tuple[str, int] | None = None,
) -> Command:
    """Send C-STORE-RQ with a data set already in ``context``'s transfer syntax (PS3.7 9.1.1).

    Returns the C-STORE-RSP command (``.Status``, ``.ErrorComment``).
    """
    if context.abstract_syntax != sop_class_uid:
        raise NoAcceptedContext(
            f"context {context.context_id} is for {context.abstract_syntax}, not {sop_class_uid}"
        )
    rq = Command(
        CommandField=C_STORE_RQ, MessageID=assoc.next_message_id(),
        AffectedSOPClassUID=sop_class_uid, AffectedSOPInstanceUID=sop_instance_uid,
        Priority=priority, CommandDataSetType=DATASET_PRESENT,
        MoveOriginatorApplicationEntityTitle=move_originator[0] if move_originator else None,
        MoveOriginatorMessageID=move_originator[1] if move_originator else None,
    )
    rsp = await assoc.request(context.context_id, rq, dataset)
    return rsp.command


@contextlib.asynccontextmanager
async def echo_association(
    host: str, port: int, local: AEConfig, called_ae_title: str, *,
    ssl: _ssl.SSLContext | None = None,
) -> AsyncIterator[ClientAssociation]:
    """An association with only the Verification context (Implicit VR LE)."""
    from pacslink.dicomnet.negotiation import build_contexts

    contexts = build_contexts([(VERIFICATION_SOP_CLASS, ["1.2.840.10008.1.2"])])
    assoc = await associate(host, port, local, called_ae_title, contexts, ssl=ssl)
    try:
        yield assoc
    except BaseException:
        await assoc.abort()
        raise
    else:
        await assoc.release()


__all__ = [
    "AssociationAborted",
    "TLSError",
    "ClientAssociation",
    "associate",
    "c_echo",
    "c_store",
    "echo_association",
]
