"""C-ECHO through the engine API (``pacslink.dicomnet``) and DCMTK ``echoscu``.

Both ask the same ``storescp`` (a DCMTK Verification SCP), alternately:

* one association: N C-ECHO-RQ on one association (``echoscu --repeat N``; the engine
  loops :func:`~pacslink.dicomnet.client.c_echo` on one ``echo_association``);
* new association each: N associations of one C-ECHO each (the engine opens and
  releases N associations in one process; DCMTK has no such option, so ``echoscu`` is
  started N times and pays a process start per association).

The engine runs under :func:`pacslink.api.run`, as the CLI does.
"""

from __future__ import annotations

import time

from benchmarks.common import (
    DCMTK_ENV,
    Context,
    alternate,
    free_port,
    run,
    serving,
)
from benchmarks.receive import AT_LEAST_DCMTK
from benchmarks.results import Row
from pacslink import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from pacslink.api import run as run_coroutine
from pacslink.dicomnet.association import AEConfig
from pacslink.dicomnet.client import c_echo, echo_association

SCP_AET = "ECHOSCP"
LOCAL = AEConfig("BENCHSCU", IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME)


async def _echo_one_association(port: int, count: int) -> float:
    """Seconds for association, ``count`` C-ECHOs and release (as ``echoscu --repeat``)."""
    start = time.perf_counter()
    async with echo_association("127.0.0.1", port, LOCAL, SCP_AET) as assoc:
        for _ in range(count):
            if await c_echo(assoc) != 0:
                raise RuntimeError("C-ECHO answered with a non-Success status")
    return time.perf_counter() - start


async def _echo_new_associations(port: int, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        async with echo_association("127.0.0.1", port, LOCAL, SCP_AET) as assoc:
            if await c_echo(assoc) != 0:
                raise RuntimeError("C-ECHO answered with a non-Success status")
    return time.perf_counter() - start


def plan(ctx: Context) -> list[Row]:
    s = ctx.sizes
    definition = "pacslink rate / echoscu rate, per repetition"
    return [
        Row("echo_one_association", "echo", f"C-ECHO x {s.echo_one:,} on one association",
            "echoes/s", "engine: echo_association + c_echo loop, under pacslink.api.run",
            f"echoscu --repeat {s.echo_one}", AT_LEAST_DCMTK, ratio_definition=definition,
            notes=["both against storescp"]),
        Row("echo_new_association", "echo", f"C-ECHO x {s.echo_new}, new association each",
            "associations/s", "engine: echo_association per C-ECHO",
            f"echoscu, run {s.echo_new} times", AT_LEAST_DCMTK, ratio_definition=definition,
            notes=["echoscu pays a process start per association"]),
    ]


def measure(ctx: Context, rows: list[Row]) -> None:
    one, new = rows
    work = ctx.fresh("echo")
    port = free_port()
    target = ["127.0.0.1", str(port)]
    n_one, n_new = ctx.sizes.echo_one, ctx.sizes.echo_new
    scp = ["storescp", "--ignore", "-aet", SCP_AET, str(port)]
    with serving("storescp-echo", scp, port, work, env=DCMTK_ENV) as server:
        for rep in range(ctx.reps):
            seconds: dict[str, float] = {}
            for side in alternate(rep, ["pacslink", "dcmtk"]):
                if side == "pacslink":
                    seconds["one"] = run_coroutine(_echo_one_association(port, n_one))
                    seconds["new"] = run_coroutine(_echo_new_associations(port, n_new))
                else:
                    seconds["dcmtk_one"], _ = run(
                        ["echoscu", "-aec", SCP_AET, "--repeat", str(n_one), *target],
                        cwd=work, env=DCMTK_ENV, name="echoscu-repeat")
                    start = time.perf_counter()
                    for _ in range(n_new):
                        run(["echoscu", "-aec", SCP_AET, *target], cwd=work, env=DCMTK_ENV,
                            name="echoscu")
                    seconds["dcmtk_new"] = time.perf_counter() - start
                server.check_alive()
            one.add_pair(n_one / seconds["one"], n_one / seconds["dcmtk_one"],
                         seconds["dcmtk_one"] / seconds["one"])
            new.add_pair(n_new / seconds["new"], n_new / seconds["dcmtk_new"],
                         seconds["dcmtk_new"] / seconds["new"])
