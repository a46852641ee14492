"""``python -m benchmarks --quick``: every scenario runs and is reported (no timing asserted).

The suite runs as ``make bench`` would (a subprocess from the repository root), with
tiny sizes, one repetition and three scenarios at a time. Each row of ``results.json``
must hold numbers (with every tool present, a scenario that fails is a broken benchmark);
the Markdown table must list every row.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.runner import SCENARIOS, select
from tests.peers import require

pytestmark = [pytest.mark.interop, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, str]:
    for tool in ("storescu", "storescp", "echoscu", "findscu", "movescu", "dcmqrscp", "dcmqridx",
                 "chromium"):
        require(tool)
    out = tmp_path_factory.mktemp("bench")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--jobs", "3", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=110, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads((out / "results.json").read_text())
    return document, (out / "results.md").read_text(), result.stdout


def test_every_scenario_has_numbers(
        quick_run: tuple[dict[str, Any], str, str]) -> None:
    document, _, _ = quick_run
    rows = document["rows"]
    assert [s.name for s in SCENARIOS] == document["meta"]["scenarios"]
    keys = [row["key"] for row in rows]
    assert len(keys) == len(set(keys))
    for scenario in SCENARIOS:  # each scenario contributed its rows
        assert any(row["key"].startswith(scenario.name) for row in rows), scenario.name
    for row in rows:
        assert row["error"] is None, row
        assert row["pacslink"]["values"] and all(map(_number, row["pacslink"]["values"])), row
        assert _number(row["pacslink"]["median"]), row
        if row["reference"] is not None:
            assert len(row["reference"]["values"]) == len(row["pacslink"]["values"]), row
            assert all(map(_number, row["reference"]["values"])), row
            assert _number(row["ratio"]["median"]), row
        assert row["met"] in (True, False, None)


def test_receive_rows_come_in_both_modes_with_the_listener_peak_memory(
        quick_run: tuple[dict[str, Any], str, str]) -> None:
    document, _, _ = quick_run
    rows = {row["key"]: row for row in document["rows"]}
    for name in ("receive_ct", "receive_tiny", "receive_multiframe", "receive_parallel"):
        durable, never = rows[f"{name}_durable"], rows[f"{name}_never"]
        assert durable["reference"]["command"].startswith("storescp")
        assert "--sync never" in never["pacslink"]["command"]
        assert durable["target"] == "—" or "RSS" in durable["target"]  # no ratio target
        assert never["target"].startswith(">= 1.0x")
        if durable["error"] is None:
            assert _number(durable["extra"]["peak_rss_mb"]), durable


def test_markdown_table_lists_every_row(quick_run: tuple[dict[str, Any], str, str]) -> None:
    document, markdown, printed = quick_run
    assert "| scenario | pacslink (median) | DCMTK (median) |" in markdown
    for row in document["rows"]:
        assert f"| {row['scenario']} |" in markdown
        assert f"| {row['scenario']} |" in printed  # the table is printed at the end too


def test_only_selects_scenarios_and_groups() -> None:
    assert [s.name for s in select(["receive"])] == [
        "receive_ct", "receive_tiny", "receive_multiframe", "receive_parallel"]
    assert [s.name for s in select(["echo,find_many"])] == ["echo", "find_many"]
    with pytest.raises(SystemExit, match="unknown scenario nope"):
        select(["nope"])
