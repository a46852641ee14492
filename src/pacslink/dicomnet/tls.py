"""DICOM TLS (PS3.15 Annex B.1, Secure Transport Connection Profiles): the handshake.

Both sides open a plain TCP connection first and then upgrade it with
:meth:`asyncio.StreamWriter.start_tls`, so the handshake runs inside the code that owns
the connection: on the acceptor it falls under the ARTIM deadline and the pending caps
like an A-ASSOCIATE-RQ, and on both sides a failure is reported as
:class:`~pacslink.dicomnet.errors.TLSError` with a reason people can act on (see
:func:`describe_tls_error`) instead of OpenSSL's ``[SSL: ...] ... (_ssl.c:1006)``.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from pacslink.dicomnet.errors import TLSError

#: OpenSSL reasons meaning the bytes received were not a TLS record at all.
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST",
                      "UNKNOWN_PROTOCOL", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"})

#: What each OpenSSL reason means, from the side that saw it; ``{peer}`` is the other side.
_REASONS = {
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "the client presented no certificate",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the {peer} requires a certificate and we presented none",
    "UNSUPPORTED_PROTOCOL": "the {peer} offered only TLS versions older than we accept (TLS 1.2)",
    "TLSV1_ALERT_PROTOCOL_VERSION": "the {peer} does not accept the TLS versions we offer",
    "NO_PROTOCOLS_AVAILABLE": "no TLS version is enabled on our side",
    "NO_SHARED_CIPHER": "no cipher suite in common with the {peer}",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the {peer} refused the handshake (no common TLS version "
                                     "or cipher suite, or a certificate it requires)",
    "TLSV1_ALERT_UNKNOWN_CA": "the {peer} does not trust the CA that signed our certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the {peer} did not accept our certificate",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the {peer} says our certificate has expired",
    "TLSV1_ALERT_DECRYPT_ERROR": "the {peer} could not verify our handshake signature",
}


def describe_tls_error(exc: BaseException, *, server_side: bool) -> str:
    """One line saying why a handshake failed, without OpenSSL's file and line.

    Parameters
    ----------
    exc : BaseException
        What :meth:`asyncio.StreamWriter.start_tls` raised.
    server_side : bool
        Whether we were the acceptor (the "peer" is then the client).

    Examples
    --------
    >>> describe_tls_error(ConnectionResetError(), server_side=False)
    'the server closed the connection during the handshake'
    """
    peer = "client" if server_side else "server"
    if isinstance(exc, ssl.SSLCertVerificationError):
        what = exc.verify_message or exc.reason or "verification failed"
        return f"the {peer}'s certificate was not accepted: {what}"
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or ""
        if reason in _NOT_TLS:
            return (f"the {peer} did not speak TLS (plain DICOM to a TLS port?)" if server_side
                    else f"the {peer} did not answer with TLS (is it a plain DICOM port?)")
        if reason in _REASONS:
            return _REASONS[reason].format(peer=peer)
        if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return f"the {peer} closed the connection during the handshake"
        return reason.replace("_", " ").lower() if reason else str(exc)
    if isinstance(exc, ConnectionError | asyncio.IncompleteReadError | EOFError):
        return f"the {peer} closed the connection during the handshake"
    return str(exc) or type(exc).__name__


def peer_closed(exc: BaseException) -> bool:
    """Whether a failed handshake was the peer just closing (a port probe, a client that
    gave up) rather than a refusal with a reason."""
    cause = exc.__cause__ if isinstance(exc, TLSError) else exc
    return isinstance(cause, ConnectionError | EOFError | ssl.SSLEOFError | ssl.SSLZeroReturnError)


async def start_tls(
    writer: asyncio.StreamWriter, context: ssl.SSLContext, *, server_side: bool,
    server_hostname: str | None = None, timeout: float,
) -> None:
    """Upgrade the connection of ``writer`` (and its reader) to TLS.

    Raises
    ------
    TLSError
        The handshake failed; the message says why (see :func:`describe_tls_error`).
    TimeoutError
        Not finished within ``timeout`` seconds.
    """
    try:
        await writer.start_tls(context, server_hostname=None if server_side else server_hostname,
                               ssl_handshake_timeout=timeout)
    except (ssl.SSLError, OSError, EOFError) as exc:
        if isinstance(exc, ConnectionAbortedError) and "timed out" in str(exc):
            raise TimeoutError(str(exc)) from exc  # asyncio's own handshake timeout
        raise TLSError(describe_tls_error(exc, server_side=server_side)) from exc


def peer_summary(writer: asyncio.StreamWriter) -> str:
    """``TLSv1.3, certificate CN=modality1`` for logs, or ``TLSv1.3, no certificate``."""
    ssl_object = writer.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject):
        return "no TLS"
    certificate: dict[str, Any] = dict(ssl_object.getpeercert() or {})
    names = [value for rdn in certificate.get("subject", ()) for key, value in rdn
             if key == "commonName"]
    shown = f"certificate CN={names[0]}" if names else "no certificate"
    return f"{ssl_object.version()}, {shown}"
