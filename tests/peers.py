"""Real DICOM peers for interoperability tests: DCMTK and Orthanc processes.

Each peer runs in a temp dir on a free 127.0.0.1 port, with a timeout, and is stopped by
PID (SIGTERM, then SIGKILL) when the test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

from pacslink.aeregistry import AERegistry
from pacslink.models import RemoteAE

#: Debian's DCMTK stalls on delayed ACKs without this (see README).
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}
#: The environment without ``PACSLINK_*`` variables: a pacslink process started with it
#: takes its settings from its flags and home only.
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("PACSLINK_")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def allow_callers(registry: AERegistry, *ae_titles: str, host: str = "127.0.0.1") -> None:
    """Configure each of ``ae_titles`` as a remote AE of a test home (at ``host``).

    pacslink's SCPs accept C-STORE and Q/R only from configured calling AE titles
    (:mod:`pacslink.services.access`), so a test sending with DCMTK (``STORESCU``,
    ``FINDSCU`` ...), pynetdicom or our own SCU registers its sender first. The port is
    never dialled for an inbound caller.
    """
    known = {ae.ae_title for ae in registry.list()}
    for title in ae_titles:
        if title not in known:
            registry.add(RemoteAE(title, title, host, 104, "test sender"))


def in_ci() -> bool:
    """Whether the tests run in CI (``CI`` set, as ``.ci/run`` does), where nothing may skip."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """A peer or package a test needs is missing: fail in CI, skip elsewhere."""
    if in_ci():
        pytest.fail(f"{reason}; .ci/run must provide it (CI is set, so this is not skipped)")
    pytest.skip(reason, allow_module_level=True)


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        unavailable(f"{tool} is not installed (apt-get install dcmtk orthanc dicom3tools)")
    return path


def require_module(name: str) -> ModuleType:
    """Import a test-only package (pynetdicom); like ``pytest.importorskip`` but fails in CI."""
    try:
        return importlib.import_module(name)
    except ImportError:
        unavailable(f"{name} is not installed (pip install -e '.[test]')")


def wait_for_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 15,
                  interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"peer exited early with code {proc.returncode}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(interval)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def dcmtk_server(args: Sequence[str], port: int, cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start a DCMTK server tool (``storescp ...``) and stop it afterwards."""
    require(args[0])
    log = open(cwd / f"{args[0]}.log", "wb")
    proc = subprocess.Popen(list(args), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                            env=DCMTK_ENV)
    try:
        wait_for_port(port, proc)
        yield proc
    finally:
        stop(proc)
        log.close()


async def run_tool(*args: str, timeout: float = 60) -> tuple[int, str]:
    """Run a DCMTK client tool without blocking the event loop; returns (rc, output)."""
    require(args[0])
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=DCMTK_ENV)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace")
