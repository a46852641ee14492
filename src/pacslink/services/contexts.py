"""Which presentation contexts to propose and accept (PS3.4 B.3, PS3.5 10, PS3.8 9.3.2.2).

The Storage SCU proposes only what its files need: per SOP class, one context per
transfer syntax the files already have (so nothing is transcoded when the peer takes
it), plus one uncompressed fallback context. Contexts of one SOP class always go on the
same association, and an association carries at most 128 contexts (PS3.8 9.3.2.2: odd
IDs 1-255).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pacslink.conformance import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    STORAGE_SOP_CLASSES,
    STORAGE_TRANSFER_SYNTAXES,
    VERIFICATION_SOP_CLASS,
)
from pacslink.services.part10 import Part10Info

MAX_CONTEXTS = 128
FALLBACK = (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN)
VERIFICATION_TRANSFER_SYNTAXES = (
    IMPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    "1.2.840.10008.1.2.2",
)


def storage_scp_contexts() -> dict[str, tuple[str, ...]]:
    """Abstract syntax -> transfer syntaxes our Storage + Verification SCP accepts."""
    supported = {uid: tuple(STORAGE_TRANSFER_SYNTAXES) for _, uid in STORAGE_SOP_CLASSES}
    supported[VERIFICATION_SOP_CLASS] = VERIFICATION_TRANSFER_SYNTAXES
    return supported


@dataclass
class AssociationPlan:
    """The files to send on one association and the contexts to propose for them."""

    contexts: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    files: list[Part10Info] = field(default_factory=list)


def contexts_for_class(sop_class_uid: str, transfer_syntaxes: Iterable[str]) -> list[tuple[str, tuple[str, ...]]]:
    """Contexts for one SOP class whose files have ``transfer_syntaxes``."""
    out: list[tuple[str, tuple[str, ...]]] = []
    needs_fallback = False
    for ts in sorted(set(transfer_syntaxes)):
        out.append((sop_class_uid, (ts,)))
        if ts != IMPLICIT_VR_LITTLE_ENDIAN:
            needs_fallback = True
    if needs_fallback:
        out.append((sop_class_uid, FALLBACK))
    return out


def plan_associations(files: Sequence[Part10Info]) -> list[AssociationPlan]:
    """Group files so that each association proposes at most 128 contexts."""
    by_class: dict[str, list[Part10Info]] = {}
    for info in files:
        by_class.setdefault(info.sop_class_uid, []).append(info)
    plans: list[AssociationPlan] = []
    current = AssociationPlan()
    for sop_class, members in by_class.items():
        contexts = contexts_for_class(sop_class, (m.transfer_syntax_uid for m in members))
        if current.contexts and len(current.contexts) + len(contexts) > MAX_CONTEXTS:
            plans.append(current)
            current = AssociationPlan()
        current.contexts.extend(contexts)
        current.files.extend(members)
    if current.files:
        plans.append(current)
    return plans
