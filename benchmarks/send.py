"""Send: ``pacslink send`` and DCMTK ``storescu`` send the same CT series to one
``storescp --ignore`` (it receives and discards, so only the senders are compared).

``pacslink send`` is timed as a user runs it: the process's whole life, interpreter
start-up included (the run's ``pacslink_startup_s`` says how much of it that is).
"""

from __future__ import annotations

import json

from benchmarks.common import (
    DCMTK_ENV,
    PACSLINK,
    BenchError,
    Context,
    alternate,
    expect,
    free_port,
    pacslink_env,
    run,
    serving,
)
from benchmarks.receive import AT_LEAST_DCMTK
from benchmarks.results import Row

RECEIVER = "STORESCP"


def plan(ctx: Context) -> list[Row]:
    s = ctx.sizes
    return [Row("send_ct", "send", f"send {s.ct_count} x {s.ct_size**2 * 2 // 1024} KB CT",
                "objects/s", f"pacslink send {RECEIVER}@127.0.0.1:PORT DIR",
                "storescu FILES (both into storescp --ignore)", AT_LEAST_DCMTK,
                ratio_definition="pacslink rate / storescu rate, per repetition",
                notes=["pacslink includes its start-up"])]


def measure(ctx: Context, rows: list[Row]) -> None:
    (row,) = rows
    series = ctx.data.ct()
    work = ctx.fresh("send")
    port = free_port()
    receiver = ["storescp", "--ignore", "-aet", RECEIVER, str(port)]
    pacslink = [*PACSLINK, "--home", str(work / "home"), "send", "--json",
                f"{RECEIVER}@127.0.0.1:{port}", str(series.folder)]
    storescu = ["storescu", "-aet", "BENCHSCU", "-aec", RECEIVER, "127.0.0.1", str(port),
                *map(str, series.paths)]
    with serving("storescp-ignore", receiver, port, work, env=DCMTK_ENV) as server:
        for rep in range(ctx.reps):
            seconds = {}
            for side in alternate(rep, ["pacslink", "dcmtk"]):
                if side == "pacslink":
                    seconds[side], output = run(pacslink, cwd=work, name="pacslink-send",
                                                env=pacslink_env(min_free_mb=1))
                    _check_sent(output, series.count)
                else:
                    seconds[side], _ = run(storescu, cwd=work, env=DCMTK_ENV, name="storescu")
                server.check_alive()
            row.add_pair(series.count / seconds["pacslink"], series.count / seconds["dcmtk"],
                         seconds["dcmtk"] / seconds["pacslink"])


def _check_sent(output: str, count: int) -> None:
    """``pacslink send --json`` must report every file stored."""
    try:
        sent = int(json.loads(output)["sent"])
    except (ValueError, KeyError, TypeError):
        raise BenchError(f"pacslink send --json printed no summary: {output[-300:]}") from None
    expect("files pacslink send reports as stored", sent, count)
