"""CPU-time regression guard of the Storage SCP (``make bench-check``); not a timing test.

A fixed workload is sent over loopback into ``pacslink listen --sync never``: 1,000
small objects (16x16 CT, ~1.3 KB) and 200 512x512 16-bit CT images (~513 KB), each kind
to a fresh listener, with DCMTK ``storescu`` (or ``pacslink send`` when DCMTK is
missing). What is measured is the listener's CPU time per received object: on Linux
read from ``/proc/<pid>/stat`` just before and after the sending, so start-up (imports,
~1 s of CPU) is not counted; elsewhere the resource usage of the listener child
(``os.wait4``) minus that of a listener that starts and stops without receiving
anything. CPU time is far less sensitive than wall time to other work on the machine;
of it, *user* time is what is checked: system time (file creation, the page cache,
loopback) varies twofold from run to run with the state of the file system and is
only printed. The median of five rounds is compared with ``check_baseline.json`` and
the check fails when a kind costs more than ``margin`` times its baseline. Refresh the
baseline with ``--update`` after an intended change, on the machine it describes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = Path(__file__).with_name("check_baseline.json")
KINDS = {"small": (1000, 16), "ct": (200, 512)}  # count, rows = columns
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
ROUNDS = 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pacslink listen exited early with code {proc.returncode}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"pacslink listen is not listening on port {port} after {timeout} s")


def make_objects(folder: Path, count: int, size: int) -> list[Path]:
    """``count`` CT images of ``size`` x ``size`` 16-bit pixels, one study and series."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True)
    study, series = generate_uid(), generate_uid()
    pixels = np.random.default_rng(7).integers(0, 4096, (size, size), dtype=np.uint16).tobytes()
    paths = []
    for i in range(count):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, generate_uid()
        ds.PatientID, ds.PatientName = "CHECK001", "Check^Cpu"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality, ds.InstanceNumber = "CT", i + 1
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = pixels
        path = folder / f"{i:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _proc_cpu(pid: int) -> tuple[float, float] | None:
    """User and system CPU seconds of a running process from ``/proc`` (Linux), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) / _TICK, int(fields[12]) / _TICK  # utime, stime


def listener_cpu(home: Path, files: list[Path]) -> tuple[float, float, bool]:
    """User and system CPU seconds of ``pacslink listen --sync never`` receiving ``files``.

    Returns
    -------
    tuple
        User seconds, system seconds, and whether they cover the sending only
        (``/proc``) rather than the listener's whole life.
    """
    shutil.rmtree(home, ignore_errors=True)
    port = _free_port()
    env = {**os.environ, "PACSLINK_MIN_FREE_MB": "1", "TCP_NODELAY": "1",
           "PACSLINK_ACCEPT_UNKNOWN_CALLERS": "true"}  # storescu sends as STORESCU
    proc = subprocess.Popen(
        [sys.executable, "-m", "pacslink", "--home", str(home), "listen", "--port", str(port),
         "--sync", "never"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    window: tuple[float, float] | None = None
    try:
        _wait_for_port(port, proc)
        time.sleep(0.2)  # let start-up finish
        before = _proc_cpu(proc.pid)
        if files:
            if shutil.which("storescu"):
                cmd = ["storescu", "-aec", "PACSLINK", "127.0.0.1", str(port)]
            else:
                cmd = [sys.executable, "-m", "pacslink", "--home", str(home.with_suffix(".scu")),
                       "send", f"PACSLINK@127.0.0.1:{port}"]
            subprocess.run([*cmd, *map(str, files)], check=True, env=env, timeout=600,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        after = _proc_cpu(proc.pid)
        if before is not None and after is not None:
            window = (after[0] - before[0], after[1] - before[1])
    finally:
        proc.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"pacslink listen ended with code {proc.returncode}")
    if window is not None:
        return window[0], window[1], True
    return usage.ru_utime, usage.ru_stime, False


def measure(root: Path) -> dict[str, dict[str, float]]:
    """Median user and system CPU milliseconds per received object, by kind."""
    files = {kind: make_objects(root / kind, count, size) for kind, (count, size) in KINDS.items()}
    samples: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}
    for _ in range(ROUNDS):
        idle: tuple[float, float, bool] | None = None
        for kind, paths in files.items():
            user, system, windowed = listener_cpu(root / "home", paths)
            if not windowed:
                if idle is None:
                    idle = listener_cpu(root / "home", [])
                user, system = max(user - idle[0], 0.0), max(system - idle[1], 0.0)
            samples[kind].append((user * 1000 / len(paths), system * 1000 / len(paths)))
    return {
        kind: {"user": round(statistics.median(u for u, _ in values), 3),
               "system": round(statistics.median(s for _, s in values), 3)}
        for kind, values in samples.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true",
                        help=f"write the measured figures to {BASELINE.name}")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pacslink-bench-check-") as tmp:
        measured = measure(Path(tmp))
    if args.update or not BASELINE.exists():
        BASELINE.write_text(json.dumps(
            {"user_cpu_ms_per_object": {k: v["user"] for k, v in measured.items()},
             "system_cpu_ms_per_object": {k: v["system"] for k, v in measured.items()},
             "margin": 1.5,
             "workload": {k: {"count": c, "rows": r} for k, (c, r) in KINDS.items()}},
            indent=2) + "\n")
        print(f"baseline written to {BASELINE}: {measured}")
        return 0
    baseline = json.loads(BASELINE.read_text())
    margin = float(baseline["margin"])
    failed = False
    print(f"listener CPU per received object (ms), median of {ROUNDS}; fails when user "
          f"time is above {margin}x the baseline")
    for kind, value in measured.items():
        reference = float(baseline["user_cpu_ms_per_object"][kind])
        system = float(baseline["system_cpu_ms_per_object"][kind])
        verdict = "ok" if value["user"] <= margin * reference else "REGRESSION"
        failed |= verdict != "ok"
        print(f"  {kind:6s} user {value['user']:7.3f} ms (baseline {reference:.3f}, "
              f"{value['user'] / reference:.2f}x) {verdict}; system {value['system']:.3f} ms "
              f"(baseline {system:.3f})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
