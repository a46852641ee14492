"""Receive throughput: DCMTK ``storescu`` into ``pacslink listen`` vs ``storescp --bit-preserving``.

pacslink answers each C-STORE only after fsync of the file and its directory and the
index commit; DCMTK's storescp does not fsync. Runs alternate, medians are reported and
the ratio is computed pair by pair.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.common import (
    fresh,
    free_port,
    make_ct_series,
    median,
    pacslink_listener,
    stop,
    storescp,
    timed,
)


def run(count: int = 500, repetitions: int = 3) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="pacslink-bench-") as tmp:
        root = Path(tmp)
        files = make_ct_series(root / "data", count)
        send = ["storescu", "-aec", "PACSLINK", "127.0.0.1"]
        ours, theirs, ratios = [], [], []
        for _ in range(repetitions):
            port = free_port()
            proc = pacslink_listener(fresh(root / "home"), port)
            try:
                t_ours = timed([*send, str(port), *map(str, files)])
            finally:
                stop(proc)
            port = free_port()
            proc = storescp(fresh(root / "dcmtk"), port, "--bit-preserving")
            try:
                t_theirs = timed([*send, str(port), *map(str, files)])
            finally:
                stop(proc)
            ours.append(count / t_ours)
            theirs.append(count / t_theirs)
            ratios.append(t_theirs / t_ours)
    return {"pacslink_objects_per_s": median(ours), "dcmtk_objects_per_s": median(theirs),
            "ratio": median(ratios), "count": count, "repetitions": repetitions}


def main() -> None:
    result = run()
    print("| scenario | pacslink | DCMTK storescp --bit-preserving | ratio |")
    print("|---|---|---|---|")
    print(f"| storescu {result['count']} x 512x512 16-bit CT | "
          f"{result['pacslink_objects_per_s']:.1f} obj/s | {result['dcmtk_objects_per_s']:.1f} obj/s | "
          f"{result['ratio']:.2f}x |")


if __name__ == "__main__":
    main()
