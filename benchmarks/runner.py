"""``python -m benchmarks [--quick] [--only NAME] [--reps N] [--out DIR]``: run, write, print.

Scenarios run one after another in one temp dir (data is generated there once). A
scenario that fails marks its rows with the error and the others still run. The
results go to ``DIR/results.md`` and ``DIR/results.json`` (default ``bench-results/``)
and the table is printed at the end.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import echo, qr, receive, send, web
from benchmarks.common import PACSLINK, QUICK, Context, Sizes, pacslink_env
from benchmarks.results import Row, markdown_table, write

MIN_REPS = 3


@dataclass(frozen=True)
class Scenario:
    """``plan`` names the rows without doing any work; ``measure`` fills them in."""

    name: str
    group: str
    plan: Callable[[Context], list[Row]]
    measure: Callable[[Context, list[Row]], None]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("receive_ct", "receive", receive.plan_ct, receive.measure_ct),
    Scenario("receive_tiny", "receive", receive.plan_tiny, receive.measure_tiny),
    Scenario("receive_multiframe", "receive", receive.plan_multiframe, receive.measure_multiframe),
    Scenario("receive_parallel", "receive", receive.plan_parallel, receive.measure_parallel),
    Scenario("send_ct", "send", send.plan, send.measure),
    Scenario("echo", "echo", echo.plan, echo.measure),
    Scenario("find_many", "qr", qr.plan_find, qr.measure_find),
    Scenario("find_federated", "qr", qr.plan_federated, qr.measure_federated),
    Scenario("retrieve_move", "qr", qr.plan_move, qr.measure_move),
    Scenario("web_first_image", "web", web.plan, web.measure),
)


def select(names: Sequence[str]) -> list[Scenario]:
    """Scenarios named (or whose group is named) in ``names``; all when empty.

    Raises
    ------
    SystemExit
        A name matches nothing (the message lists the valid ones).
    """
    wanted = {n.strip() for name in names for n in name.split(",") if n.strip()}
    if not wanted:
        return list(SCENARIOS)
    known = {s.name for s in SCENARIOS} | {s.group for s in SCENARIOS}
    unknown = sorted(wanted - known)
    if unknown:
        raise SystemExit(f"unknown scenario {', '.join(unknown)}; choose from: "
                         f"{', '.join(sorted(known))}")
    return [s for s in SCENARIOS if s.name in wanted or s.group in wanted]


def _version(args: Sequence[str]) -> str:
    try:
        result = subprocess.run(list(args), capture_output=True, text=True, timeout=30,
                                check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    text = (result.stdout or result.stderr).strip().splitlines()
    return text[0].strip() if text else "unavailable"


def _startup(samples: int) -> tuple[str, float]:
    """pacslink's version, and the median wall time of ``pacslink --version``: what every
    CLI run pays before any work (interpreter start and imports)."""
    times, version = [], "unavailable"
    for _ in range(samples):
        start = time.perf_counter()
        result = subprocess.run([*PACSLINK, "--version"], capture_output=True, text=True,
                                env=pacslink_env(), timeout=60, check=False)
        times.append(time.perf_counter() - start)
        version = result.stdout.strip() or version
    return version, sorted(times)[len(times) // 2]


def _git_commit() -> str:
    try:
        result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=False)
    except OSError:
        return "unknown"
    return result.stdout.strip() or "unknown"


def _meta(ctx: Context, scenarios: Sequence[Scenario]) -> dict[str, Any]:
    load = os.getloadavg()
    version, startup = _startup(1 if ctx.quick else 3)
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": _git_commit(),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_at_start": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        "python": platform.python_version(),
        "pacslink": version,
        "dcmtk": _version(["storescp", "--version"]),
        "mode": "quick (tiny sizes, smoke test only)" if ctx.quick else "full",
        "repetitions": ctx.reps,
        "pacslink_startup_s": round(startup, 3),
        "scenarios": [s.name for s in scenarios],
    }


def run_scenario(ctx: Context, scenario: Scenario) -> list[Row]:
    """Plan and measure one scenario; any failure is written into its rows."""
    rows = scenario.plan(ctx)
    start = time.perf_counter()
    print(f"-- {scenario.name} ...", file=sys.stderr, flush=True)
    try:
        scenario.measure(ctx, rows)
    except Exception as exc:  # noqa: BLE001 - reported in the rows, the others still run
        message = f"{type(exc).__name__}: {exc}".strip()
        if not isinstance(exc, RuntimeError):
            traceback.print_exc(file=sys.stderr)
        for row in rows:
            if row.error is None:
                row.error = message[:500]
    elapsed = time.perf_counter() - start
    for row in rows:
        row.seconds = round(elapsed, 1)
    print(f"   {scenario.name}: {elapsed:.1f} s", file=sys.stderr, flush=True)
    return rows


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks of pacslink against DCMTK (see docs/performance.md).")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and 1 repetition: checks that every scenario runs")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="a scenario or group (repeatable, or comma-separated): "
                             + ", ".join(s.name for s in SCENARIOS))
    parser.add_argument("--reps", type=int, default=None,
                        help=f"repetitions per side (default {MIN_REPS}; at least "
                             f"{MIN_REPS} unless --quick)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"),
                        help="where results.md and results.json go (default bench-results/)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="with --quick: run N scenarios at once (a faster smoke test; "
                             "the figures of such a run mean nothing)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temp dir (data, logs of every process)")
    args = parser.parse_args(argv)
    if args.reps is None:
        args.reps = 1 if args.quick else MIN_REPS
    if args.reps < 1 or (args.reps < MIN_REPS and not args.quick):
        parser.error(f"--reps must be at least {MIN_REPS} (medians of fewer runs mean little)")
    if args.jobs < 1 or (args.jobs > 1 and not args.quick):
        parser.error("--jobs above 1 only with --quick: scenarios running at once slow each "
                     "other down, so their figures would mean nothing")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    scenarios = select(args.only)
    sizes: Sizes = QUICK if args.quick else Sizes()
    tmp = Path(tempfile.mkdtemp(prefix="pacslink-bench-"))
    started = time.perf_counter()
    rows: list[Row] = []
    try:
        ctx = Context(tmp, sizes, args.reps, args.quick)
        meta = _meta(ctx, scenarios)
        # Parallel (quick) runs start the last, longest scenarios first; rows keep their order.
        order = scenarios if args.jobs == 1 else scenarios[::-1]
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            done = dict(zip(order, pool.map(lambda s: run_scenario(ctx, s), order)))
        for scenario in scenarios:
            rows.extend(done[scenario])
    finally:
        if args.keep:
            print(f"temp dir kept: {tmp}", file=sys.stderr)
        else:
            cleanup = time.perf_counter()
            shutil.rmtree(tmp, ignore_errors=True)
            print(f"-- removed the temp dir in {time.perf_counter() - cleanup:.1f} s",
                  file=sys.stderr)
    meta["duration_s"] = round(time.perf_counter() - started, 1)
    md, js = write(args.out, rows, meta)
    print()
    print(markdown_table(rows))
    print(f"\n{len(rows)} rows in {meta['duration_s']:.0f} s; written to {md} and {js}")
    return 0
