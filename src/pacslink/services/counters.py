"""Sub-operation counters of C-MOVE and C-GET responses, checked before they are shown.

Pending responses carry the Number of Remaining, Completed, Failed and Warning
Sub-operations; the final response the last three (PS3.7 9.1.3.1, 9.1.4.1; PS3.4
C.4.2.1.5, C.4.3.1.5). PACS get them wrong: completed larger than what was asked for,
0xFFFF where -1 was meant, remaining going up, Success (0000) with failures, or no
counters at all. pacslink never judges a retrieve by them (it counts the instances that
arrived, :mod:`pacslink.services.retrieve`), but it shows them, so each operation's
responses go through a :class:`CounterCheck`: impossible values are clamped and the
inconsistencies listed, for the report to flag.

>>> from pacslink.dicomnet.qr import QRResponse
>>> check = CounterCheck(bound=3)
>>> check.observe(QRResponse(0xFF00, remaining=2, completed=1, failed=0, warning=0))
>>> check.observe(QRResponse(0x0000, completed=65535, failed=0, warning=0))
>>> check.problems
['completed 65535 of 3 sub-operations asked for', '65535 sub-operations done of 3 announced']
>>> check.clamp(65535)
3
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pacslink.dicomnet import status as S
from pacslink.dicomnet.qr import QRResponse

#: Problems kept per operation; a flood of bad responses does not grow the list.
MAX_PROBLEMS = 5
_NAMES = ("remaining", "completed", "failed", "warning")


def _values(response: QRResponse) -> tuple[int | None, ...]:
    return response.remaining, response.completed, response.failed, response.warning


@dataclass
class CounterCheck:
    """Watches the responses of one C-MOVE or C-GET.

    Parameters
    ----------
    bound : int, optional
        The most sub-operations possible (the instances this operation asked for), when
        known; without it the total announced by the first complete pending response
        is the bound.
    """

    bound: int | None = None
    problems: list[str] = field(default_factory=list)
    total: int | None = None
    _last: tuple[int | None, ...] | None = None

    def observe(self, response: QRResponse) -> None:
        """Check one response against the rules and the responses before it."""
        values = _values(response)
        if self.bound is not None:
            for name, value in zip(_NAMES, values, strict=True):
                if value is not None and value > self.bound:
                    self._flag(f"{name} {value} of {self.bound} sub-operations asked for")
        if response.pending:
            self._pending(values)
            return
        failed, warning = response.failed or 0, response.warning or 0
        if response.status == S.SUCCESS and (failed or warning):
            self._flag(f"final status Success with {failed} failed and {warning} warning "
                       "sub-operations")
        done = sum(v or 0 for v in values[1:])
        if self.total is not None and done > self.total:
            self._flag(f"{done} sub-operations done of {self.total} announced")

    def _pending(self, values: tuple[int | None, ...]) -> None:
        if None not in values:
            total = sum(v or 0 for v in values)
            if self.total is None:
                self.total = total
            elif total != self.total:
                self._flag(f"the sub-operations added up to {self.total}, then to {total}")
        if self._last is not None:
            before = self._last
            if values[0] is not None and before[0] is not None and values[0] > before[0]:
                self._flag(f"remaining went up from {before[0]} to {values[0]}")
            for name, now, then in zip(_NAMES[1:], values[1:], before[1:], strict=True):
                if now is not None and then is not None and now < then:
                    self._flag(f"{name} went down from {then} to {now}")
        self._last = values

    def _flag(self, problem: str) -> None:
        if problem not in self.problems and len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    @property
    def limit(self) -> int | None:
        """The largest value a counter can sensibly have, if known."""
        return self.bound if self.bound is not None else self.total

    def clamp(self, value: int | None) -> int | None:
        """``value`` cut to :attr:`limit` (``None`` stays ``None``: not reported)."""
        limit = self.limit
        if value is None or limit is None:
            return value
        return min(value, limit)


def describe_problems(problems: list[str]) -> str:
    """The note a person reads about inconsistent counters."""
    shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
    return (f"the PACS reported inconsistent counters ({shown}); they are shown clamped, "
            "and the result is judged by the instances that arrived")


__all__ = ["MAX_PROBLEMS", "CounterCheck", "describe_problems"]
