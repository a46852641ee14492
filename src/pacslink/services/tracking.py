"""Which running retrieve an arriving instance belongs to (PS3.7 9.1.1.1.8, PS3.4 C.4.2).

Every C-STORE sub-operation of a C-MOVE carries the Move Originator AE Title and
Message ID of the C-MOVE that caused it. pacslink gives each C-MOVE a Message ID unique
in the process, so parallel retrieves into one Storage SCP keep their counts apart. A
peer that leaves those attributes out is matched by the SOP Instance UIDs each retrieve
expects; what nobody asked for is *unsolicited* (a modality pushing to us, or a PACS
sending more than requested): still stored, but reported.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field

from pacslink.services.scp import StoredEvent

#: How many unsolicited arrivals :attr:`RetrieveRegistry.unsolicited` keeps.
UNSOLICITED_KEPT = 1000


@dataclass
class Tracker:
    """Arrivals of one retrieve."""

    ae_title: str
    expected: set[str]
    message_id: int
    host: str = ""
    arrived: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    extra: set[str] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, event: StoredEvent) -> None:
        uid = event.sop_instance_uid
        if event.status == 0:
            self.arrived.add(uid)
            self.failed.pop(uid, None)
            if self.expected and uid not in self.expected:
                self.extra.add(uid)
        else:
            self.failed[uid] = event.detail or f"status 0x{event.status:04X}"
        self.changed.set()


class RetrieveRegistry:
    """The retrieves running in this process; the Storage SCP's observer feeds it.

    Parameters
    ----------
    our_ae_title : str
        The Move Originator AE Title our C-MOVEs carry.
    """

    def __init__(self, our_ae_title: str) -> None:
        self.our_ae_title = our_ae_title
        self.active: list[Tracker] = []
        #: The latest unsolicited arrivals (bounded: a listener runs for months).
        self.unsolicited: deque[StoredEvent] = deque(maxlen=UNSOLICITED_KEPT)
        self._ids = itertools.count(1)

    def begin(self, ae_title: str, expected: set[str], host: str = "") -> Tracker:
        """Register a retrieve; its ``message_id`` is the C-MOVE Message ID to use.

        ``ae_title`` and ``host`` are the source AE's: while the retrieve runs, that AE
        may open C-STORE sub-operation associations to us (see :meth:`senders`).
        """
        message_id = next(self._ids) % 0xFFFF + 1
        tracker = Tracker(ae_title, set(expected), message_id, host)
        self.active.append(tracker)
        return tracker

    def senders(self) -> list[tuple[str, str]]:
        """``(ae_title, host)`` of the source AE of each running retrieve."""
        return [(t.ae_title, t.host) for t in self.active]

    def end(self, tracker: Tracker) -> None:
        if tracker in self.active:
            self.active.remove(tracker)

    def on_stored(self, event: StoredEvent) -> None:
        """Observer for :class:`~pacslink.services.scp.StorageSCP`."""
        tracker = self._owner(event)
        if tracker is None:
            self.unsolicited.append(event)
        else:
            tracker.record(event)

    def _owner(self, event: StoredEvent) -> Tracker | None:
        if event.move_originator_message_id is not None and (
            event.move_originator_ae or "").strip() in ("", self.our_ae_title):
            for tracker in self.active:
                if tracker.message_id == event.move_originator_message_id:
                    return tracker
        candidates = [t for t in self.active if event.sop_instance_uid in t.expected]
        waiting = [t for t in candidates if event.sop_instance_uid not in t.arrived]
        pool = waiting or candidates
        return pool[0] if pool else None
