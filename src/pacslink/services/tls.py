"""DICOM TLS for pacslink's SCP and SCUs (PS3.15 Annex B.1; BCP 195: TLS 1.2 or later).

:func:`server_context` and :func:`client_context` build :class:`ssl.SSLContext` objects
from PEM files (:class:`TLSFiles`, filled from the ``tls_*`` settings). Both refuse
anything older than TLS 1.2 and keep Python's default cipher suites (ECDHE with AES-GCM
or ChaCha20, no SHA-1, no RSA key exchange), which match BCP 195 and DCMTK's
``--profile-bcp195-nd``.

- The server presents ``tls_cert``/``tls_key`` and, unless ``tls_require_client_cert``
  is false, requires a client certificate signed by a CA in ``tls_ca`` (PS3.15 B.1:
  both sides are authenticated). When it is false, clients without a certificate are
  accepted; one that presents a certificate must still chain to ``tls_ca`` if set.
- The client verifies the server's certificate against ``tls_ca`` (required: the
  system's CAs do not sign PACS certificates) and presents ``tls_cert``/``tls_key``
  when set. The host name is checked against the certificate's subjectAltName unless
  ``tls_check_hostname`` is false, for PACS whose certificates name the AE rather than
  the host; the CA check stays on either way.

:func:`open_association` is what every SCU path calls: it picks the client context for
AEs marked ``tls = true``, and adds what to check next to a failure's message.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pacslink.dicomnet import pdu as P
from pacslink.dicomnet.association import AEConfig
from pacslink.dicomnet.client import ClientAssociation, associate
from pacslink.dicomnet.errors import AssociationAborted, ConnectError, TLSError
from pacslink.errors import ConfigError
from pacslink.models import RemoteAE

#: The oldest protocol either side accepts (BCP 195, PS3.15 B.1 as revised).
MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2


@dataclass(frozen=True)
class TLSFiles:
    """Where the PEM files are, and the two TLS choices (see the module docstring).

    Parameters
    ----------
    cert, key : Path, optional
        Our certificate (may hold the chain after it) and its unencrypted private key.
    ca : Path, optional
        Certificates of the CAs we trust to sign the peers' certificates.
    require_client_cert : bool
        Server side: refuse clients that present no certificate.
    check_hostname : bool
        Client side: the server's certificate must name the host we connect to.
    """

    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None
    require_client_cert: bool = True
    check_hostname: bool = True


def server_context(files: TLSFiles) -> ssl.SSLContext:
    """The context of a DICOM TLS acceptor (``pacslink listen --tls``).

    Raises
    ------
    ConfigError
        A file is not set, not readable, not PEM, or the key does not match the
        certificate; the message names the setting to fix.
    """
    if files.cert is None or files.key is None:
        missing = "tls_cert" if files.cert is None else "tls_key"
        raise ConfigError(f"{missing} is not set; DICOM TLS needs our certificate (tls_cert) "
                          "and its private key (tls_key) as PEM files")
    if files.require_client_cert and files.ca is None:
        raise ConfigError(
            "tls_ca is not set; it must name the PEM file of the CA(s) that sign our clients' "
            "certificates, or set tls_require_client_cert = false to accept clients without one")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MINIMUM_VERSION
    _load_pair(context, files.cert, files.key)
    if files.ca is not None:
        _load_ca(context, files.ca)
    context.verify_mode = (ssl.CERT_REQUIRED if files.require_client_cert
                           else ssl.CERT_OPTIONAL if files.ca is not None else ssl.CERT_NONE)
    return context


def client_context(files: TLSFiles) -> ssl.SSLContext:
    """The context of our SCUs towards AEs marked ``tls = true``.

    Raises
    ------
    ConfigError
        ``tls_ca`` is not set, or a file cannot be used (see :func:`server_context`).
    """
    if files.ca is None:
        raise ConfigError("tls_ca is not set; set it to the PEM file of the CA that signs the "
                          "TLS AEs' certificates (setting tls_ca or PACSLINK_TLS_CA)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
    context.minimum_version = MINIMUM_VERSION
    context.check_hostname = files.check_hostname
    _load_ca(context, files.ca)
    if files.cert is not None or files.key is not None:
        if files.cert is None or files.key is None:
            missing = "tls_cert" if files.cert is None else "tls_key"
            raise ConfigError(f"{missing} is not set; give both tls_cert and tls_key, or neither "
                              "to connect without a client certificate")
        _load_pair(context, files.cert, files.key)
    return context


class ClientTLS:
    """The client context for AEs marked ``tls = true``, built once on first use."""

    def __init__(self, files: TLSFiles) -> None:
        self.files = files
        self._context: ssl.SSLContext | None = None

    def context_for(self, ae: RemoteAE) -> ssl.SSLContext | None:
        """``None`` for a plain AE; the shared client context for a TLS one.

        Raises
        ------
        ConfigError
            ``ae`` uses TLS and the settings cannot give a client context.
        """
        if not ae.tls:
            return None
        if self._context is None:
            try:
                self._context = client_context(self.files)
            except ConfigError as exc:
                raise ConfigError(f"{ae.name} uses DICOM TLS (tls = true) but {exc}") from exc
        return self._context


async def open_association(
    local: AEConfig, ae: RemoteAE, contexts: Sequence[P.PresentationContextRQ], *,
    tls: ClientTLS | None = None, roles: Sequence[P.SCPSCURoleSelection] = (),
) -> ClientAssociation:
    """:func:`~pacslink.dicomnet.client.associate` with ``ae``, over TLS when it says so.

    Raises
    ------
    ConnectError
        Also when ``ae`` uses TLS and the settings cannot give a client context.
    NetworkError
        As :func:`~pacslink.dicomnet.client.associate`; a TLS failure, and a connection
        closed before the association was answered, say what to check next.
    """
    try:
        context = (tls or ClientTLS(TLSFiles())).context_for(ae)
    except ConfigError as exc:
        raise ConnectError(str(exc)) from exc
    try:
        return await associate(ae.host, ae.port, local, ae.ae_title, contexts, roles=roles,
                               ssl=context)
    except TLSError as exc:
        hint = _tls_hint(exc, ae)
        raise TLSError(f"{str(exc).rstrip('.') if hint else exc}{hint}") from exc
    except AssociationAborted as exc:
        if "without answering" not in str(exc):
            raise
        if ae.tls:
            hint = ("; it may have refused our client certificate: check tls_cert and tls_key, "
                    "and that it trusts the CA that signed tls_cert")
        elif "@" in ae.name:
            hint = "; if it requires DICOM TLS, add it as a named AE with --tls"
        else:
            hint = (f"; if it requires DICOM TLS, mark it with: pacslink ae edit {ae.name} --tls")
        raise AssociationAborted(f"{exc}{hint}") from exc


def _tls_hint(exc: TLSError, ae: RemoteAE) -> str:
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ssl.SSLError):
        cause = cause.__cause__
    if isinstance(cause, ssl.SSLCertVerificationError):
        if cause.verify_code in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH
            return (f"; use the host name its certificate names for {ae.name}, or set "
                    "tls_check_hostname = false if the certificate names the AE, not the host")
        return "; check that tls_ca holds the CA that signed its certificate"
    if "did not answer with TLS" in str(exc):
        return f"; check that {ae.port} is its DICOM TLS port, or set tls = false for {ae.name}"
    return ("; check that it accepts TLS 1.2 or later and trusts our certificate "
            "(tls_cert, tls_key)")


def _read(setting: str, path: Path, what: str, marker: bytes) -> None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{setting} '{path}' cannot be read: {exc.strerror or exc}; "
                          f"set {setting} to {what}") from exc
    if marker not in data:
        raise ConfigError(f"{setting} '{path}' is not {what} (no line with {marker.decode()!r}); "
                          f"set {setting} to {what}")


def _load_ca(context: ssl.SSLContext, path: Path) -> None:
    what = "a PEM file of CA certificates"
    _read("tls_ca", path, what, b"-----BEGIN CERTIFICATE-----")
    try:
        context.load_verify_locations(cafile=path)
    except ssl.SSLError as exc:
        raise ConfigError(f"tls_ca '{path}' cannot be used: {_reason(exc)}; "
                          f"set tls_ca to {what}") from exc


def _load_pair(context: ssl.SSLContext, cert: Path, key: Path) -> None:
    _read("tls_cert", cert, "a PEM certificate", b"-----BEGIN CERTIFICATE-----")
    _read("tls_key", key, "a PEM private key", b"PRIVATE KEY-----")

    def no_password() -> str:
        raise ConfigError(f"tls_key '{key}' is encrypted; pacslink needs it unencrypted "
                          f"(openssl pkey -in {key} -out plain.key) and protected by file "
                          "permissions")

    try:
        context.load_cert_chain(cert, key, password=no_password)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(f"tls_key '{key}' is not the private key of tls_cert '{cert}'; "
                              "set tls_key to the key the certificate was issued for") from exc
        raise ConfigError(f"tls_cert '{cert}' or tls_key '{key}' cannot be used: "
                          f"{_reason(exc)}; set them to a PEM certificate and its key") from exc


def _reason(exc: ssl.SSLError) -> str:
    return (exc.reason or str(exc)).replace("_", " ").lower()


__all__ = [
    "MINIMUM_VERSION",
    "ClientTLS",
    "TLSFiles",
    "client_context",
    "open_association",
    "server_context",
]
