"""Replays the fuzz corpus: every input in ``regressions/<harness>/`` through its harness.

``seed-*`` files are valid inputs (they must keep working); ``crash-*`` files are inputs
that once broke pacslink, each kept with the fix that made it pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.harnesses import HARNESSES, REGRESSIONS

CORPUS = sorted(REGRESSIONS.glob("*/*.bin"))


def test_every_harness_has_a_corpus() -> None:
    assert {p.parent.name for p in CORPUS} == set(HARNESSES)


@pytest.mark.parametrize("path", CORPUS, ids=[f"{p.parent.name}/{p.name}" for p in CORPUS])
def test_replay(path: Path) -> None:
    HARNESSES[path.parent.name](path.read_bytes())
