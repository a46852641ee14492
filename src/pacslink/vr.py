"""The value representations of PS3.5 6.2, as two-byte codes in explicit VR encodings.

Every hand-written element reader of pacslink (the store's structure check and header
scan, the Part 10 reader of ``pacslink send``, the identifier reader of ``pacslink
find``) tells an element header apart by these tables; ``tests/test_query_dictionary.py``
checks them against pydicom's.
"""

from __future__ import annotations

from typing import Final

#: VRs with a reserved field and a 4-byte length (PS3.5 7.1.2, Table 7.1-1).
LONG_LENGTH_VRS: Final = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV",
                                    b"UC", b"UN", b"UR", b"UT", b"UV"})
#: VRs with a 2-byte length (PS3.5 7.1.2, Table 7.1-2).
SHORT_LENGTH_VRS: Final = frozenset({b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD",
                                     b"FL", b"IS", b"LO", b"LT", b"PN", b"SH", b"SL", b"SS",
                                     b"ST", b"TM", b"UI", b"UL", b"US"})
#: Every VR, as encoded -> as text (``b"PN"`` -> ``"PN"``).
VR_TEXT: Final = {vr: vr.decode() for vr in LONG_LENGTH_VRS | SHORT_LENGTH_VRS}

__all__ = ["LONG_LENGTH_VRS", "SHORT_LENGTH_VRS", "VR_TEXT"]
