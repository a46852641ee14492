"""Throwaway certificate authorities and certificates for DICOM TLS tests.

Made with the ``openssl`` command-line tool (no Python dependency): RSA 2048 keys,
certificates valid for two days, each leaf naming ``localhost`` and ``127.0.0.1`` in its
subjectAltName so host name checking passes on loopback.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.peers import require

_LEAF_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {san}
"""


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its unencrypted PEM private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class CA:
    """A self-signed certificate authority that can sign leaf certificates."""

    cert: Path
    key: Path
    folder: Path

    def issue(self, name: str, *, san: str = "DNS:localhost,IP:127.0.0.1") -> KeyPair:
        """Sign a new key pair for ``CN=name`` (files ``<name>.pem`` and ``<name>.key``)."""
        key = self.folder / f"{name}.key"
        csr = self.folder / f"{name}.csr"
        cert = self.folder / f"{name}.pem"
        extensions = self.folder / f"{name}.ext"
        extensions.write_text(_LEAF_EXTENSIONS.format(san=san))
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                 "-subj", f"/CN={name}")
        _openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                 "-set_serial", str(secrets.randbits(63)), "-days", "2", "-sha256",
                 "-extfile", extensions, "-out", cert)
        return KeyPair(cert, key)


def make_ca(folder: Path, name: str) -> CA:
    """Create ``<folder>/<name>/ca.pem`` and ``ca.key``: a new root CA ``CN=name``."""
    require("openssl")
    home = folder / name
    home.mkdir(parents=True, exist_ok=True)
    cert, key = home / "ca.pem", home / "ca.key"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
             "-days", "2", "-sha256", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return CA(cert, key, home)


def _openssl(*args: object) -> None:
    done = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True,
                          timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()}")
