"""Bounded parsing of a received data set: just the attributes the index needs.

The store keeps what a peer sends bit for bit, so parsing here only *reads*: it checks
that the bytes are a DICOM data set, finds the SOP Class/Instance UIDs to compare with
the C-STORE command, and extracts the attributes of :data:`~.schema.ATTRIBUTES`.

Memory stays bounded whatever the peer sends:

- pydicom reads with ``specific_tags``, so values of other attributes are skipped by
  seeking, not read, and parsing stops at the first tag past :data:`~.schema.LAST_TAG`
  (so before Pixel Data) or at a tag out of ascending order (PS3.5 7.1; garbage, not a
  data set). At most :data:`HEADER_READ_BYTES` may actually be read (sequences of
  undefined length before the last indexed tag are read whole, so they count).
- Deflated Explicit VR Little Endian (PS3.5 A.5, raw RFC 1951 deflate) is inflated as a
  stream in 1 MiB steps, keeping only a 1 MiB window: pydicom reads from the stream as
  from a file, skipped values are inflated and dropped, and afterwards the rest of the
  stream is inflated and dropped to check it ends properly. At most
  ``max_inflated_bytes`` are ever produced: a deflate bomb is refused with
  :class:`~pacslink.errors.DatasetParseError` once it passes the bound. Then the stream
  is inflated once more for the structure walk of :mod:`pacslink.store.structure` (whole
  elements, sequences at most :data:`~.structure.MAX_SEQUENCE_DEPTH` deep), which the
  caller does itself for the other transfer syntaxes; that walk stops at one element
  per compressed byte (plus a floor), so it costs what the received bytes allow.
- Sequences nested deeper than Python's recursion allows pydicom are refused like
  any sequence nested too deep, not with a ``RecursionError``.
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import BinaryIO, cast

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_dataset, read_preamble
from pydicom.tag import BaseTag

from pacslink.errors import DatasetParseError
from pacslink.store.schema import ATTRIBUTES, LAST_TAG
from pacslink.store.structure import TOO_DEEP, check_rest

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"

#: How many data set bytes parsing may read. Every attribute the index reads sits in
#: groups 0008-0054, before any bulk data, far inside this bound in real objects.
HEADER_READ_BYTES = 16 * 2**20

#: Elements a deflated data set may hold regardless of its compressed size.
DEFLATED_ELEMENTS_FLOOR = 2**18

_CHUNK = 2**20
_LOOKBEHIND = 2**20
_TAGS: list[BaseTag | int] = [BaseTag(a.tag) for a in ATTRIBUTES]


def encoding_of(transfer_syntax_uid: str) -> tuple[bool, bool]:
    """Return ``(is_implicit_VR, is_little_endian)`` of a transfer syntax (PS3.5 10).

    Every transfer syntax other than Implicit VR Little Endian and Explicit VR Big
    Endian (retired but still received) encodes its data set in Explicit VR Little
    Endian, compressed ones included.
    """
    if transfer_syntax_uid == IMPLICIT_VR_LITTLE_ENDIAN:
        return True, True
    if transfer_syntax_uid == EXPLICIT_VR_BIG_ENDIAN:
        return False, False
    return False, True


class _BudgetReader:
    """A read-only view of a data set that refuses to read more than ``budget`` bytes.

    Seeking is free, so pydicom can skip large values without reading them.
    """

    def __init__(self, fp: BinaryIO, budget: int) -> None:
        self._fp = fp
        self._left = budget
        self.name = "<received data set>"

    def _spend(self, size: int) -> None:
        if size < 0 or size > self._left:
            raise DatasetParseError(
                f"data set header needs more than {HEADER_READ_BYTES} bytes read; refused"
            )
        self._left -= size

    def read(self, size: int = -1) -> bytes:
        self._spend(size)
        return self._fp.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fp.seek(offset, whence)

    def tell(self) -> int:
        return self._fp.tell()


class _InflatingReader(_BudgetReader):
    """Reads a raw-deflated data set (PS3.5 A.5) as a stream, with bounded memory.

    Only a window of :data:`_LOOKBEHIND` bytes behind the read position is kept (pydicom
    seeks back a few bytes at most); seeking forward inflates and discards. Inflation
    stops with :class:`~pacslink.errors.DatasetParseError` past ``max_inflated``.
    """

    def __init__(self, fp: BinaryIO, budget: int, max_inflated: int) -> None:
        super().__init__(fp, budget)
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self._max = max_inflated
        self._window = bytearray()
        self._window_start = 0  # stream offset of _window[0]
        self._produced = 0  # bytes inflated so far: _window ends there
        self._pos = 0
        self._more = True  # input or pending output may remain

    def _step(self) -> None:
        feed = self._inflater.unconsumed_tail or self._fp.read(_CHUNK)
        try:
            piece = self._inflater.decompress(feed, _CHUNK)
        except zlib.error as exc:
            raise DatasetParseError(f"deflated data set is corrupt: {exc}") from exc
        self._produced += len(piece)
        if self._produced > self._max:
            raise DatasetParseError(
                f"deflated data set inflates to more than {self._max} bytes "
                "(the configured bound); refused"
            )
        self._window += piece
        keep_from = min(self._produced, max(self._window_start, self._pos - _LOOKBEHIND))
        if keep_from - self._window_start > 0:
            del self._window[: keep_from - self._window_start]
            self._window_start = keep_from
        if self._inflater.eof or (not feed and not piece):
            self._more = False

    def read(self, size: int = -1) -> bytes:
        self._spend(size)
        while self._more and self._window_start + len(self._window) < self._pos + size:
            self._step()
        offset = self._pos - self._window_start
        data = bytes(self._window[offset : offset + size])
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        target = offset if whence == io.SEEK_SET else self._pos + offset
        if whence not in (io.SEEK_SET, io.SEEK_CUR) or target < self._window_start:
            raise DatasetParseError("deflated data set needs a seek this reader cannot do")
        self._pos = target
        return target

    def tell(self) -> int:
        return self._pos

    def at_end(self) -> bool:
        """Whether the position is the end of the inflated data (inflating up to it).

        Raises :class:`~pacslink.errors.DatasetParseError` if a seek went past the end.
        """
        while self._more and self._produced <= self._pos:
            self._step()
        if self._pos > self._produced:
            raise DatasetParseError("data set is truncated: an element runs past its end")
        return not self._more and self._pos == self._produced

    def drain(self) -> None:
        """Inflate (and drop) the rest, checking the stream's end and the bound."""
        self._pos = 2**63  # nothing before "the end" is needed any more
        while self._more:
            self._step()
        if not self._inflater.eof:
            raise DatasetParseError("deflated data set is truncated (no end of stream)")


def parse_header(fp: BinaryIO, transfer_syntax_uid: str, *, max_inflated_bytes: int) -> Dataset:
    """Parse the header attributes of a data set read from ``fp`` until its end.

    Parameters
    ----------
    fp : binary file
        Positioned at the first byte of the data set (after any file meta).
    transfer_syntax_uid : str
        The transfer syntax the data set is encoded in.
    max_inflated_bytes : int
        For Deflated Explicit VR Little Endian, the most bytes inflation may produce;
        the whole deflate stream is checked against it.

    Returns
    -------
    pydicom.dataset.Dataset
        Holding at most the attributes of :data:`~.schema.ATTRIBUTES` (and Specific
        Character Set), still raw (undecoded).

    Raises
    ------
    DatasetParseError
        If the bytes are not a data set, hold none of SOP Class UID and SOP Instance UID,
        the header does not fit the bound, or the deflate stream is bad or too large.
    """
    source: _BudgetReader
    start = fp.tell()
    if transfer_syntax_uid == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        source = _InflatingReader(fp, HEADER_READ_BYTES, max_inflated_bytes)
    else:
        source = _BudgetReader(fp, HEADER_READ_BYTES)
    implicit, little = encoding_of(transfer_syntax_uid)
    previous = [-1]

    def stop_when(tag: BaseTag, vr: str | None, length: int) -> bool:
        if tag > LAST_TAG or tag <= previous[0]:
            return True
        previous[0] = int(tag)
        return False

    try:
        ds = read_dataset(
            cast(BinaryIO, source), implicit, little, stop_when=stop_when, specific_tags=_TAGS
        )
    except DatasetParseError:
        raise
    except RecursionError:  # pydicom reads nested sequences recursively
        raise DatasetParseError(TOO_DEEP) from None
    except Exception as exc:  # pydicom raises many types on malformed input
        if isinstance(source, _InflatingReader):
            # pydicom may give up on a structure problem (nesting too deep, say) with a
            # message about its symptom; the structure walk names the cause if it finds one
            _check_inflated_structure(fp, start, max_inflated_bytes)
        raise DatasetParseError(f"data set cannot be parsed: {exc}") from exc
    if isinstance(source, _InflatingReader):
        source.drain()
    if 0x00080016 not in ds and 0x00080018 not in ds:
        raise DatasetParseError(
            "data set cannot be parsed: no SOP Class UID or SOP Instance UID found"
        )
    if isinstance(source, _InflatingReader):
        _check_inflated_structure(fp, start, max_inflated_bytes)
    return ds


def _check_inflated_structure(fp: BinaryIO, start: int, max_inflated_bytes: int) -> None:
    """Walk a deflated data set's elements, inflating it again from ``start``.

    The caller cannot walk an inflated stream itself, so this is where its structure
    (whole elements, sequence depth) is checked. The walk is bounded like the bytes it
    came from: one element per compressed byte, plus :data:`DEFLATED_ELEMENTS_FLOOR`.
    """
    compressed = fp.seek(0, io.SEEK_END) - start
    fp.seek(start)
    walk = _InflatingReader(fp, 2**63, max_inflated_bytes)
    check_rest(cast(BinaryIO, walk), walk.at_end, False, True,
               max_elements=DEFLATED_ELEMENTS_FLOOR + compressed)
    walk.drain()


def read_part10_header(
    path: Path, *, max_inflated_bytes: int
) -> tuple[FileMetaDataset, Dataset, int]:
    """Read the file meta and header attributes of a stored Part 10 file.

    Parameters
    ----------
    path : Path
        A file written by the store.
    max_inflated_bytes : int
        Bound for deflated data sets, as in :func:`parse_header`.

    Returns
    -------
    tuple
        ``(file_meta, header, dataset_offset)``; ``dataset_offset`` is where the data
        set starts in the file.

    Raises
    ------
    DatasetParseError
        If the preamble, ``DICM`` prefix, file meta or data set header is bad.
    OSError
        If the file cannot be read.
    """
    with open(path, "rb") as fp:
        try:
            read_preamble(fp, False)
            file_meta = read_file_meta_info_from(fp)
        except (InvalidDicomError, ValueError, EOFError, KeyError) as exc:
            raise DatasetParseError(f"not a DICOM Part 10 file: {exc}") from exc
        offset = fp.tell()
        ts = str(file_meta.get("TransferSyntaxUID", ""))
        if not ts:
            raise DatasetParseError("file meta has no Transfer Syntax UID")
        header = parse_header(fp, ts, max_inflated_bytes=max_inflated_bytes)
    return file_meta, header, offset


def read_file_meta_info_from(fp: BinaryIO) -> FileMetaDataset:
    """Read group 0002 from ``fp`` positioned just after the ``DICM`` prefix."""
    start = fp.tell()
    # pydicom's reader stops at the first tag past group 2, then rewinds to it.
    file_meta = read_dataset(fp, False, True, stop_when=lambda tag, vr, length: tag.group != 2)
    if fp.tell() == start:
        raise ValueError("no File Meta Information after the DICM prefix")
    return FileMetaDataset(file_meta)


__all__ = [
    "DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN",
    "EXPLICIT_VR_BIG_ENDIAN",
    "HEADER_READ_BYTES",
    "IMPLICIT_VR_LITTLE_ENDIAN",
    "encoding_of",
    "parse_header",
    "read_file_meta_info_from",
    "read_part10_header",
]
