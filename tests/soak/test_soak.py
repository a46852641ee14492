"""Soak: many short associations and many C-STOREs leave no leaked descriptors, threads or memory.

``make test`` runs a short loop; ``make soak`` (PACSLINK_SOAK=full) runs the issue's
10,000 associations and 4 x 500 C-STOREs. Every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

from pacslink.api import Pacslink
from pacslink.dicomnet.client import associate, c_echo, c_store
from pacslink.dicomnet.negotiation import build_contexts
from tests.factory import CT_IMAGE_STORAGE, EXPLICIT_VR_LITTLE_ENDIAN, make_ct, make_dataset_bytes
from tests.peers import allow_callers, free_port

FULL = os.environ.get("PACSLINK_SOAK") == "full"
ASSOCIATIONS = 10_000 if FULL else 600
STORERS, STORES = (4, 500) if FULL else (4, 60)
VERIFICATION = "1.2.840.10008.1.1"


def resources() -> tuple[int, int, int]:
    """(open file descriptors, threads, RSS in kB) of this process."""
    fds = len(os.listdir("/proc/self/fd"))
    rss = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
               if line.startswith("VmRSS"))
    return fds, threading.active_count(), rss


async def test_short_associations_and_stores_leak_nothing(tmp_path: Path) -> None:
    app = Pacslink.from_home(tmp_path / "home", flags={"port": free_port(), "min_free_mb": 1},
                             environ={})
    allow_callers(app.registry, app.settings.ae_title)  # it stores into itself
    server = await app.start_listener()
    local = app.local_ae()
    echo_contexts = build_contexts([(VERIFICATION, ["1.2.840.10008.1.2"])])
    store_contexts = build_contexts([(CT_IMAGE_STORAGE, [EXPLICIT_VR_LITTLE_ENDIAN])])

    async def echoes(count: int) -> None:
        for _ in range(count):
            async with await associate("127.0.0.1", server.port, local, "PACSLINK",
                                       echo_contexts) as assoc:
                assert await c_echo(assoc) == 0

    async def stores(count: int) -> None:
        async with await associate("127.0.0.1", server.port, local, "PACSLINK",
                                   store_contexts) as assoc:
            ctx = assoc.context_for(CT_IMAGE_STORAGE)
            for _ in range(count):
                ds = make_ct(rows=32, columns=32)
                rsp = await c_store(assoc, ctx, CT_IMAGE_STORAGE, ds.SOPInstanceUID,
                                    make_dataset_bytes(ds, EXPLICIT_VR_LITTLE_ENDIAN))
                assert rsp.Status == 0

    try:
        async with asyncio.timeout(1800 if FULL else 120):
            # warm up with the same concurrency: thread pool, SQLite connections, caches
            await asyncio.gather(*(echoes(20) for _ in range(4)))
            await asyncio.gather(*(stores(10) for _ in range(STORERS)))
            fds0, threads0, rss0 = resources()
            await asyncio.gather(*(echoes(ASSOCIATIONS // 4) for _ in range(4)))
            await asyncio.gather(*(stores(STORES) for _ in range(STORERS)))
            await asyncio.sleep(0.2)  # let closed transports finish
            fds1, threads1, rss1 = resources()
    finally:
        await server.close()
        app.close()
    assert len(server.active) == 0
    assert sum(s.instance_count for s in app.list_studies()) == STORERS * (10 + STORES)
    print(f"\nsoak: {ASSOCIATIONS} associations, {STORERS}x{STORES} C-STOREs: "
          f"fds {fds0}->{fds1}, threads {threads0}->{threads1}, RSS {rss0 // 1024}->{rss1 // 1024} MB")
    assert fds1 - fds0 <= 5, (fds0, fds1)
    assert threads1 - threads0 <= 4, (threads0, threads1)
    assert rss1 - rss0 <= 64 * 1024, (rss0, rss1)  # kB
