"""Fixtures for the local store tests: indexes (SQLite, and PostgreSQL when available),
stores, and a helper that receives a data set the way the Storage SCP does.

A missing PostgreSQL skips its tests, except in CI (``CI`` set), where it fails them.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from pacslink.models import IngestResult
from pacslink.store import Index, Store
from tests.factory import EXPLICIT_VR_LITTLE_ENDIAN, make_dataset_bytes
from tests.peers import unavailable

Ingest = Callable[..., IngestResult]


def _postgres_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Start a throw-away PostgreSQL server; yield its base URL (no database name)."""
    bindir = _postgres_bindir()
    if bindir is None or not (bindir / "initdb").exists():
        unavailable("PostgreSQL server binaries (pg_ctl, initdb) not found; install postgresql")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed (pip install 'pacslink[postgres]')")
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="pacslink-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        import pwd

        runuser = shutil.which("runuser")
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            account = None
        if account is None or runuser is None:
            shutil.rmtree(base)
            unavailable("running as root without a 'postgres' user and runuser to start PostgreSQL")
        os.chown(base, account.pw_uid, account.pw_gid)
        as_user = [runuser, "-u", "postgres", "--"]
    data, port = base / "data", _free_port()

    def run(*args: str) -> None:
        subprocess.run(as_user + list(args), check=True, capture_output=True, timeout=60)

    try:
        run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {exc.stderr.decode()}") from exc
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            as_user + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


def _new_postgres_database(server: str) -> str:
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    port = server.rsplit(":", 1)[1]
    with psycopg.connect(
        f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True
    ) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty index database URL, once per supported backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/db/index.sqlite"
    return _new_postgres_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/db/index.sqlite"


@pytest.fixture
def index(sqlite_url: str) -> Iterator[Index]:
    idx = Index(sqlite_url)
    yield idx
    idx.close()


@pytest.fixture
def make_store(tmp_path: Path, index: Index) -> Callable[..., Store]:
    """Build a Store on ``tmp_path/store`` over the SQLite index, with any options."""

    def build(**options: object) -> Store:
        return Store(tmp_path / "store", index, **options)  # type: ignore[arg-type]

    return build


@pytest.fixture
def store(make_store: Callable[..., Store]) -> Store:
    return make_store()


def receive(
    store: Store,
    ds: Dataset | None = None,
    transfer_syntax_uid: str = EXPLICIT_VR_LITTLE_ENDIAN,
    *,
    data: bytes | None = None,
    sop_class_uid: str | None = None,
    sop_instance_uid: str | None = None,
    calling_ae: str = "MODALITY1",
    fragment: int = 333,
) -> IngestResult:
    """Receive a data set like the Storage SCP: begin, write fragments, commit."""
    if data is None:
        assert ds is not None
        data = make_dataset_bytes(ds, transfer_syntax_uid)
    incoming = store.begin(
        sop_class_uid=sop_class_uid or str(ds.SOPClassUID if ds is not None else ""),
        sop_instance_uid=sop_instance_uid or str(ds.SOPInstanceUID if ds is not None else ""),
        transfer_syntax_uid=transfer_syntax_uid,
        calling_ae=calling_ae,
    )
    view = memoryview(data)
    for start in range(0, len(data), fragment):
        incoming.write(view[start : start + fragment])
    return incoming.commit()


@pytest.fixture
def ingest() -> Ingest:
    """The :func:`receive` helper, as a fixture."""
    return receive


def files_under(path: Path) -> list[Path]:
    """Every regular file below ``path``."""
    return sorted(p for p in path.rglob("*") if p.is_file())


@pytest.fixture
def residue(store: Store, index: Index) -> Callable[[], tuple[list[Path], list[Path], int]]:
    """Return ``(temp files, object files, index rows)`` of the store."""

    def check() -> tuple[list[Path], list[Path], int]:
        rows = sum(1 for _ in index.iter_instances())
        return files_under(store.tmp_dir), files_under(store.objects_dir), rows

    return check
