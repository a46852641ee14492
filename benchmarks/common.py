"""Shared pieces of the benchmarks: the run's context, processes on free ports, timing.

Every process runs in a directory under the run's temp dir, listens on a free 127.0.0.1
port and is stopped by its PID (then its process group, for servers that fork). DCMTK
tools run with ``TCP_NODELAY=1``: Debian's DCMTK otherwise waits on delayed ACKs
(about 40 ms per small PDU exchange), which would make every comparison meaningless.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.data import DataCache
from tests.peers import free_port, wait_for_port

#: Environment of every DCMTK tool (see the module docstring).
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}

#: ``python -m pacslink``, with the interpreter running the benchmarks.
PACSLINK = (sys.executable, "-m", "pacslink")


class BenchError(RuntimeError):
    """A step of a scenario failed; the message ends up in the scenario's row."""


@dataclass(frozen=True)
class Sizes:
    """How much work each scenario does: the full run, or ``--quick`` for smoke tests."""

    ct_count: int = 500            # 512 KB CT images (receive, send, parallel, retrieve)
    ct_size: int = 512             # rows = columns, 16 bits
    tiny_count: int = 2000         # ~2 KB objects
    mf_count: int = 4              # multi-frame objects of ...
    mf_frames: int = 200           # ... 200 frames of 512 x 512 x 16 bit = 100 MiB
    mf_size: int = 512
    senders: int = 4               # parallel storescu processes (ct_count split among them)
    echo_one: int = 5000           # C-ECHOs on one association
    echo_new: int = 100            # associations of one C-ECHO each
    find_matches: int = 5000       # C-FIND responses
    federated_aes: int = 5
    slow_seconds: float = 2.0      # the slow AE's delay before its match


QUICK = Sizes(ct_count=8, ct_size=64, tiny_count=20, mf_count=2, mf_frames=4, mf_size=256,
              senders=2, echo_one=50, echo_new=5, find_matches=50, federated_aes=5,
              slow_seconds=0.3)


@dataclass
class Context:
    """One run of the suite: where it writes, how much it does, what it has found out."""

    root: Path
    sizes: Sizes
    reps: int
    quick: bool
    data: DataCache = field(init=False)

    def __post_init__(self) -> None:
        self.data = DataCache(self.root / "data", self.sizes)

    def fresh(self, name: str) -> Path:
        """An empty directory ``name`` under the run's temp dir (emptied if it exists)."""
        path = self.root / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    @functools.cached_property
    def listen_help(self) -> str:
        result = subprocess.run([*PACSLINK, "listen", "--help"], capture_output=True, text=True,
                                env={**pacslink_env(), "COLUMNS": "200"}, timeout=60,
                                check=False)
        return result.stdout

    def peer_env(self, **settings: str | int | float) -> dict[str, str]:
        """Environment of a pacslink process that only serves the benchmark (a sample PACS):
        ``sync = never`` where available, so it indexes its files without an fsync each."""
        if self.has_sync_never:
            settings = {"sync": "never", **settings}
        return pacslink_env(**settings)

    @property
    def has_sync_never(self) -> bool:
        """Whether ``pacslink listen`` has the option ``--sync`` (``durable``/``never``)."""
        return re.search(r"^\W*--sync\b", self.listen_help, re.MULTILINE) is not None


def pacslink_env(**settings: str | int | float) -> dict[str, str]:
    """The environment of a pacslink process: no inherited ``PACSLINK_*``, plus ``settings``.

    ``pacslink_env(max_results=10000)`` sets ``PACSLINK_MAX_RESULTS=10000``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACSLINK_")}
    # Benchmark receivers take storescu/movescu/pacslink senders with ad-hoc AE titles.
    env["PACSLINK_ACCEPT_UNKNOWN_CALLERS"] = "true"
    env.update({f"PACSLINK_{name.upper()}": str(value) for name, value in settings.items()})
    return env


def sync_disks() -> None:
    """Flush dirty pages left by the previous run so they are not written during the next."""
    os.sync()


# --- processes ----------------------------------------------------------------------------


def _tail(path: Path, chars: int = 600) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-chars:].strip()


@dataclass
class Server:
    """A server process on 127.0.0.1:``port``, logging to ``log``."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def peak_rss_mb(self) -> float | None:
        """The process's peak resident set size so far (``VmHWM``), in MB (10^6 bytes)."""
        return peak_rss_mb(self.proc.pid)

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL after 5 s, then SIGKILL any child left in its group."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise BenchError(f"{self.name} exited with code {self.proc.returncode}: "
                             f"{_tail(self.log)}")


def peak_rss_mb(pid: int) -> float | None:
    """``VmHWM`` of ``pid`` from ``/proc/<pid>/status`` in MB, or None if unreadable."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return None


@contextlib.contextmanager
def serving(name: str, args: Sequence[str], port: int, cwd: Path, *,
            env: Mapping[str, str], timeout: float = 60) -> Iterator[Server]:
    """Start a server in its own process group, wait for its port, stop it afterwards."""
    log = cwd / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(list(args), cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=dict(env), start_new_session=True)
    server = Server(name, proc, port, log)
    try:
        try:
            wait_for_port(port, proc, timeout=timeout)
        except (RuntimeError, TimeoutError) as exc:
            raise BenchError(f"{name} did not start ({exc}): {_tail(log)}") from None
        yield server
    finally:
        server.stop()


def run(args: Sequence[str], *, cwd: Path, env: Mapping[str, str], name: str,
        timeout: float = 300) -> tuple[float, str]:
    """Run a client to completion; returns (wall seconds, its standard output).

    Standard output goes to ``cwd/<name>.out``, standard error to ``cwd/<name>.log``.

    Raises
    ------
    BenchError
        The client exited with a non-zero code or ran past ``timeout``.
    """
    out_path, log = cwd / f"{name}.out", cwd / f"{name}.log"
    with open(out_path, "wb") as out, open(log, "wb") as err:
        start = time.perf_counter()
        try:
            proc = subprocess.run(list(args), cwd=cwd, stdout=out, stderr=err,
                                  stdin=subprocess.DEVNULL, env=dict(env), timeout=timeout,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise BenchError(f"{name} ran longer than {timeout:.0f} s: {_tail(log)}") from None
        elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise BenchError(f"{name} exited with code {proc.returncode}: "
                         f"{_tail(log) or _tail(out_path)}")
    return elapsed, out_path.read_text(errors="replace")


def run_parallel(commands: Sequence[Sequence[str]], *, cwd: Path, env: Mapping[str, str],
                 name: str, timeout: float = 300) -> float:
    """Start all ``commands`` at once; seconds from the first start to the last exit."""
    logs = [open(cwd / f"{name}-{i}.log", "wb") for i in range(len(commands))]
    try:
        start = time.perf_counter()
        procs = [subprocess.Popen(list(c), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=dict(env))
                 for c, log in zip(commands, logs)]
        deadline = start + timeout
        try:
            for proc in procs:
                proc.wait(max(0.1, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            for proc in procs:
                proc.kill()
                proc.wait()
            raise BenchError(f"{name} ran longer than {timeout:.0f} s") from None
        elapsed = time.perf_counter() - start
    finally:
        for log in logs:
            log.close()
    for i, proc in enumerate(procs):
        if proc.returncode != 0:
            raise BenchError(f"{name} #{i} exited with code {proc.returncode}: "
                             f"{_tail(cwd / f'{name}-{i}.log')}")
    return elapsed


def count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def expect(what: str, got: int, wanted: int) -> None:
    """Fail the scenario when a run did not do all its work (a fast failure is not a result)."""
    if got != wanted:
        raise BenchError(f"{what}: {got} instead of {wanted}")


def alternate(rep: int, sides: Sequence[str]) -> list[str]:
    """The order of the sides in repetition ``rep``: as given, then reversed, and so on,
    so that neither side always runs on a machine warmed (or tired) by the other."""
    return list(sides) if rep % 2 == 0 else list(reversed(sides))


__all__ = ["DCMTK_ENV", "PACSLINK", "QUICK", "BenchError", "Context", "Server", "Sizes",
           "alternate", "count_files", "expect", "free_port", "pacslink_env", "peak_rss_mb",
           "run", "run_parallel", "serving", "sync_disks"]
