"""SSL contexts from the tls_* settings: the choices they encode and every bad-file message."""

from __future__ import annotations

import dataclasses
import ssl
import subprocess
from pathlib import Path

import pytest

from pacslink.config import load_settings
from pacslink.errors import ConfigError
from pacslink.models import RemoteAE
from pacslink.services.tls import ClientTLS, TLSFiles, client_context, server_context
from tests.tls_certs import CA, KeyPair, make_ca


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CA:
    return make_ca(tmp_path_factory.mktemp("pki"), "trusted")


@pytest.fixture(scope="module")
def pair(ca: CA) -> KeyPair:
    return ca.issue("server")


@pytest.fixture(scope="module")
def files(ca: CA, pair: KeyPair) -> TLSFiles:
    return TLSFiles(cert=pair.cert, key=pair.key, ca=ca.cert)


def message(excinfo: pytest.ExceptionInfo[ConfigError]) -> str:
    return str(excinfo.value)


def test_server_context_requires_tls_1_2_and_a_client_certificate(files: TLSFiles) -> None:
    context = server_context(files)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.protocol == ssl.PROTOCOL_TLS_SERVER
    lenient = server_context(dataclasses.replace(files, require_client_cert=False))
    assert lenient.verify_mode == ssl.CERT_OPTIONAL  # a certificate shown must chain to tls_ca
    anonymous = server_context(dataclasses.replace(files, require_client_cert=False, ca=None))
    assert anonymous.verify_mode == ssl.CERT_NONE


def test_client_context_verifies_the_server_and_checks_its_host_name(files: TLSFiles) -> None:
    context = client_context(files)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname is True
    relaxed = client_context(dataclasses.replace(files, check_hostname=False))
    assert relaxed.verify_mode == ssl.CERT_REQUIRED and relaxed.check_hostname is False
    anonymous_client = client_context(dataclasses.replace(files, cert=None, key=None))
    assert anonymous_client.verify_mode == ssl.CERT_REQUIRED


def test_client_context_is_built_once_and_only_for_tls_aes(files: TLSFiles) -> None:
    tls = ClientTLS(files)
    plain = RemoteAE("PLAIN", "A", "h", 104)
    secure = dataclasses.replace(plain, name="SECURE", tls=True)
    assert tls.context_for(plain) is None
    first = tls.context_for(secure)
    assert first is not None and tls.context_for(secure) is first


def test_missing_settings_say_which_to_set(files: TLSFiles) -> None:
    with pytest.raises(ConfigError) as excinfo:
        server_context(dataclasses.replace(files, cert=None))
    assert message(excinfo) == ("tls_cert is not set; DICOM TLS needs our certificate (tls_cert) "
                                "and its private key (tls_key) as PEM files")
    with pytest.raises(ConfigError) as excinfo:
        server_context(dataclasses.replace(files, ca=None))
    assert message(excinfo) == (
        "tls_ca is not set; it must name the PEM file of the CA(s) that sign our clients' "
        "certificates, or set tls_require_client_cert = false to accept clients without one")
    with pytest.raises(ConfigError) as excinfo:
        client_context(dataclasses.replace(files, key=None))
    assert message(excinfo) == ("tls_key is not set; give both tls_cert and tls_key, or neither "
                                "to connect without a client certificate")
    with pytest.raises(ConfigError) as excinfo:
        no_ca = ClientTLS(dataclasses.replace(files, ca=None))
        no_ca.context_for(RemoteAE("PACS1", "A", "h", 1, tls=True))
    assert message(excinfo) == (
        "PACS1 uses DICOM TLS (tls = true) but tls_ca is not set; set it to the PEM file of the "
        "CA that signs the TLS AEs' certificates (setting tls_ca or PACSLINK_TLS_CA)")


def test_unreadable_and_non_pem_files(files: TLSFiles, tmp_path: Path) -> None:
    missing = tmp_path / "x.pem"
    with pytest.raises(ConfigError) as excinfo:
        server_context(dataclasses.replace(files, cert=missing))
    assert message(excinfo) == (f"tls_cert '{missing}' cannot be read: No such file or directory; "
                                "set tls_cert to a PEM certificate")
    with pytest.raises(ConfigError) as excinfo:
        client_context(dataclasses.replace(files, ca=tmp_path))
    assert message(excinfo) == (f"tls_ca '{tmp_path}' cannot be read: Is a directory; "
                                "set tls_ca to a PEM file of CA certificates")
    der = tmp_path / "key.der"
    der.write_bytes(b"0\x82\x04\xa4\x02\x01\x00")
    with pytest.raises(ConfigError) as excinfo:
        server_context(dataclasses.replace(files, key=der))
    assert message(excinfo) == (
        f"tls_key '{der}' is not a PEM private key (no line with 'PRIVATE KEY-----'); "
        "set tls_key to a PEM private key")
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigError) as excinfo:
        client_context(dataclasses.replace(files, ca=broken))
    assert message(excinfo).startswith(f"tls_ca '{broken}' cannot be used: ")
    assert message(excinfo).endswith("; set tls_ca to a PEM file of CA certificates")


def test_key_of_another_certificate_and_encrypted_key(
    files: TLSFiles, ca: CA, tmp_path: Path,
) -> None:
    other = ca.issue("other")
    with pytest.raises(ConfigError) as excinfo:
        server_context(dataclasses.replace(files, key=other.key))
    assert message(excinfo) == (
        f"tls_key '{other.key}' is not the private key of tls_cert '{files.cert}'; set tls_key "
        "to the key the certificate was issued for")
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", str(files.key), "-aes256", "-passout", "pass:secret",
                    "-out", str(encrypted)], check=True, capture_output=True)
    with pytest.raises(ConfigError) as excinfo:
        server_context(dataclasses.replace(files, key=encrypted))
    assert message(excinfo) == (
        f"tls_key '{encrypted}' is encrypted; pacslink needs it unencrypted (openssl pkey -in "
        f"{encrypted} -out plain.key) and protected by file permissions")


def test_tls_settings_paths_and_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})
    assert (settings.tls_cert, settings.tls_key, settings.tls_ca) == (None, None, None)
    assert settings.tls_require_client_cert is True and settings.tls_check_hostname is True
    (tmp_path / "pacslink.toml").write_text(
        '[settings]\ntls_cert = "certs/me.pem"\ntls_key = "/etc/pacslink/me.key"\n'
        'tls_ca = "~/ca.pem"\ntls_require_client_cert = false\n')
    settings = load_settings(tmp_path, environ={"PACSLINK_TLS_CHECK_HOSTNAME": "no"})
    assert settings.tls_cert == tmp_path / "certs" / "me.pem"  # relative to the home
    assert settings.tls_key == Path("/etc/pacslink/me.key")
    assert settings.tls_ca == Path("~/ca.pem").expanduser()
    assert settings.tls_require_client_cert is False and settings.tls_check_hostname is False
    flagged = load_settings(tmp_path, flags={"tls_cert": Path("rel.pem")}, environ={})
    assert flagged.tls_cert == Path.cwd() / "rel.pem"  # a flag is relative to the working dir
    with pytest.raises(ConfigError) as excinfo:
        load_settings(tmp_path, environ={"PACSLINK_TLS_REQUIRE_CLIENT_CERT": "maybe"})
    assert message(excinfo) == (
        "PACSLINK_TLS_REQUIRE_CLIENT_CERT: must be true or false, got 'maybe'")
    (tmp_path / "pacslink.toml").write_text('[settings]\ntls_ca = 3\n')
    with pytest.raises(ConfigError) as excinfo:
        load_settings(tmp_path, environ={})
    assert message(excinfo).endswith("[settings] tls_ca: must be a file path, got 3")
