"""Start-up reconciliation cost: ``python -m benchmarks.reconcile [INSTANCES]`` (default 10,000).

Fills a temporary store with small instances through the real ingest path (fsync turned
off while filling, so it takes seconds, not minutes), then times what every opening of
the store pays when nothing is wrong: ``PRAGMA integrity_check``, the comparison of the
files under ``objects/`` with the index, and the whole :func:`open_session`. Medians of
7 runs with a warm page cache (a cold cache adds one directory read per 256 folders and
the index pages).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from pacslink.store import Index, Store, paths
from pacslink.store.reconcile import check_integrity, open_session, reconcile
from tests.factory import make_ct
from tests.store.conftest import receive


def fill(root: Path, index: Index, count: int) -> None:
    with mock.patch.object(os, "fsync"), mock.patch.object(paths, "fsync_dir"):
        store = Store(root, index, min_free_bytes=0)
        for i in range(count):
            if i % 100 == 0:
                series = make_ct()
            receive(store, make_ct(study_instance_uid=series.StudyInstanceUID,
                                   series_instance_uid=series.SeriesInstanceUID))


def median_ms(run: Callable[[], object], repetitions: int = 7) -> float:
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(count: int = 10_000) -> None:
    with tempfile.TemporaryDirectory(prefix="pacslink-bench-") as tmp:
        root = Path(tmp) / "store"
        index = Index(f"sqlite:///{tmp}/index.sqlite")
        try:
            fill(root, index, count)
            rows = [
                ("PRAGMA integrity_check", median_ms(lambda: check_integrity(index))),
                ("files vs index", median_ms(lambda: reconcile(root.resolve(), index))),
                ("open_session (both + lock)", median_ms(lambda: open_session(root, index).close())),
            ]
        finally:
            index.close()
    print(f"| start-up check, {count} instances (SQLite) | median ms |")
    print("|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.0f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
