"""Receive: DCMTK ``storescu`` sends the same files to ``pacslink listen`` and to ``storescp``.

Each scenario gives two rows: pacslink in its durable default (fsync of file, directory
and index before each C-STORE-RSP; storescp does none of that, so this row has no
target) and pacslink with ``--sync never`` (the like-for-like comparison, target
>= 1.0x). In each repetition the three receivers run back to back, in alternating
order; every ratio divides two runs of the same repetition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.common import (
    DCMTK_ENV,
    PACSLINK,
    BenchError,
    Context,
    alternate,
    count_files,
    expect,
    free_port,
    pacslink_env,
    run,
    run_parallel,
    serving,
    sync_disks,
)
from benchmarks.data import Series
from benchmarks.results import INFO, Row, Target

AT_LEAST_DCMTK = Target(">= 1.0x", min_ratio=1.0)
SENDER_AET = "BENCHSCU"

#: (key suffix, title suffix, extra ``pacslink listen`` arguments)
MODES = (("durable", "durable (default)", ()), ("never", "--sync never", ("--sync", "never")))


def _storescu(port: int, paths: Sequence[Path]) -> list[str]:
    return ["storescu", "-aet", SENDER_AET, "-aec", "PACSLINK", "127.0.0.1", str(port),
            *map(str, paths)]


def _split(paths: Sequence[Path], parts: int) -> list[list[Path]]:
    return [list(paths[i::parts]) for i in range(parts)]


def _send(port: int, series: Series, senders: int, cwd: Path) -> float:
    """Seconds for ``storescu`` (or ``senders`` of them at once) to send ``series``."""
    if senders == 1:
        seconds, _ = run(_storescu(port, series.paths), cwd=cwd, env=DCMTK_ENV, name="storescu")
        return seconds
    commands = [_storescu(port, part) for part in _split(series.paths, senders)]
    return run_parallel(commands, cwd=cwd, env=DCMTK_ENV, name="storescu")


def _pacslink_run(ctx: Context, series: Series, senders: int, mode_args: Sequence[str],
                  row: Row) -> float:
    home = ctx.fresh(f"{row.key}/pacslink")
    port = free_port()
    args = [*PACSLINK, "--home", str(home), "listen", "--port", str(port), *mode_args]
    with serving("pacslink-listen", args, port, home, env=pacslink_env(min_free_mb=1)) as server:
        sync_disks()
        seconds = _send(port, series, senders, home)
        server.check_alive()
        rss = server.peak_rss_mb()
        if rss is not None:
            row.worst_extra("peak_rss_mb", rss)
    expect("files in the pacslink store", count_files(home / "store" / "objects"), series.count)
    return seconds


def _dcmtk_run(ctx: Context, name: str, series: Series, senders: int, fork: bool) -> float:
    out = ctx.fresh(f"{name}/storescp")
    port = free_port()
    args = ["storescp", *(["--fork"] if fork else []), "--bit-preserving", "-aet", "PACSLINK",
            "-od", str(out / "files"), str(port)]
    (out / "files").mkdir()
    with serving("storescp", args, port, out, env=DCMTK_ENV) as server:
        sync_disks()
        seconds = _send(port, series, senders, out)
        server.check_alive()
    expect("files written by storescp", count_files(out / "files"), series.count)
    return seconds


def _rows(key: str, title: str, unit: str, reference: str, *,
          target: Target, memory_bound: float | None = None) -> list[Row]:
    """The durable row (no target: storescp does not fsync) and the --sync never row."""
    rows = []
    for suffix, label, args in MODES:
        row_target = target if suffix == "never" else INFO
        if memory_bound is not None:
            text = f"peak RSS < {memory_bound:.0f} MB"
            row_target = Target(text if row_target is INFO else f"{row_target.text}, {text}",
                                min_ratio=row_target.min_ratio,
                                max_extra=(("peak_rss_mb", memory_bound),))
        row = Row(f"{key}_{suffix}", "receive", f"{title}, {label}", unit,
                  " ".join(["pacslink listen", *args]), reference, row_target,
                  ratio_definition="pacslink rate / storescp rate, per repetition")
        if suffix == "durable":
            row.notes.append("storescp does not fsync; like-for-like is --sync never")
        rows.append(row)
    return rows


def _measure(ctx: Context, rows: Sequence[Row], series: Series, *, senders: int = 1,
             fork: bool = False, amount: Callable[[float], float]) -> None:
    """``ctx.reps`` repetitions of: each pacslink mode and storescp, in alternating order."""
    by_mode = {suffix: row for (suffix, _, _), row in zip(MODES, rows)}
    if not ctx.has_sync_never:
        by_mode["never"].error = ("n/a: this pacslink has no `listen --sync never` "
                                  "(checked with `pacslink listen --help`)")
    modes = {suffix: args for suffix, _, args in MODES if by_mode[suffix].error is None}
    for rep in range(ctx.reps):
        seconds: dict[str, float] = {}
        for side in alternate(rep, [*modes, "dcmtk"]):
            if side == "dcmtk":
                seconds[side] = _dcmtk_run(ctx, rows[0].key, series, senders, fork)
            else:
                seconds[side] = _pacslink_run(ctx, series, senders, modes[side], by_mode[side])
        for suffix in modes:
            by_mode[suffix].add_pair(amount(seconds[suffix]), amount(seconds["dcmtk"]),
                                     seconds["dcmtk"] / seconds[suffix])


def _kb(nbytes: float) -> str:
    return f"{nbytes / 1024:.0f} KB"


# --- the scenarios: plan_* names the rows (no work), measure_* fills them -----------------

def plan_ct(ctx: Context) -> list[Row]:
    s = ctx.sizes
    return _rows("receive_ct", f"receive {s.ct_count} x {_kb(s.ct_size**2 * 2)} CT", "objects/s",
                 "storescp --bit-preserving", target=AT_LEAST_DCMTK)


def measure_ct(ctx: Context, rows: list[Row]) -> None:
    series = ctx.data.ct()
    _measure(ctx, rows, series, amount=lambda s: series.count / s)


def plan_tiny(ctx: Context) -> list[Row]:
    return _rows("receive_tiny", f"receive {ctx.sizes.tiny_count:,} x 2 KB objects",
                 "objects/s", "storescp --bit-preserving", target=AT_LEAST_DCMTK)


def measure_tiny(ctx: Context, rows: list[Row]) -> None:
    series = ctx.data.tiny()
    _measure(ctx, rows, series, amount=lambda s: series.count / s)


def plan_multiframe(ctx: Context) -> list[Row]:
    s = ctx.sizes
    mb = s.mf_size**2 * 2 * s.mf_frames / 2**20
    return _rows("receive_multiframe", f"receive {s.mf_count} x {mb:.0f} MB multi-frame", "MB/s",
                 "storescp --bit-preserving", target=AT_LEAST_DCMTK, memory_bound=100)


def measure_multiframe(ctx: Context, rows: list[Row]) -> None:
    series = ctx.data.multiframe()
    _measure(ctx, rows, series, amount=lambda s: series.total_bytes / 1e6 / s)


def plan_parallel(ctx: Context) -> list[Row]:
    s = ctx.sizes
    return _rows("receive_parallel",
                 f"receive {s.ct_count} CT from {s.senders} senders in parallel", "objects/s",
                 "storescp --fork --bit-preserving", target=AT_LEAST_DCMTK)


def measure_parallel(ctx: Context, rows: list[Row]) -> None:
    series = ctx.data.ct()
    senders = ctx.sizes.senders
    if series.count < senders:
        raise BenchError(f"{series.count} images cannot be split among {senders} senders")
    _measure(ctx, rows, series, senders=senders, fork=True, amount=lambda s: series.count / s)
