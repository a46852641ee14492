"""The C-MOVE/C-GET counter checks on their own (PS3.4 C.4.2.1.5, PS3.7 9.1.4.1)."""

from __future__ import annotations

import doctest

from pacslink.dicomnet import status as S
from pacslink.dicomnet.qr import QRResponse
from pacslink.services import counters
from pacslink.services.counters import MAX_PROBLEMS, CounterCheck, describe_problems


def test_the_module_example_holds() -> None:
    assert doctest.testmod(counters).failed == 0


def test_honest_counters_raise_nothing_and_are_not_changed() -> None:
    check = CounterCheck(bound=3)
    for done in range(1, 4):
        check.observe(QRResponse(S.PENDING, remaining=3 - done, completed=done, failed=0, warning=0))
    check.observe(QRResponse(S.SUCCESS, completed=3, failed=0, warning=0))
    assert check.problems == [] and check.total == 3
    assert [check.clamp(v) for v in (0, 3, None)] == [0, 3, None]


def test_a_flood_of_nonsense_keeps_a_bounded_list() -> None:
    check = CounterCheck()
    for n in range(10_000):
        check.observe(QRResponse(S.PENDING, remaining=n, completed=10_000 - n, failed=n % 7,
                                 warning=0))
    assert len(check.problems) == MAX_PROBLEMS
    assert check.problems[0] == "the sub-operations added up to 10000, then to 10001"


def test_without_a_bound_the_first_total_is_the_limit() -> None:
    check = CounterCheck()
    check.observe(QRResponse(S.PENDING, remaining=4, completed=1, failed=0, warning=0))
    check.observe(QRResponse(0xB000, completed=9, failed=1, warning=0))
    assert check.problems == ["10 sub-operations done of 5 announced"]
    assert check.clamp(9) == 5


def test_the_note_shows_three_problems_at_most() -> None:
    text = describe_problems(["a", "b", "c", "d"])
    assert text == ("the PACS reported inconsistent counters (a; b; c; ...); they are shown "
                    "clamped, and the result is judged by the instances that arrived")
