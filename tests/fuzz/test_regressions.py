"""Replays the fuzz corpus: every input in ``regressions/<harness>/`` through its harness.

``seed-*`` files are valid inputs (they must keep working); ``crash-*`` files are inputs
that once broke pacslink, each kept with the fix that made it pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.harnesses import HARNESSES, REGRESSIONS

CORPUS = sorted(REGRESSIONS.glob("*/*.bin"))
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_every_harness_has_a_corpus() -> None:
    assert {p.parent.name for p in CORPUS} == set(HARNESSES)


@pytest.mark.parametrize("path", CORPUS, ids=[f"{p.parent.name}/{p.name}" for p in CORPUS])
def test_replay(path: Path) -> None:
    HARNESSES[path.parent.name](path.read_bytes())


# --- what the crashes meant on the wire ------------------------------------------------


async def test_a_non_ascii_transfer_syntax_gets_an_answer_not_an_abort() -> None:
    """crash-943f68b8ada3ec44: a rejected context's transfer syntax (and a role
    selection UID) holding non-ASCII bytes was echoed into the A-ASSOCIATE-AC, whose
    encoding failed: the peer got an A-ABORT instead of an answer."""
    import asyncio

    from pacslink.dicomnet import pdu as P
    from pacslink.dicomnet.server import DicomServer
    from tests.dicomnet.conftest import VERIFICATION, MemorySCP, local_ae

    provider = MemorySCP(local_ae("FUZZ", acse_timeout=2, network_timeout=5))
    server = DicomServer(provider)
    await server.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        rq = P.AssociateRQ("FUZZ", "PEER", (
            P.PresentationContextRQ(1, VERIFICATION, ("1.2.840.10008.1.2",)),
            P.PresentationContextRQ(3, "1.2.3.4", ("1.2.840.10008.1.2",))),
            P.UserInformation(16384, "2.25.1", "", (
                P.SCPSCURoleSelection("1.2.3.4", True, True),))).encode()
        # the second context's transfer syntax and the role selection UID become garbage
        body = bytearray(rq)
        at = body.rfind(b"1.2.840.10008.1.2")
        body[at + 4:at + 8] = b"\xff\xfe\xfd\xfc"
        at = body.rfind(b"1.2.3.4")
        body[at:at + 3] = b"\xff\xff\xff"
        writer.write(bytes(body))
        header = await asyncio.wait_for(reader.readexactly(6), 5)
        pdu_type, length = P.decode_pdu_header(header)
        ac = P.decode_pdu(pdu_type, await reader.readexactly(length))
        writer.close()
    finally:
        await server.close()
    assert isinstance(ac, P.AssociateAC)
    results = {pc.context_id: (pc.result, pc.transfer_syntax) for pc in ac.presentation_contexts}
    assert results == {1: (P.ACCEPTANCE, "1.2.840.10008.1.2"), 3: (P.ABSTRACT_SYNTAX_NOT_SUPPORTED, "")}
    assert ac.user_information.items_of(P.SCPSCURoleSelection) == []
