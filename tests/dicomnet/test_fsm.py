"""The association state machine's transitions (PS3.8 Table 9-10)."""

from __future__ import annotations

import pytest

from pacslink.dicomnet.errors import PDUError
from pacslink.dicomnet.fsm import TRANSITIONS, StateMachine

# (state, event, action, next) rows copied from PS3.8 Table 9-10 for what pacslink drives.
TABLE = [
    ("Sta1", "Evt1", "AE-1", "Sta4"), ("Sta1", "Evt5", "AE-5", "Sta2"),
    ("Sta2", "Evt6", "AE-6", "Sta3"), ("Sta2", "Evt16", "AA-2", "Sta1"),
    ("Sta2", "Evt18", "AA-2", "Sta1"), ("Sta2", "Evt19", "AA-1", "Sta13"),
    ("Sta3", "Evt7", "AE-7", "Sta6"), ("Sta3", "Evt8", "AE-8", "Sta13"),
    ("Sta4", "Evt2", "AE-2", "Sta5"),
    ("Sta5", "Evt3", "AE-3", "Sta6"), ("Sta5", "Evt4", "AE-4", "Sta1"),
    ("Sta6", "Evt9", "DT-1", "Sta6"), ("Sta6", "Evt10", "DT-2", "Sta6"),
    ("Sta6", "Evt11", "AR-1", "Sta7"), ("Sta6", "Evt12", "AR-2", "Sta8"),
    ("Sta6", "Evt15", "AA-1", "Sta13"), ("Sta6", "Evt16", "AA-3", "Sta1"),
    ("Sta6", "Evt17", "AA-4", "Sta1"),
    ("Sta7", "Evt10", "AR-6", "Sta7"), ("Sta7", "Evt13", "AR-3", "Sta1"),
    ("Sta8", "Evt9", "AR-7", "Sta8"), ("Sta8", "Evt14", "AR-4", "Sta13"),
    ("Sta9", "Evt14", "AR-9", "Sta11"), ("Sta10", "Evt13", "AR-10", "Sta12"),
    ("Sta11", "Evt13", "AR-3", "Sta1"), ("Sta12", "Evt14", "AR-4", "Sta13"),
    ("Sta13", "Evt6", "AA-7", "Sta13"), ("Sta13", "Evt17", "AR-5", "Sta1"),
    ("Sta13", "Evt10", "AA-6", "Sta13"),
]


@pytest.mark.parametrize(("state", "event", "action", "next_state"), TABLE)
def test_transition(state: str, event: str, action: str, next_state: str) -> None:
    fsm = StateMachine(is_requestor=True, state=state)
    assert fsm.fire(event) == action
    assert fsm.state == next_state


def test_release_collision_branches_on_role() -> None:
    requestor = StateMachine(is_requestor=True, state="Sta7")
    assert requestor.fire("Evt12") == "AR-8"
    assert requestor.state == "Sta9"
    acceptor = StateMachine(is_requestor=False, state="Sta7")
    acceptor.fire("Evt12")
    assert acceptor.state == "Sta10"
    # requestor side of a collision: answer, then wait for the peer's A-RELEASE-RP
    assert [requestor.fire(e) for e in ("Evt14", "Evt13")] == ["AR-9", "AR-3"]
    assert requestor.state == "Sta1"


@pytest.mark.parametrize(
    ("state", "event"),
    [("Sta6", "Evt3"), ("Sta6", "Evt6"), ("Sta5", "Evt10"), ("Sta2", "Evt9"), ("Sta3", "Evt10")],
)
def test_unexpected_events_are_refused(state: str, event: str) -> None:
    fsm = StateMachine(is_requestor=False, state=state)
    with pytest.raises(PDUError, match=state):
        fsm.fire(event)


def test_table_only_names_known_states_and_events() -> None:
    states = {f"Sta{i}" for i in range(1, 14)} | {"Sta9/10"}
    for (state, event), (action, nxt) in TRANSITIONS.items():
        assert state in states and nxt in states
        assert event.startswith("Evt") and 1 <= int(event[3:]) <= 19
        assert action[:2] in {"AE", "AA", "AR", "DT"}
