"""Our SCU facing a hostile Q/R SCP: every misbehaviour is capped, cancelled, timed out or
reported, and memory stays bounded (PS3.7 9.1.2-9.1.4, 9.3.2.3).

The SCPs are scripted on our own engine (:mod:`tests.services.hostile`): a flood of
100,000 pending C-FIND responses, a C-CANCEL ignored, no final response, a 10 MB match,
a response for another Message ID, pending responses after the final one, and C-MOVE /
C-GET counters that cannot be true. Each test asserts what the user gets (state and
message per AE, matches kept, retrieve verdict and notes, CLI output) and what the SCP
saw on the wire (C-CANCEL received, association aborted, responses it managed to send).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydicom import Dataset
from typer.testing import CliRunner

from pacslink.api import Pacslink, RetrieveProgress, RetrieveTarget
from pacslink.cli.main import app as cli
from pacslink.dicomnet import status as S
from pacslink.dicomnet.association import AEConfig, Limits
from pacslink.dicomnet.commands import C_FIND_RQ, C_GET_RQ, C_MOVE_RQ
from pacslink.identifiers import encode_identifier
from pacslink.models import Query, QueryLevel, RemoteAE, RetrieveMethod
from pacslink.services.query import federated_find, find_on_ae
from tests.peers import free_port
from tests.services.hostile import (
    TS,
    Exchange,
    HostileSCP,
    HostileServer,
    hostile_server,
    hostile_thread,
    study_match,
    study_of,
)

T = TypeVar("T")
MB = 2**20
FLOOD = 100_000
LOCAL = AEConfig("PACSLINK", "2.25.1", "PACSLINK_TEST",
                 Limits(connect_timeout=5, acse_timeout=5, dimse_timeout=10))
QUERY = Query(QueryLevel.STUDY, patient_id="FLOOD")
CUT = "showing the first {n} matches of more; narrow the query (date, modality, name) or raise max_results"


def remote(server: HostileServer, name: str = "HOSTILE") -> RemoteAE:
    return RemoteAE(name, server.provider.local.ae_title, "127.0.0.1", server.port)


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def measured(work: Awaitable[T]) -> tuple[T, int, int]:
    """``(result, tracemalloc peak growth, RSS growth)`` of awaiting ``work``, in bytes."""
    before_rss = rss()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        result = await work
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak - base, rss() - before_rss


# --- scripts ---------------------------------------------------------------------------


def flood(count: int = FLOOD, *, honour_cancel: bool = True, final: bool = True,
          padding: int = 0) -> Callable[[Exchange], Awaitable[None]]:
    """``count`` pending matches; stop at C-CANCEL (answering Cancel) unless told not to."""

    async def script(x: Exchange) -> None:
        for n in range(count):
            if honour_cancel and x.cancelled.is_set():
                await x.respond(S.CANCEL)
                return
            await x.respond(S.PENDING, study_match(x, n, padding))
        if final:
            await x.respond(S.SUCCESS)
        await x.hang()

    return script


# --- 100,000 pending responses ---------------------------------------------------------


async def test_a_flood_of_matches_is_capped_and_cancelled() -> None:
    scp = HostileSCP(find=flood())
    async with hostile_server(scp) as server:
        result, peak, grown = await measured(
            find_on_ae(LOCAL, remote(server), QUERY, max_results=1000, timeout=5))
    (x,) = scp.of(C_FIND_RQ)
    assert result.state == "truncated" and result.ok
    assert len(result.matches) == 1000
    assert [m.key for m in result.matches[:2]] == ["2.25.1", "2.25.2"]
    assert result.error == CUT.format(n=1000)
    assert result.status == S.CANCEL  # the SCP's final answer to our C-CANCEL
    assert x.cancelled.is_set()  # the C-CANCEL-RQ reached it, for this Message ID
    assert 1000 < x.sent < 1100  # it stopped soon after: nothing like 100,000 were sent
    assert peak < 50 * MB and grown < 50 * MB
    print(f"\nflood honouring C-CANCEL: tracemalloc peak {peak / MB:.1f} MB, RSS +{grown / MB:.1f} MB")


async def test_a_flood_that_ignores_cancel_is_aborted_and_memory_stays_flat() -> None:
    scp = HostileSCP(find=flood(honour_cancel=False, final=False))
    async with hostile_server(scp) as server:
        start = time.monotonic()
        result, peak, grown = await measured(
            find_on_ae(LOCAL, remote(server), QUERY, max_results=1000, timeout=2))
        elapsed = time.monotonic() - start
        (x,) = scp.of(C_FIND_RQ)
        await asyncio.sleep(0.2)
    assert result.state == "truncated" and len(result.matches) == 1000
    assert result.error == CUT.format(n=1000)
    assert x.cancelled.is_set() and x.peer_gone  # it got the C-CANCEL, then our A-ABORT
    assert x.sent < FLOOD  # the deadline after C-CANCEL cut it off
    assert "aborted" in scp.events
    assert elapsed < 30
    assert peak < 50 * MB and grown < 50 * MB
    print(f"\nflood ignoring C-CANCEL: {x.sent} responses sent, {elapsed:.1f} s, "
          f"tracemalloc peak {peak / MB:.1f} MB, RSS +{grown / MB:.1f} MB")


# --- never a final response ------------------------------------------------------------


async def never_final(x: Exchange) -> None:
    for n in range(2):
        await x.respond(S.PENDING, study_match(x, n))
    await x.hang()


async def test_no_final_response_times_out_that_ae_while_the_others_answer() -> None:
    silent, good = HostileSCP("SILENT", find=never_final), HostileSCP("GOOD", find=flood(3))
    async with hostile_server(silent) as stuck, hostile_server(good) as fine:
        start = time.monotonic()
        result = await federated_find(LOCAL, [remote(stuck, "STUCK"), remote(fine, "FINE")],
                                      QUERY, timeout=1)
        elapsed = time.monotonic() - start
        await asyncio.sleep(0.2)
    by = {r.ae.name: r for r in result.per_ae}
    assert (by["STUCK"].state, by["STUCK"].error) == ("timeout", "timed out after 1 s")
    assert len(by["STUCK"].matches) == 2  # what it did send is kept
    assert by["FINE"].state == "ok" and len(by["FINE"].matches) == 3
    assert len(result.rows) == 3  # the same study UIDs from both AEs, merged
    assert silent.of(C_FIND_RQ)[0].peer_gone  # we aborted, we did not just walk away
    assert elapsed < 10


# --- a 10 MB identifier ----------------------------------------------------------------


def huge_match(size: int = 10 * MB) -> Callable[[Exchange], Awaitable[None]]:
    """Two matches, one of ``size`` bytes, one more, then Success."""
    big = Dataset()
    big.QueryRetrieveLevel, big.PatientID, big.StudyInstanceUID = "STUDY", "FLOOD", "2.25.3"
    big.add_new(0x00090010, "LO", "HOSTILE")
    big.add_new(0x00091010, "OB", b"x" * size)
    # encoded up front, so that measuring our side does not count the SCP's copy
    encoded = {ts: encode_identifier(big, ts) for ts in TS}

    async def script(x: Exchange) -> None:
        for n in range(2):
            await x.respond(S.PENDING, study_match(x, n))
        await x.respond(S.PENDING, encoded[x.transfer_syntax])
        await x.respond(S.PENDING, study_match(x, 3))
        await x.respond(S.SUCCESS)
        await x.hang()

    return script


async def test_a_10_mb_match_aborts_the_query_without_being_read() -> None:
    scp = HostileSCP(find=huge_match())
    async with hostile_server(scp) as server:
        result, peak, grown = await measured(
            find_on_ae(LOCAL, remote(server), QUERY, max_results=1000, timeout=5))
        await asyncio.sleep(0.2)
    (x,) = scp.of(C_FIND_RQ)
    assert result.state == "failed" and not result.ok
    assert result.error == ("sent a match larger than 1024 KB, so the query was aborted after "
                            "2 match(es); raise max_identifier_kb if this AE really sends such matches")
    assert [m.key for m in result.matches] == ["2.25.1", "2.25.2"]
    # the SCP was cut off during, or right after, the big one: nothing after it went out
    assert x.peer_gone and x.sent <= 3 and "connection lost" in x.error
    assert peak < 8 * MB  # less than the match itself: it was never held whole
    assert grown < 50 * MB
    print(f"\n10 MB match: tracemalloc peak {peak / MB:.1f} MB, RSS +{grown / MB:.1f} MB")


async def test_raising_max_identifier_kb_accepts_the_big_match(tmp_path: Path) -> None:
    scp = HostileSCP(find=huge_match(3 * MB))
    async with hostile_server(scp) as server:
        app = Pacslink.from_home(tmp_path, flags={"max_identifier_kb": 4096, "port": free_port()},
                                 environ={})
        app.registry.add(remote(server, "BIG"))
        result = await app.find(QUERY)
    (big,) = result.per_ae
    assert big.state == "ok"
    assert [m.key for m in big.matches] == ["2.25.1", "2.25.2", "2.25.3", "2.25.4"]


# --- protocol violations ---------------------------------------------------------------


async def test_a_response_for_another_message_id_fails_that_ae() -> None:
    async def wrong_id(x: Exchange) -> None:
        await x.respond(S.PENDING, study_match(x, 0))
        await x.respond(S.PENDING, study_match(x, 1), message_id=999)
        await x.hang()

    scp = HostileSCP(find=wrong_id)
    async with hostile_server(scp) as server:
        result = await find_on_ae(LOCAL, remote(server), QUERY, timeout=5)
        await asyncio.sleep(0.2)
    assert result.state == "failed"
    assert result.error == "C-FIND-RSP for message 999, but the request was message 1"
    assert [m.key for m in result.matches] == ["2.25.1"]
    assert scp.of(C_FIND_RQ)[0].peer_gone


async def test_pending_responses_after_the_final_one_do_not_hold_the_release() -> None:
    async def chatty(x: Exchange) -> None:
        await x.respond(S.PENDING, study_match(x, 0))
        await x.respond(S.SUCCESS)
        while True:  # keeps talking and never answers A-RELEASE-RQ
            await x.respond(S.PENDING, study_match(x, 99))
            await asyncio.sleep(0.01)

    scp = HostileSCP(find=chatty)
    async with hostile_server(scp) as server:
        start = time.monotonic()
        result = await find_on_ae(LOCAL, remote(server), QUERY, timeout=1)
        elapsed = time.monotonic() - start
        await asyncio.sleep(0.2)
    assert result.state == "ok" and [m.key for m in result.matches] == ["2.25.1"]
    assert scp.of(C_FIND_RQ)[0].peer_gone  # aborted when the release did not complete in time
    assert elapsed < 10


# --- a slow consumer -------------------------------------------------------------------


async def test_a_slow_consumer_holds_the_flood_back(tmp_path: Path) -> None:
    scp = HostileSCP(find=flood(padding=4096))  # 100,000 matches of 4 KB: 400 MB in all
    async with hostile_server(scp) as server:
        app = Pacslink.from_home(tmp_path, flags={"max_results": FLOOD, "port": free_port()},
                                 environ={})
        app.registry.add(remote(server, "FLOOD"))
        stream = app.find_stream(QUERY)
        taken = 0
        tracemalloc.start()
        try:
            async for item in stream:
                taken += 1
                if taken == 10:
                    break
            await asyncio.sleep(1.5)  # the consumer is busy
            (x,) = scp.of(C_FIND_RQ)
            sent_while_stalled = x.sent
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            await stream.aclose()  # type: ignore[attr-defined]
        await asyncio.sleep(0.3)
    # Without back-pressure the SCP would be far into its 100,000 while we waited; it is
    # held to what the stream buffer (256) and the sockets' buffers take.
    assert sent_while_stalled < 10_000
    assert peak < 50 * MB
    assert x.peer_gone  # closing the stream ended the association
    print(f"\nslow consumer: {sent_while_stalled} of {FLOOD} sent while stalled, "
          f"tracemalloc peak {peak / MB:.1f} MB")


# --- what the CLI shows ----------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "home"


def run_cli(home: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    result = CliRunner().invoke(cli, ["--home", str(home), *args], env=env or {})
    assert "Traceback" not in result.output, result.output
    return result


def test_cli_find_says_what_each_hostile_ae_did(home: Path) -> None:
    with hostile_thread(HostileSCP("MANY", find=flood())) as many, \
            hostile_thread(HostileSCP("HUGE", find=huge_match())) as huge, \
            hostile_thread(HostileSCP("SILENT", find=never_final)) as silent:
        for name, port in (("MANY", many), ("HUGE", huge), ("SILENT", silent)):
            assert run_cli(home, "ae", "add", name, "--aet", name, "--host", "127.0.0.1",
                           "--port", str(port)).exit_code == 0
        env = {"PACSLINK_MAX_RESULTS": "1000", "PACSLINK_QUERY_TIMEOUT": "1"}
        text = run_cli(home, "find", "--patient-id", "FLOOD", env=env)
        doc = json.loads(run_cli(home, "find", "--patient-id", "FLOOD", "--json", env=env).stdout)
    assert text.exit_code == 0
    assert f"CUT  MANY: {CUT.format(n=1000)}" in text.stderr
    assert ("FAIL HUGE: sent a match larger than 1024 KB, so the query was aborted after 2 "
            "match(es); raise max_identifier_kb if this AE really sends such matches") in text.stderr
    assert "FAIL SILENT: timed out after 1 s" in text.stderr
    assert "1000 study(s) from 1 of 3 AEs" in text.stdout
    states = {a["name"]: (a["state"], a["matches"]) for a in doc["aes"]}
    assert states == {"MANY": ("truncated", 1000), "HUGE": ("failed", 2), "SILENT": ("timeout", 2)}


# --- C-MOVE / C-GET counters that cannot be true ---------------------------------------

Response = tuple[int, dict[str, int | None]]


def pending(remaining: int | None = None, completed: int | None = None, failed: int | None = None,
            warning: int | None = None) -> Response:
    return S.PENDING, {"remaining": remaining, "completed": completed, "failed": failed,
                       "warning": warning}


def final(status: int = S.SUCCESS, completed: int | None = None, failed: int | None = None,
          warning: int | None = None) -> Response:
    return status, {"completed": completed, "failed": failed, "warning": warning}


#: name -> (responses after the three instances were sent, problems the report must list)
LIES: dict[str, tuple[list[Response], list[str]]] = {
    "completed beyond the total": (
        [pending(2, 1, 0, 0), pending(1, 2, 0, 0), final(S.SUCCESS, 7, 0, 0)],
        ["completed 7 of 3 sub-operations asked for", "7 sub-operations done of 3 announced"]),
    "0xFFFF for -1": (
        [pending(0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF), final(S.SUCCESS, 0xFFFF, 0xFFFF, 0xFFFF)],
        ["remaining 65535 of 3 sub-operations asked for",
         "completed 65535 of 3 sub-operations asked for",
         "failed 65535 of 3 sub-operations asked for",
         "warning 65535 of 3 sub-operations asked for",
         "final status Success with 65535 failed and 65535 warning sub-operations"]),
    "remaining going up": (
        [pending(1, 1, 0, 0), pending(2, 2, 0, 0), final(S.SUCCESS, 3, 0, 0)],
        ["the sub-operations added up to 2, then to 4", "remaining went up from 1 to 2",
         "3 sub-operations done of 2 announced"]),
    "Success with failures": (
        [pending(2, 1, 0, 0), pending(1, 1, 1, 0), final(S.SUCCESS, 1, 2, 0)],
        ["final status Success with 2 failed and 0 warning sub-operations"]),
    "no counters at all": ([pending(), pending(), final(S.SUCCESS)], []),
}


def lying(datasets: list[Dataset], responses: list[Response], *, port: int | None = None,
          ) -> Callable[[Exchange], Awaitable[None]]:
    """Send every instance (C-MOVE to ``port``, or back on the association for C-GET),
    then ``responses``."""

    async def script(x: Exchange) -> None:
        if port is not None:
            assert await x.move_to_destination(port, datasets) == [0] * len(datasets)
        else:
            assert await x.get_back(datasets) == [0] * len(datasets)
        for status, counters in responses:
            await x.respond(status, **counters)

    return script


def client(tmp_path: Path, server: HostileServer, port: int, method: str) -> Pacslink:
    app = Pacslink.from_home(tmp_path / "client", flags={"port": port, "min_free_mb": 1},
                             environ={})
    app.registry.add(RemoteAE("HOSTILE", "HOSTILE", "127.0.0.1", server.port,
                              retrieve=RetrieveMethod(method)))
    return app


@pytest.mark.parametrize("method", ["move", "get"])
@pytest.mark.parametrize("lie", list(LIES))
async def test_inconsistent_counters_are_clamped_flagged_and_not_trusted(
        tmp_path: Path, lie: str, method: str) -> None:
    datasets = study_of(3)
    responses, problems = LIES[lie]
    port = free_port()
    script = lying(datasets, responses, port=port if method == "move" else None)
    scp = HostileSCP(catalog=datasets, **{method: script})  # type: ignore[arg-type]
    seen: list[RetrieveProgress] = []
    async with hostile_server(scp) as server:
        app = client(tmp_path, server, port, method)
        report = await app.retrieve("HOSTILE", RetrieveTarget(datasets[0].StudyInstanceUID),
                                    progress=seen.append)
    uids = {str(ds.SOPInstanceUID) for ds in datasets}
    assert report.method == method
    assert report.verdict == "complete"  # judged by what arrived: all three are in the store
    assert report.present == uids and all(app.index.get_instance(u) for u in uids)
    assert report.counter_problems == problems
    shown = [n for n in report.notes if n.startswith("the PACS reported inconsistent counters (")]
    assert len(shown) == (1 if problems else 0)
    for value in (report.completed, report.failed_count, report.warning):
        assert value is None or 0 <= value <= 3  # clamped to what was asked for
    for p in seen:
        assert all(v is None or v <= 3 for v in (p.remaining, p.completed, p.failed, p.warning))
    if not problems:
        assert report.peer_counts() == "peer reported no counters"
    app.close()


async def test_inconsistent_counters_without_a_listing_are_not_called_complete(
        tmp_path: Path) -> None:
    datasets = study_of(3)
    port = free_port()

    async def refuse_listing(x: Exchange) -> None:
        await x.respond(S.UNABLE_TO_PROCESS)

    async with contextlib.AsyncExitStack() as stack:
        reports = []
        for responses in (LIES["0xFFFF for -1"][0], [pending(2, 1, 0, 0), final(S.SUCCESS, 3, 0, 0)]):
            scp = HostileSCP(find=refuse_listing, move=lying(datasets, responses, port=port))
            server = await stack.enter_async_context(hostile_server(scp))
            app = client(tmp_path / str(len(reports)), server, port, "move")
            reports.append(await app.retrieve(
                "HOSTILE", RetrieveTarget(datasets[0].StudyInstanceUID)))
            app.close()
    lied, honest = reports
    assert not lied.expected_known and lied.arrived == {str(ds.SOPInstanceUID) for ds in datasets}
    assert lied.verdict == "incomplete"  # nothing can prove it complete
    # nothing to bound the counters by but their own total: only the Success is caught
    assert lied.counter_problems == [
        "final status Success with 65535 failed and 65535 warning sub-operations"]
    assert any(n.startswith("the PACS reported inconsistent counters (final status Success")
               for n in lied.notes)
    assert honest.verdict == "complete" and honest.completed == 3  # the same, told honestly


def test_cli_retrieve_shows_clamped_counters_and_the_flag(tmp_path: Path) -> None:
    datasets = study_of(3)
    port = free_port()
    scp = HostileSCP(catalog=datasets, move=lying(datasets, LIES["0xFFFF for -1"][0], port=port))
    home = tmp_path / "home"
    with hostile_thread(scp) as scp_port:
        assert run_cli(home, "ae", "add", "LIAR", "--aet", "HOSTILE", "--host", "127.0.0.1",
                       "--port", str(scp_port), "--retrieve", "move").exit_code == 0
        env = {"PACSLINK_PORT": str(port), "PACSLINK_MIN_FREE_MB": "1"}
        uid = str(datasets[0].StudyInstanceUID)
        text = run_cli(home, "retrieve", "LIAR", "--study", uid, env=env)
        doc = json.loads(run_cli(home, "retrieve", "LIAR", "--study", uid, "--json", env=env).stdout)
    assert text.exit_code == 0, text.output
    assert f"complete LIAR study {uid}: 3 instance(s) in the local store by C-MOVE" in text.stdout
    assert ("note: the PACS reported inconsistent counters (remaining 65535 of 3 sub-operations "
            "asked for; completed 65535 of 3 sub-operations asked for; failed 65535 of 3 "
            "sub-operations asked for; ...); they are shown clamped, and the result is judged "
            "by the instances that arrived") in text.stdout
    (report,) = doc["retrieves"]
    assert report["complete"] and report["present"] == 3
    assert (report["completed"], report["failed_count"], report["warning"]) == (3, 3, 3)
    assert len(report["inconsistent_counters"]) == 5
