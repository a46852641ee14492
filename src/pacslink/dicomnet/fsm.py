"""The DICOM Upper Layer state machine (PS3.8 9.2, Table 9-10).

Only what pacslink drives is modelled; every (state, event) pair absent from
:data:`TRANSITIONS` is invalid and answered with A-ABORT (action AA-8 or AA-1), which is
what the standard's table prescribes for unexpected PDUs.

States (PS3.8 Table 9-1)::

    Sta1  Idle
    Sta2  Transport connection open (awaiting A-ASSOCIATE-RQ PDU)
    Sta3  Awaiting local A-ASSOCIATE response primitive
    Sta4  Awaiting transport connection opening to complete
    Sta5  Awaiting A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU
    Sta6  Association established and ready for data transfer
    Sta7  Awaiting A-RELEASE-RP PDU
    Sta8  Awaiting local A-RELEASE response primitive
    Sta9  Release collision requestor side; awaiting A-RELEASE response primitive
    Sta10 Release collision acceptor side; awaiting A-RELEASE-RP PDU
    Sta11 Release collision requestor side; awaiting A-RELEASE-RP PDU
    Sta12 Release collision acceptor side; awaiting A-RELEASE response primitive
    Sta13 Awaiting transport connection close indication

Events are named as in PS3.8 Table 9-2 (``Evt1`` ... ``Evt19``).
"""

from __future__ import annotations

from pacslink.dicomnet.errors import PDUError

EVENTS = {
    "Evt1": "A-ASSOCIATE request (local user)",
    "Evt2": "Transport connect confirmation",
    "Evt3": "A-ASSOCIATE-AC PDU received",
    "Evt4": "A-ASSOCIATE-RJ PDU received",
    "Evt5": "Transport connection indication",
    "Evt6": "A-ASSOCIATE-RQ PDU received",
    "Evt7": "A-ASSOCIATE response primitive (accept)",
    "Evt8": "A-ASSOCIATE response primitive (reject)",
    "Evt9": "P-DATA request primitive",
    "Evt10": "P-DATA-TF PDU received",
    "Evt11": "A-RELEASE request primitive",
    "Evt12": "A-RELEASE-RQ PDU received",
    "Evt13": "A-RELEASE-RP PDU received",
    "Evt14": "A-RELEASE response primitive",
    "Evt15": "A-ABORT request primitive",
    "Evt16": "A-ABORT PDU received",
    "Evt17": "Transport connection closed indication",
    "Evt18": "ARTIM timer expired",
    "Evt19": "Unrecognized or invalid PDU received",
}

#: (state, event) -> (action, next state). ``"Sta9/10"`` in AR-8 depends on the role.
TRANSITIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("Sta1", "Evt1"): ("AE-1", "Sta4"),
    ("Sta1", "Evt5"): ("AE-5", "Sta2"),
    ("Sta2", "Evt3"): ("AA-1", "Sta13"),
    ("Sta2", "Evt4"): ("AA-1", "Sta13"),
    ("Sta2", "Evt6"): ("AE-6", "Sta3"),
    ("Sta2", "Evt10"): ("AA-1", "Sta13"),
    ("Sta2", "Evt12"): ("AA-1", "Sta13"),
    ("Sta2", "Evt13"): ("AA-1", "Sta13"),
    ("Sta2", "Evt16"): ("AA-2", "Sta1"),
    ("Sta2", "Evt17"): ("AA-5", "Sta1"),
    ("Sta2", "Evt18"): ("AA-2", "Sta1"),
    ("Sta2", "Evt19"): ("AA-1", "Sta13"),
    ("Sta3", "Evt7"): ("AE-7", "Sta6"),
    ("Sta3", "Evt8"): ("AE-8", "Sta13"),
    ("Sta3", "Evt15"): ("AA-1", "Sta13"),
    ("Sta3", "Evt16"): ("AA-3", "Sta1"),
    ("Sta3", "Evt17"): ("AA-4", "Sta1"),
    ("Sta4", "Evt2"): ("AE-2", "Sta5"),
    ("Sta4", "Evt15"): ("AA-2", "Sta1"),
    ("Sta4", "Evt17"): ("AA-4", "Sta1"),
    ("Sta5", "Evt3"): ("AE-3", "Sta6"),
    ("Sta5", "Evt4"): ("AE-4", "Sta1"),
    ("Sta5", "Evt15"): ("AA-1", "Sta13"),
    ("Sta5", "Evt16"): ("AA-3", "Sta1"),
    ("Sta5", "Evt17"): ("AA-4", "Sta1"),
    ("Sta6", "Evt9"): ("DT-1", "Sta6"),
    ("Sta6", "Evt10"): ("DT-2", "Sta6"),
    ("Sta6", "Evt11"): ("AR-1", "Sta7"),
    ("Sta6", "Evt12"): ("AR-2", "Sta8"),
    ("Sta6", "Evt15"): ("AA-1", "Sta13"),
    ("Sta6", "Evt16"): ("AA-3", "Sta1"),
    ("Sta6", "Evt17"): ("AA-4", "Sta1"),
    ("Sta7", "Evt10"): ("AR-6", "Sta7"),
    ("Sta7", "Evt12"): ("AR-8", "Sta9/10"),
    ("Sta7", "Evt13"): ("AR-3", "Sta1"),
    ("Sta7", "Evt15"): ("AA-1", "Sta13"),
    ("Sta7", "Evt16"): ("AA-3", "Sta1"),
    ("Sta7", "Evt17"): ("AA-4", "Sta1"),
    ("Sta8", "Evt9"): ("AR-7", "Sta8"),
    ("Sta8", "Evt14"): ("AR-4", "Sta13"),
    ("Sta8", "Evt15"): ("AA-1", "Sta13"),
    ("Sta8", "Evt16"): ("AA-3", "Sta1"),
    ("Sta8", "Evt17"): ("AA-4", "Sta1"),
    ("Sta9", "Evt14"): ("AR-9", "Sta11"),
    ("Sta9", "Evt15"): ("AA-1", "Sta13"),
    ("Sta9", "Evt16"): ("AA-3", "Sta1"),
    ("Sta9", "Evt17"): ("AA-4", "Sta1"),
    ("Sta10", "Evt13"): ("AR-10", "Sta12"),
    ("Sta10", "Evt15"): ("AA-1", "Sta13"),
    ("Sta10", "Evt16"): ("AA-3", "Sta1"),
    ("Sta10", "Evt17"): ("AA-4", "Sta1"),
    ("Sta11", "Evt13"): ("AR-3", "Sta1"),
    ("Sta11", "Evt15"): ("AA-1", "Sta13"),
    ("Sta11", "Evt16"): ("AA-3", "Sta1"),
    ("Sta11", "Evt17"): ("AA-4", "Sta1"),
    ("Sta12", "Evt14"): ("AR-4", "Sta13"),
    ("Sta12", "Evt15"): ("AA-1", "Sta13"),
    ("Sta12", "Evt16"): ("AA-3", "Sta1"),
    ("Sta12", "Evt17"): ("AA-4", "Sta1"),
    ("Sta13", "Evt3"): ("AA-6", "Sta13"),
    ("Sta13", "Evt4"): ("AA-6", "Sta13"),
    ("Sta13", "Evt6"): ("AA-7", "Sta13"),
    ("Sta13", "Evt10"): ("AA-6", "Sta13"),
    ("Sta13", "Evt12"): ("AA-6", "Sta13"),
    ("Sta13", "Evt13"): ("AA-6", "Sta13"),
    ("Sta13", "Evt16"): ("AA-2", "Sta1"),
    ("Sta13", "Evt17"): ("AR-5", "Sta1"),
    ("Sta13", "Evt18"): ("AA-2", "Sta1"),
    ("Sta13", "Evt19"): ("AA-7", "Sta13"),
}

#: Events raised by receiving a PDU, by PDU type (PS3.8 Table 9-2).
PDU_EVENTS = {1: "Evt6", 2: "Evt3", 3: "Evt4", 4: "Evt10", 5: "Evt12", 6: "Evt13", 7: "Evt16"}


class StateMachine:
    """Tracks one association's state; :meth:`fire` returns the action to perform.

    Parameters
    ----------
    is_requestor : bool
        Decides the release-collision branch of AR-8 (Sta9 for the requestor, Sta10 for
        the acceptor).
    """

    def __init__(self, *, is_requestor: bool, state: str = "Sta1") -> None:
        self.is_requestor = is_requestor
        self.state = state

    def fire(self, event: str) -> str:
        """Apply ``event``; return the action name or raise :class:`PDUError`.

        An unexpected PDU in a state with an association (Sta3-Sta12) maps to AA-8:
        the caller sends A-ABORT (provider, unexpected PDU) and closes.
        """
        entry = TRANSITIONS.get((self.state, event))
        if entry is None:
            old = self.state
            if event in PDU_EVENTS.values() or event == "Evt19":
                self.state = "Sta13"
                raise PDUError(f"unexpected {EVENTS[event]} in state {old}")
            raise PDUError(f"{EVENTS[event]} not allowed in state {old}")
        action, next_state = entry
        if next_state == "Sta9/10":
            next_state = "Sta9" if self.is_requestor else "Sta10"
        self.state = next_state
        return action
