"""Presentation contexts the Storage SCU proposes and the SCP accepts."""

from __future__ import annotations

from pathlib import Path

from pacslink.conformance import STORAGE_SOP_CLASSES, VERIFICATION_SOP_CLASS
from pacslink.services.contexts import FALLBACK, plan_associations, storage_scp_contexts
from pacslink.services.part10 import Part10Info

IMPLICIT, EXPLICIT, JPEG = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.70"


def info(sop_class: str, ts: str, n: int = 0) -> Part10Info:
    return Part10Info(Path(f"/x/{n}"), sop_class, f"1.2.3.{n}", ts, 0, 0)


def test_scp_accepts_exactly_the_65_storage_classes_and_verification() -> None:
    supported = storage_scp_contexts()
    assert set(supported) == {uid for _, uid in STORAGE_SOP_CLASSES} | {VERIFICATION_SOP_CLASS}
    assert len(supported) == 66
    assert all(IMPLICIT in ts for ts in supported.values())


def test_only_needed_contexts_are_proposed() -> None:
    ct, mr = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"
    plans = plan_associations([info(ct, IMPLICIT, 1), info(ct, JPEG, 2), info(mr, IMPLICIT, 3),
                               info(ct, IMPLICIT, 4)])
    assert len(plans) == 1
    assert plans[0].contexts == [(ct, (IMPLICIT,)), (ct, (JPEG,)), (ct, FALLBACK), (mr, (IMPLICIT,))]
    assert len(plans[0].files) == 4


def test_more_than_128_contexts_use_several_associations() -> None:
    files = [info(uid, ts, i) for i, (uid, ts) in enumerate(
        (uid, ts) for _, uid in STORAGE_SOP_CLASSES for ts in (IMPLICIT, EXPLICIT))]
    plans = plan_associations(files)
    assert len(plans) == 2
    assert all(len(p.contexts) <= 128 for p in plans)
    assert sum(len(p.files) for p in plans) == len(files)
    # every class's contexts stay together with its files
    for plan in plans:
        classes = {c for c, _ in plan.contexts}
        assert {f.sop_class_uid for f in plan.files} == classes
