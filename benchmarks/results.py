"""One row of the results table, its target, and the Markdown and JSON renderings.

A row holds the raw values of every repetition: pacslink's, the DCMTK reference's and
the ratio of each pair (pacslink and DCMTK measured back to back). The medians are
computed from those lists, so the JSON is enough to recompute the table.

JSON layout (``results.json``)::

    {"meta": {...},            # date, machine, versions, repetitions, duration
     "rows": [{"key": "receive_ct_never", "group": "receive", "scenario": "...",
               "unit": "objects/s",
               "pacslink": {"command": "...", "median": 93.1, "values": [...]},
               "reference": {"command": "...", "median": 90.2, "values": [...]},
               "ratio": {"definition": "...", "median": 1.03, "values": [...]},
               "target": "ratio >= 1.0", "met": true,
               "extra": {"peak_rss_mb": 61.0}, "notes": [...], "error": null}, ...]}

``error`` is ``null`` for a measured row, else the reason (``"n/a: ..."`` when the
scenario does not apply to this build); ``met`` is ``null`` when there is no target or
the row failed.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Markdown table header; ``python -m benchmarks`` prints the same table at the end.
COLUMNS = ("scenario", "pacslink (median)", "DCMTK (median)", "ratio: median of pairs (range)",
           "target", "met?", "notes")


@dataclass(frozen=True)
class Target:
    """What a row must reach: a bound on the ratio or on pacslink's value, plus extras.

    Parameters
    ----------
    text : str
        As shown in the table, e.g. ``">= 1.0x"``.
    min_ratio, max_ratio : float, optional
        The median ratio must be at least / at most this.
    max_value : float, optional
        pacslink's median value must be below this (a duration target such as < 1 s).
    max_extra : dict, optional
        Each named extra measurement (``peak_rss_mb``) must be below its bound.
    """

    text: str = "—"
    min_ratio: float | None = None
    max_ratio: float | None = None
    max_value: float | None = None
    max_extra: tuple[tuple[str, float], ...] = ()

    @property
    def informational(self) -> bool:
        return (self.min_ratio is None and self.max_ratio is None and self.max_value is None
                and not self.max_extra)


INFO = Target()


@dataclass
class Row:
    """One line of the table; a scenario fills in ``add_pair`` once per repetition."""

    key: str
    group: str
    scenario: str
    unit: str
    command: str
    reference_command: str | None
    target: Target = INFO
    ratio_definition: str = "pacslink / DCMTK, per pair"
    #: Shown after the ratio in the table, for a ratio that is not "x as fast as DCMTK".
    ratio_suffix: str = ""
    ours: list[float] = field(default_factory=list)
    theirs: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    extra: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    #: Wall time of the whole scenario this row belongs to (set by the runner).
    seconds: float | None = None

    def add_pair(self, ours: float, theirs: float, ratio: float) -> None:
        """Record one repetition: pacslink's value, DCMTK's, and their ratio."""
        self.ours.append(ours)
        self.theirs.append(theirs)
        self.ratios.append(ratio)

    def add(self, ours: float) -> None:
        """Record one repetition of a row without a DCMTK reference."""
        self.ours.append(ours)

    def worst_extra(self, name: str, value: float) -> None:
        """Keep the largest value seen for ``name`` (peak memory over repetitions)."""
        self.extra[name] = max(value, self.extra.get(name, value))

    @property
    def ours_median(self) -> float | None:
        return statistics.median(self.ours) if self.ours else None

    @property
    def theirs_median(self) -> float | None:
        return statistics.median(self.theirs) if self.theirs else None

    @property
    def ratio_median(self) -> float | None:
        return statistics.median(self.ratios) if self.ratios else None

    @property
    def measured(self) -> bool:
        return self.error is None and bool(self.ours)

    @property
    def met(self) -> bool | None:
        """Whether the target is reached; ``None`` without a target or a measurement."""
        if not self.measured or self.target.informational:
            return None
        t, ratio, value = self.target, self.ratio_median, self.ours_median
        checks = []
        if t.min_ratio is not None:
            checks.append(ratio is not None and ratio >= t.min_ratio)
        if t.max_ratio is not None:
            checks.append(ratio is not None and ratio <= t.max_ratio)
        if t.max_value is not None:
            checks.append(value is not None and value < t.max_value)
        for name, bound in t.max_extra:
            checks.append(name in self.extra and self.extra[name] < bound)
        return all(checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "group": self.group,
            "scenario": self.scenario,
            "unit": self.unit,
            "pacslink": {"command": self.command, "median": self.ours_median,
                         "values": self.ours},
            "reference": None if self.reference_command is None else {
                "command": self.reference_command, "median": self.theirs_median,
                "values": self.theirs},
            "ratio": None if self.reference_command is None else {
                "definition": self.ratio_definition, "median": self.ratio_median,
                "values": self.ratios},
            "target": self.target.text,
            "met": self.met,
            "extra": self.extra,
            "notes": self.notes,
            "error": self.error,
            "scenario_seconds": self.seconds,
        }


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


#: How each extra measurement reads in the notes column.
EXTRA_LABELS = {
    "peak_rss_mb": "peak RSS {} MB",
    "slowest_single_findscu_s": "slowest AE alone {} s",
    "wall_over_sum": "{}x the sum",
    "search_only_s": "search itself {} s",
    "search_only_responses_per_s": "search itself {} responses/s",
    "retrieve_only_images_per_s": "retrieve itself {} images/s",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_line(row: Row) -> str:
    """One Markdown table line of ``row``."""
    met = {True: "yes", False: "**no**", None: "—"}[row.met]
    notes = list(row.notes)
    if row.error is not None:
        if row.error.startswith("n/a"):
            ours = theirs = ratio = "n/a"
            met = "n/a"
        else:
            ours = theirs = ratio = "error"
            met = "error"
        notes.insert(0, row.error)
    else:
        ours = f"{_number(row.ours_median)} {row.unit}"
        theirs = ("—" if row.reference_command is None
                  else f"{_number(row.theirs_median)} {row.unit}")
        ratio = ("—" if row.ratio_median is None
                 else f"{row.ratio_median:.2f}x{row.ratio_suffix}")
        if len(row.ratios) > 1:  # the spread of the pairs: how far one run can be trusted
            ratio += f" ({min(row.ratios):.2f}-{max(row.ratios):.2f})"
    for name, value in row.extra.items():
        label = EXTRA_LABELS.get(name, name.replace("_", " ") + " {}")
        notes.append(label.format(_number(value)))
    cells = (row.scenario, ours, theirs, ratio, row.target.text, met, "; ".join(notes))
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def markdown_table(rows: Iterable[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines.extend(table_line(row) for row in rows)
    return "\n".join(lines)


def commands_section(rows: Sequence[Row]) -> str:
    """What ran on each side, one bullet per row (the exact tools and flags)."""
    lines = []
    for row in rows:
        reference = f"; DCMTK: `{row.reference_command}`" if row.reference_command else ""
        lines.append(f"- **{row.scenario}** — pacslink: `{row.command}`{reference}; "
                     f"ratio: {row.ratio_definition if row.reference_command else '—'}")
    return "\n".join(lines)


def write(out: Path, rows: Sequence[Row], meta: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``results.md`` and ``results.json`` into ``out``; returns both paths."""
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "results.md", out / "results.json"
    facts = "\n".join(f"- {key}: {value}" for key, value in meta.items()
                      if not isinstance(value, (dict, list)))
    md.write_text(f"# pacslink benchmarks\n\n{facts}\n\n{markdown_table(rows)}\n\n"
                  f"## Commands\n\n{commands_section(rows)}\n")
    js.write_text(json.dumps({"meta": meta, "rows": [r.as_json() for r in rows]}, indent=2) + "\n")
    return md, js
