"""DIMSE status codes and their categories (PS3.7 Annex C, PS3.4 B.2.3, C.4).

>>> category(0x0000), category(0xB000), category(0xA700), category(0xFF00)
('Success', 'Warning', 'Failure', 'Pending')
"""

from __future__ import annotations

SUCCESS = 0x0000
CANCEL = 0xFE00
PENDING = 0xFF00
PENDING_WARNING = 0xFF01  # C-FIND: optional keys not supported (PS3.4 C.4.1.1.4)

# Storage (PS3.4 B.2.3)
OUT_OF_RESOURCES = 0xA700
DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
CANNOT_UNDERSTAND = 0xC000
COERCION_OF_DATA_ELEMENTS = 0xB000
ELEMENTS_DISCARDED = 0xB006
DATASET_DOES_NOT_MATCH_SOP_CLASS_WARNING = 0xB007

# Query/Retrieve (PS3.4 C.4)
OUT_OF_RESOURCES_MATCHES = 0xA701
OUT_OF_RESOURCES_SUBOPERATIONS = 0xA702
MOVE_DESTINATION_UNKNOWN = 0xA801
IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900
SUBOPERATIONS_COMPLETE_WITH_FAILURES = 0xB000
UNABLE_TO_PROCESS = 0xC000

# General (PS3.7 C.5)
SOP_CLASS_NOT_SUPPORTED = 0x0122
PROCESSING_FAILURE = 0x0110
DUPLICATE_INVOCATION = 0x0210
UNRECOGNIZED_OPERATION = 0x0211
MISTYPED_ARGUMENT = 0x0212

_NAMES = {
    SUCCESS: "Success",
    CANCEL: "Cancel",
    PENDING: "Pending",
    PENDING_WARNING: "Pending (optional keys not supported)",
    OUT_OF_RESOURCES: "Out of resources",
    OUT_OF_RESOURCES_MATCHES: "Out of resources: unable to calculate number of matches",
    OUT_OF_RESOURCES_SUBOPERATIONS: "Out of resources: unable to perform sub-operations",
    MOVE_DESTINATION_UNKNOWN: "Move destination unknown",
    DATASET_DOES_NOT_MATCH_SOP_CLASS: "Data set does not match SOP class",
    CANNOT_UNDERSTAND: "Cannot understand",
    COERCION_OF_DATA_ELEMENTS: "Coercion of data elements",
    ELEMENTS_DISCARDED: "Elements discarded",
    DATASET_DOES_NOT_MATCH_SOP_CLASS_WARNING: "Data set does not match SOP class (warning)",
    SOP_CLASS_NOT_SUPPORTED: "SOP class not supported",
    PROCESSING_FAILURE: "Processing failure",
    DUPLICATE_INVOCATION: "Duplicate invocation",
    UNRECOGNIZED_OPERATION: "Unrecognized operation",
    MISTYPED_ARGUMENT: "Mistyped argument",
}


def category(status: int) -> str:
    """Return ``Success``, ``Warning``, ``Failure``, ``Cancel`` or ``Pending``."""
    if status == SUCCESS:
        return "Success"
    if status in (PENDING, PENDING_WARNING):
        return "Pending"
    if status == CANCEL:
        return "Cancel"
    if status == 0x0001 or 0xB000 <= status <= 0xBFFF or status == 0x0107 or status == 0x0116:
        return "Warning"
    return "Failure"


def describe(status: int) -> str:
    """``0xA700 Out of resources`` style text for people."""
    name = _NAMES.get(status)
    if name is None:
        if 0xA700 <= status <= 0xA7FF:
            name = "Out of resources"
        elif 0xA900 <= status <= 0xA9FF:
            name = "Data set does not match SOP class"
        elif 0xC000 <= status <= 0xCFFF:
            name = "Cannot understand"
        else:
            name = category(status)
    return f"0x{status:04X} {name}"


def is_success(status: int) -> bool:
    return status == SUCCESS


def is_pending(status: int) -> bool:
    return status in (PENDING, PENDING_WARNING)
