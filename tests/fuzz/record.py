"""Running a harness under hypothesis, keeping what broke it."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import settings

from tests.fuzz.harnesses import HARNESSES, save_crash

_failures: dict[str, bytes] = {}


def fuzz(harness: str) -> settings:
    """The settings of a fuzz test of ``harness`` (short or long profile)."""
    from tests.fuzz.conftest import LONG, SHORT

    if LONG:
        return settings(settings.get_profile("fuzz-long"))
    return settings(settings.get_profile("fuzz"), max_examples=SHORT[harness])


def run(harness: str, data: bytes) -> None:
    """Run ``harness`` on ``data``; remember the smallest input that breaks it."""
    try:
        HARNESSES[harness](data)
    except Exception:  # not BaseException: a timeout or ^C is no crash of pacslink
        best = _failures.get(harness)
        if best is None or (len(data), data) < (len(best), best):
            _failures[harness] = data
        raise


def save_smallest() -> list[Path]:
    """Write the smallest failing input of each harness to the regression corpus."""
    if os.environ.get("PACSLINK_FUZZ_SAVE", "1") == "0":
        return []
    saved = [save_crash(harness, data) for harness, data in sorted(_failures.items())]
    _failures.clear()
    return saved
