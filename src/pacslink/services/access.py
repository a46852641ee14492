"""Who may associate with pacslink's acceptors: the calling AE title policy.

PS3.8 7.1.1.3-4 leaves it to the acceptor to recognise the Calling and Called AE
Titles; a request it does not accept gets an A-ASSOCIATE-RJ (PS3.8 9.3.4, Table 9-21).
The engine already rejects a wrong Called AE Title (reason 7). :class:`CallerPolicy`
adds the calling side, from pacslink's settings and remote-AE registry:

* a calling AE title is *known* when it is a configured remote AE, or the source of a
  retrieve running in this process (the PACS performing our C-MOVE opens the C-STORE
  sub-operation association with its own AE title, PS3.4 C.4.2.2);
* an unknown caller may associate for Verification only (C-ECHO keeps working for
  diagnosis); anything else is rejected permanent, service-user, reason 3
  "calling-AE-title-not-recognized", unless ``accept_unknown_callers`` is set;
* with ``check_caller_host`` a known title must come from an address its configured host
  resolves to (loopback matches loopback); elsewhere it gets the same reason 3.

Each rejection carries one sentence for the log saying what to change.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import shlex
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pacslink.conformance import VERIFICATION_SOP_CLASS
from pacslink.dicomnet import pdu as P
from pacslink.dicomnet.server import Rejection, printable
from pacslink.errors import PacslinkError
from pacslink.models import RemoteAE

log = logging.getLogger(__name__)

#: Characters an AE title may hold that a registry entry name may not (aetitle._AE_NAME).
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9._-]")

#: PS3.8 Table 9-21: result permanent, source DICOM UL service-user, reason 3.
CALLING_AE_NOT_RECOGNIZED = P.AssociateRJ(P.RJ_PERMANENT, P.RJ_SOURCE_USER, 3)

#: Seconds allowed to resolve the configured hosts of one calling AE title.
RESOLVE_TIMEOUT = 5.0

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Caller:
    """An AE allowed to call us: its AE title, the host it should come from, and the
    name of its registry entry (empty for the source of a running retrieve)."""

    ae_title: str
    host: str
    name: str = ""


def verification_only(rq: P.AssociateRQ) -> bool:
    """Whether every presentation context proposed is Verification (PS3.4 Annex A)."""
    contexts = rq.presentation_contexts
    return bool(contexts) and all(c.abstract_syntax == VERIFICATION_SOP_CLASS for c in contexts)


class CachedRegistry:
    """Calls ``read`` again only when ``path`` changed (size, mtime, inode).

    The registry file is read afresh on purpose (``pacslink ae add`` applies to a running
    listener); a ``stat`` per association keeps that without parsing TOML each time.

    Parameters
    ----------
    path : Path
        The file ``read`` parses.
    read : callable
        Returns the configured remote AEs (e.g. ``AERegistry.list``).
    """

    def __init__(self, path: Path, read: Callable[[], Sequence[RemoteAE]]) -> None:
        self.path = path
        self.read = read
        self._key: object = None
        self._aes: tuple[RemoteAE, ...] = ()

    def __call__(self) -> Sequence[RemoteAE]:
        try:
            st = os.stat(self.path)
            key: object = (st.st_size, st.st_mtime_ns, st.st_ino)
        except FileNotFoundError:
            key = "missing"
        if key != self._key:
            self._aes = tuple(self.read())
            self._key = key
        return self._aes


class CallerPolicy:
    """Decides whether a calling AE may associate (see the module docstring).

    Parameters
    ----------
    known : callable
        The configured remote AEs (blocking; run in a thread). A
        :class:`~pacslink.errors.PacslinkError` (an invalid registry) counts as none
        configured, and is named in the rejection.
    expected : callable, optional
        ``(ae_title, host)`` of the AEs a running retrieve expects C-STOREs from.
    accept_unknown : bool
        Accept any association from an unknown calling AE title.
    check_host : bool
        Require a known calling AE title to come from its configured host.
    resolve : callable, optional
        Async ``host -> addresses``; default :func:`resolve_host` (for tests).
    home : Path, optional
        The pacslink home whose registry ``known`` reads; the commands suggested in
        rejections then carry ``--home`` so that pasting them edits that registry.
    """

    def __init__(
        self,
        known: Callable[[], Sequence[RemoteAE]],
        *,
        expected: Callable[[], Iterable[tuple[str, str]]] = lambda: (),
        accept_unknown: bool = False,
        check_host: bool = False,
        resolve: Callable[[str], Awaitable[set[_Address]]] | None = None,
        home: Path | None = None,
    ) -> None:
        self.known = known
        self.expected = expected
        self.accept_unknown = accept_unknown
        self.check_host = check_host
        self.resolve = resolve or resolve_host
        #: ``--home DIR `` for the commands the rejections suggest (they must edit the
        #: registry this listener reads).
        self.home_option = f"--home {shlex.quote(os.fspath(home))} " if home else ""

    async def callers(self, ae_title: str) -> tuple[list[Caller], str]:
        """The entries allowing ``ae_title`` to call, and a registry problem if any."""
        problem = ""
        try:
            configured = await asyncio.to_thread(self.known)
        except PacslinkError as exc:
            configured, problem = (), f"the remote AEs cannot be read ({exc})"
            log.error("cannot check calling AE titles: %s", exc)
        found = [Caller(ae.ae_title, ae.host, ae.name) for ae in configured
                 if ae.ae_title == ae_title]
        found += [Caller(title, host) for title, host in self.expected() if title == ae_title]
        return found, problem

    def _add_command(self, shown: str, address: str) -> str:
        """The ``pacslink ae add`` that registers the caller ``shown`` at ``address``."""
        name = _NOT_IN_NAME.sub("_", shown).strip("._-")[:64] or "NAME"
        return (f"`pacslink {self.home_option}ae add {shlex.quote(name)} --aet "
                f"{shlex.quote(shown)} --host {address} --port 104` (--port: its own DICOM "
                "port; 104 if it only sends)")

    async def check(self, rq: P.AssociateRQ, peer: tuple[str, int]) -> Rejection | None:
        """``None`` to accept, else the rejection (reason 3) with what to change.

        Parameters
        ----------
        rq : AssociateRQ
            The request (its Calling AE Title and proposed contexts are used).
        peer : tuple
            The peer's ``(address, port)`` as the socket reports it.
        """
        title = rq.calling_ae_title.strip()
        address = peer[0]
        shown = printable(title)
        callers, problem = await self.callers(title)
        if not callers:
            if self.accept_unknown:
                log.info("accepting unknown calling AE %s from %s (accept_unknown_callers)",
                         shown, address)
                return None
            if verification_only(rq):
                log.info("accepting unknown calling AE %s from %s for Verification only",
                         shown, address)
                return None
            if problem:
                return CALLING_AE_NOT_RECOGNIZED, (
                    f"{problem}; every caller counts as unknown until the file is fixed")
            why = (f"{shown} is not a configured remote AE; add it with "
                   f"{self._add_command(shown, address)}, or set "
                   "accept_unknown_callers = true (in [settings] of pacslink.toml, or "
                   "PACSLINK_ACCEPT_UNKNOWN_CALLERS=true)")
            return CALLING_AE_NOT_RECOGNIZED, why
        if not self.check_host or verification_only(rq):
            return None
        peer_ip = _address(address)
        hosts = sorted({c.host for c in callers})
        resolved = await asyncio.gather(*(self.resolve(host) for host in hosts))
        if peer_ip is not None and any(_matches(peer_ip, allowed) for allowed in resolved):
            return None
        unresolved = [host for host, allowed in zip(hosts, resolved) if not allowed]
        names = [c.name for c in callers if c.name]
        fix = (f"`pacslink {self.home_option}ae edit {names[0]} --host {address}`" if names
               else self._add_command(shown, address))
        why = (f"{shown} is allowed from {', '.join(hosts)} only (check_caller_host = true)"
               + (f"; {', '.join(unresolved)} does not resolve" if unresolved else "")
               + f"; correct it with {fix} or set check_caller_host = false (in [settings] "
               "of pacslink.toml)")
        return CALLING_AE_NOT_RECOGNIZED, why


async def resolve_host(host: str) -> set[_Address]:
    """The addresses of ``host`` (literal, or via ``getaddrinfo`` in a thread); empty if
    it does not resolve within :data:`RESOLVE_TIMEOUT`."""
    literal = _address(host)
    if literal is not None:
        return {literal}
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError) as exc:
        log.info("cannot resolve %r to check a calling AE: %s", host, exc)
        return set()
    found = {_address(str(info[4][0])) for info in infos}
    return {a for a in found if a is not None}


def _address(text: str) -> _Address | None:
    """An IP address (an IPv4-mapped IPv6 one as IPv4; any zone id dropped), or ``None``."""
    try:
        value = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(value, ipaddress.IPv6Address) and value.ipv4_mapped is not None:
        return value.ipv4_mapped
    return value


def _matches(peer: _Address, allowed: set[_Address]) -> bool:
    return peer in allowed or (peer.is_loopback and any(a.is_loopback for a in allowed))


__all__ = [
    "CALLING_AE_NOT_RECOGNIZED",
    "CachedRegistry",
    "Caller",
    "CallerPolicy",
    "resolve_host",
    "verification_only",
]
