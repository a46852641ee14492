"""The fuzz harnesses: each takes raw bytes and checks one contract of pacslink.

A harness is a plain function ``check(data: bytes) -> None`` that returns when pacslink
behaved as documented and raises otherwise (an ``AssertionError``, or whatever
unexpected exception escaped). The same functions are driven by hypothesis
(``tests/fuzz/test_fuzz_*.py``), replayed on the regression corpus
(``tests/fuzz/regressions/<harness>/*.bin``) and, optionally, by atheris
(``python -m tests.fuzz.atheris_main <harness>``).

``pdu``
    Byte 0 is a PDU type, the rest a PDU body: :func:`~pacslink.dicomnet.pdu.decode_pdu`
    returns a PDU or raises :class:`PDUError`. A decoded A-ASSOCIATE-RQ must also go
    through what the acceptor does with it (checks, negotiation, encoding the AC).
``dimse_command``
    A command set: :meth:`Command.decode` returns a command (that can be encoded again,
    as our responses echo its fields) or raises :class:`DIMSEError`.
``dimse_stream``
    Bytes a peer sends on an established association: every
    :meth:`Association.receive_message` returns a message (or ``None`` for a release
    request) or raises a :class:`NetworkError`; a data set received into memory stays
    within its cap.
``store``
    Byte 0 picks the transfer syntax, byte 1 the chunk sizes, the rest is a data set
    received by C-STORE: writing it to :class:`IncomingFile` in chunks and committing
    gives an :class:`IngestResult` or a :class:`StoreError`; no temp file is left, and
    every index row has its file and every file its row.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from pacslink.dicomnet import pdu as P
from pacslink.dicomnet.association import AcceptedContext, AEConfig, Association, Limits
from pacslink.dicomnet.commands import Command
from pacslink.dicomnet.errors import DIMSEError, NetworkError, PDUError
from pacslink.dicomnet.negotiation import answer_request, check_request
from pacslink.errors import StoreError
from pacslink.models import IngestResult
from pacslink.store import Index, Store

CT = "1.2.840.10008.5.1.4.1.1.2"
VERIFICATION = "1.2.840.10008.1.1"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
TRANSFER_SYNTAXES = (
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
)
#: The C-STORE command's UIDs the store harness receives under (the seeds carry them).
STORE_SOP_INSTANCE_UID = "1.2.826.0.1.3680043.8.498.4711"
LOCAL = AEConfig("FUZZ", "2.25.4711", "FUZZ", Limits(
    max_pdu_length=16_384, max_command_length=4096, max_memory_dataset=65_536,
    network_timeout=1, pdu_timeout=1))
SUPPORTED = {VERIFICATION: TRANSFER_SYNTAXES[:2], CT: TRANSFER_SYNTAXES,
             STUDY_ROOT_FIND: TRANSFER_SYNTAXES[:2]}


# --- PDUs ------------------------------------------------------------------------------


def check_pdu(data: bytes) -> None:
    """Decode a PDU body; an A-ASSOCIATE-RQ is also answered as our acceptor does."""
    if not data:
        return
    try:
        pdu = P.decode_pdu(data[0], data[1:])
    except PDUError:
        return
    if isinstance(pdu, P.AssociateRQ):
        rejection = check_request(pdu)
        if rejection is not None:
            rejection.encode()
            return
        ac, _ = answer_request(pdu, LOCAL, SUPPORTED, scp_role_for={CT})
        ac.encode()


# --- DIMSE -----------------------------------------------------------------------------


def check_command(data: bytes) -> None:
    """Decode a command set; what decodes can be encoded again."""
    try:
        command = Command.decode(data)
    except DIMSEError:
        return
    command.encode()
    command.describe()


class _Writer:
    """Enough of an ``asyncio.StreamWriter`` for an association that only reads."""

    def __init__(self) -> None:
        self.sent = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.sent += data

    def writelines(self, parts: list[bytes]) -> None:
        for part in parts:
            self.sent += part

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    async def wait_closed(self) -> None:
        return None

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 104) if name == "peername" else None


def check_stream(data: bytes) -> None:
    """Feed ``data`` to an established association (acceptor) and read every message."""
    asyncio.run(_read_stream(data))


async def _read_stream(data: bytes) -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    assoc = Association(reader, _Writer(), local=LOCAL, is_requestor=False)  # type: ignore[arg-type]
    assoc.fsm.state = "Sta6"
    assoc.contexts = {1: AcceptedContext(1, VERIFICATION, TRANSFER_SYNTAXES[0]),
                      3: AcceptedContext(3, CT, TRANSFER_SYNTAXES[1])}
    assoc.peer_max_pdu = 16_384
    for _ in range(64):
        try:
            message = await assoc.receive_message(timeout=1)
        except NetworkError:
            return
        if message is None:
            await assoc.answer_release()
            return
        assert len(message.command.encode()) <= 2 * LOCAL.limits.max_command_length
        if message.dataset is not None:
            assert len(message.dataset) <= LOCAL.limits.max_memory_dataset + LOCAL.limits.max_pdu_length
    raise AssertionError("64 messages from one fuzz input: the stream never ends")


# --- the store -------------------------------------------------------------------------

_store: Store | None = None


def fuzz_store() -> Store:
    """One store per process, in a temporary directory removed at exit."""
    global _store
    if _store is None:
        # in memory where the machine has it: the store's and SQLite's fsyncs cost nothing
        shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        root = Path(tempfile.mkdtemp(prefix="pacslink-fuzz-", dir=shm))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        index = Index(f"sqlite:///{root / 'index.sqlite'}")
        atexit.register(index.close)
        _store = Store(root / "store", index, min_free_bytes=0, max_inflated_bytes=16 * 2**20)
    return _store


def chunks(data: bytes, seed: int) -> list[bytes]:
    """Split ``data`` in chunk sizes drawn from ``seed`` (1 byte to 64 KiB)."""
    out, pos, state = [], 0, seed or 1
    while pos < len(data):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        size = 1 + (state >> 8) % (1 << (1 + seed % 16))
        out.append(data[pos:pos + size])
        pos += size
    return out


def check_store(data: bytes) -> None:
    """Receive ``data[2:]`` as a C-STORE data set, in chunks, and commit it."""
    if len(data) < 2:
        return
    store = fuzz_store()
    _empty(store)
    syntax = TRANSFER_SYNTAXES[data[0] % len(TRANSFER_SYNTAXES)]
    incoming = store.begin(sop_class_uid=CT, sop_instance_uid=STORE_SOP_INSTANCE_UID,
                           transfer_syntax_uid=syntax, calling_ae="FUZZ")
    outcome: IngestResult | StoreError
    try:
        for chunk in chunks(data[2:], data[1]):
            incoming.write(chunk)
        outcome = incoming.commit()
    except StoreError as exc:
        outcome = exc
    finally:
        incoming.abort()
    assert not incoming.path.exists(), "temp file left behind"
    assert not _files(store.tmp_dir), "temp files left behind"
    rows = list(store.index.iter_instances())
    files = _files(store.objects_dir)
    assert len(rows) == len(files), f"{len(rows)} rows but {len(files)} files"
    for row in rows:
        assert store.path_of(row).is_file(), "a row without its file"
    if isinstance(outcome, IngestResult):
        assert outcome.instance.sop_instance_uid == STORE_SOP_INSTANCE_UID
        assert len(rows) == 1
        # back to an empty store, so every input is received as new
        removed = store.index.delete_study(outcome.instance.study_instance_uid)
        assert removed, "the stored instance is not in the index under its study"
        for row in removed:
            os.unlink(store.path_of(row))
    else:
        assert not rows, "a failed commit left a row"
    global _clean
    _clean = True


def _files(directory: Path) -> list[str]:
    """Every file under ``directory`` (a cheap walk: scandir, no stat)."""
    found: list[str] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                found += _files(Path(entry.path))
            else:
                found.append(entry.path)
    return found


_clean = False  # whether the last input left the store empty


def _empty(store: Store) -> None:
    """Start from an empty store, whatever an earlier (failing) input left."""
    global _clean
    if _clean:
        _clean = False
        return
    for row in list(store.index.iter_instances()):
        store.index.delete_study(row.study_instance_uid)
    for path in [*_files(store.objects_dir), *_files(store.tmp_dir)]:
        os.unlink(path)


HARNESSES: dict[str, Callable[[bytes], None]] = {
    "pdu": check_pdu,
    "dimse_command": check_command,
    "dimse_stream": check_stream,
    "store": check_store,
}

REGRESSIONS = Path(__file__).parent / "regressions"


def save_crash(harness: str, data: bytes) -> Path:
    """Keep an input that broke a harness as ``regressions/<harness>/crash-<hash>.bin``."""
    import hashlib

    folder = REGRESSIONS / harness
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"crash-{hashlib.sha256(data).hexdigest()[:16]}.bin"
    path.write_bytes(data)
    return path


__all__ = ["HARNESSES", "REGRESSIONS", "check_command", "check_pdu", "check_store",
           "check_stream", "chunks", "fuzz_store", "save_crash"]
