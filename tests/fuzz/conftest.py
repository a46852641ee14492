"""Fuzzing profiles: a short run in ``make test``, a long one in ``make fuzz``.

``PACSLINK_FUZZ=long`` selects the long profile: no deadline and
``PACSLINK_FUZZ_EXAMPLES`` examples per harness (20,000 by default). Otherwise each
harness runs the few hundred examples of :data:`SHORT`, which keeps the fuzz tests
within seconds. Both inherit the profile loaded by ``tests/conftest.py`` (derandomized
under CI, so a CI run is reproducible).

An input that breaks a harness is kept: at the end of the session the smallest one per
harness (what hypothesis shrank it to) is written to
``tests/fuzz/regressions/<harness>/crash-<hash>.bin``, which ``test_regressions.py``
replays from then on. Fix the bug and commit the file with the fix.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tests.fuzz import record

LONG = os.environ.get("PACSLINK_FUZZ", "") == "long"
#: Examples per test in the short run (``make test``).
SHORT = {"pdu": 300, "dimse_command": 300, "dimse_stream": 200, "store": 60}

settings.register_profile(
    "fuzz", settings.default, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much])
settings.register_profile(
    "fuzz-long", settings.get_profile("fuzz"),
    max_examples=int(os.environ.get("PACSLINK_FUZZ_EXAMPLES", "20000")))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for path in record.save_smallest():
        print(f"\nfuzzing found a crash; saved as {path} (fix it, then commit the file)")
