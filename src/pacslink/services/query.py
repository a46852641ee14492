"""C-FIND SCU: search one remote AE, or every selected AE at once (PS3.4 C.4.1).

The conformance statement's job: "the client sends a find request to each [AE],
searching by Patient ID". Every AE gets its own association, all concurrently, so a
federated search takes about as long as the slowest AE, not the sum. One AE that is
down, silent or rejects us does not fail the search: its :class:`AEQueryResult` says
what happened and the others still answer. Matches stream to ``on_match`` as they
arrive; past ``max_results`` for one AE the query is cancelled (C-CANCEL) and the
result marked truncated.

A hostile or broken AE cannot hold us or fill memory (PS3.7 9.1.2, 9.3.2.3):

* more than ``max_results`` matches: C-CANCEL is sent and the rest is read and dropped;
  if the AE has not sent its final response ``timeout`` seconds after the C-CANCEL,
  the association is aborted. The result is ``truncated`` either way.
* no final response: ``timeout`` seconds of silence abort the association; the result
  is ``timeout`` (matches received so far are kept).
* a match larger than ``max_identifier_length`` (setting ``max_identifier_kb``): the
  association is aborted at once, without reading the rest of it, and the result is
  ``failed`` with the matches received before it. Aborting (rather than skipping the
  match) is deliberate: skipping would mean reading, and dropping, whatever size the
  AE chooses to send, as often as it chooses.
* a slow consumer: ``on_match`` may return an awaitable; it is awaited before the next
  response is read, so the AE is held back by TCP flow control instead of our memory
  growing (:meth:`pacslink.api.Pacslink.find_stream` uses this).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from pacslink.conformance import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    PATIENT_ROOT_QR_FIND,
    STUDY_ROOT_QR_FIND,
)
from pacslink.dicomnet import status as S
from pacslink.dicomnet.association import AcceptedContext, AEConfig
from pacslink.dicomnet.errors import (
    AssociationRejected,
    DatasetTooLarge,
    NetworkError,
    NetworkTimeout,
)
from pacslink.dicomnet.negotiation import build_contexts
from pacslink.dicomnet.qr import c_find
from pacslink.errors import QueryError
from pacslink.identifiers import decode_identifier, encode_find_identifier, find_identifier_values
from pacslink.models import Query, QueryLevel, QueryMatch, QueryModel, RemoteAE
from pacslink.services.rejection import rejected
from pacslink.services.tls import ClientTLS, open_association

FIND_SYNTAXES = (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN)
_FIND_UIDS = {QueryModel.STUDY_ROOT: STUDY_ROOT_QR_FIND, QueryModel.PATIENT_ROOT: PATIENT_ROOT_QR_FIND}


@dataclass
class AEQueryResult:
    """What one AE answered.

    ``state`` is ``ok``, ``truncated`` (more than ``max_results``: cancelled),
    ``failed`` (refused, unreachable, error status, oversized match) or ``timeout``;
    ``error`` says why in words a person can act on (for ``truncated``: how to see all).
    """

    ae: RemoteAE
    matches: list[QueryMatch] = field(default_factory=list)
    state: str = "ok"
    error: str = ""
    model: QueryModel | None = None
    status: int | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.state in ("ok", "truncated")


@dataclass
class MergedMatch:
    """One study (series, image) found on one or more AEs; ``aes`` in answer order."""

    match: QueryMatch
    aes: list[str]


@dataclass
class FederatedResult:
    """A federated search: merged rows plus one :class:`AEQueryResult` per AE."""

    query: Query
    rows: list[MergedMatch]
    per_ae: list[AEQueryResult]
    seconds: float


#: Called per match; may return an awaitable, awaited before the next response is read.
MatchCallback = Callable[[RemoteAE, QueryMatch], Awaitable[None] | None]
AEDoneCallback = Callable[["AEQueryResult"], Awaitable[None] | None]


def truncation_message(max_results: int) -> str:
    """What a person reads when an AE had more than ``max_results`` matches."""
    return (f"showing the first {max_results} matches of more; narrow the query "
            "(date, modality, name) or raise max_results")


def _pick_context(contexts: dict[int, AcceptedContext], model: QueryModel | None) -> tuple[AcceptedContext, QueryModel]:
    order = [model] if model is not None else [QueryModel.STUDY_ROOT, QueryModel.PATIENT_ROOT]
    for wanted in order:
        for ctx in contexts.values():
            if ctx.abstract_syntax == _FIND_UIDS[wanted]:
                return ctx, wanted
    names = " or ".join(m.value + " root" for m in order)
    raise QueryError(f"the AE does not support {names} C-FIND")


async def find_on_ae(
    local: AEConfig,
    ae: RemoteAE,
    query: Query,
    *,
    model: QueryModel | None = None,
    max_results: int = 1000,
    timeout: float = 10.0,
    on_match: MatchCallback | None = None,
    tls: ClientTLS | None = None,
) -> AEQueryResult:
    """Run one C-FIND on ``ae``; never raises for network trouble (see ``state``).

    Parameters
    ----------
    local : AEConfig
        Our identity and limits.
    ae : RemoteAE
        Where to search.
    query : Query
        What to search for; validated before anything is sent.
    model : QueryModel, optional
        Information model; by default Study Root, else Patient Root, whichever the AE
        accepts.
    max_results : int
        Matches to keep; one more sends C-CANCEL (PS3.7 9.3.2.3).
    timeout : float
        Seconds the AE may stay silent (connecting, negotiating, between responses),
        and the most it may take to end the query after C-CANCEL.
    on_match : callable, optional
        Called with each match as it arrives; an awaitable it returns is awaited first.
    tls : ClientTLS, optional
        The client context for an AE marked ``tls = true``.

    Raises
    ------
    QueryError
        The query itself is invalid (raised before connecting).
    """
    # Validate against both models up front: a bad query is the user's error, not the AE's.
    find_identifier_values(query, model or QueryModel.STUDY_ROOT)
    result = AEQueryResult(ae)
    limits = dataclasses.replace(
        local.limits, connect_timeout=min(local.limits.connect_timeout, timeout),
        acse_timeout=timeout, dimse_timeout=timeout,
    )
    local = dataclasses.replace(local, limits=limits)
    wanted = [model] if model is not None else [QueryModel.STUDY_ROOT, QueryModel.PATIENT_ROOT]
    contexts = build_contexts([(_FIND_UIDS[m], FIND_SYNTAXES) for m in wanted])
    start = time.perf_counter()
    try:
        async with await open_association(local, ae, contexts, tls=tls) as assoc:
            ctx, used = _pick_context(assoc.contexts, model)
            result.model = used
            identifier = encode_find_identifier(query, used, ctx.transfer_syntax)
            operation = c_find(assoc, ctx, identifier)
            async for response in operation:
                if response.pending and response.identifier is not None:
                    if len(result.matches) >= max_results:
                        await operation.cancel()
                        result.state, result.error = "truncated", truncation_message(max_results)
                        continue
                    try:
                        match = decode_identifier(response.identifier, ctx.transfer_syntax, query.level)
                    except QueryError:
                        continue  # one unreadable match does not spoil the search
                    result.matches.append(match)
                    if on_match is not None:
                        waiting = on_match(ae, match)
                        if inspect.isawaitable(waiting):
                            await waiting
                elif not response.pending:
                    result.status = response.status
                    if response.status not in (S.SUCCESS, S.CANCEL) and result.state != "truncated":
                        result.state = "failed"
                        comment = f" ({response.error_comment})" if response.error_comment else ""
                        result.error = f"C-FIND answered {S.describe(response.status)}{comment}"
    except NetworkError as exc:
        if result.state != "truncated":  # after C-CANCEL, how the AE ends does not matter
            if isinstance(exc, AssociationRejected):
                result.state, result.error = "failed", rejected(exc, local.ae_title, ae)
            else:
                result.state, result.error = _failure(exc, timeout, len(result.matches))
    except QueryError as exc:
        result.state, result.error = "failed", str(exc)
    result.seconds = time.perf_counter() - start
    return result


def _failure(exc: NetworkError, timeout: float, kept: int) -> tuple[str, str]:
    """The state and the words for a C-FIND that ended with ``exc``."""
    if isinstance(exc, NetworkTimeout):
        return "timeout", f"timed out after {timeout:g} s"
    if isinstance(exc, DatasetTooLarge):
        return "failed", (f"sent a match larger than {exc.limit // 1024} KB, so the query was "
                          f"aborted after {kept} match(es); raise max_identifier_kb if this AE "
                          "really sends such matches")
    return "failed", str(exc)


def merge(results: Sequence[AEQueryResult], level: QueryLevel) -> list[MergedMatch]:
    """De-duplicate matches by their level's unique key; fill empty values from other AEs."""
    rows: dict[str, MergedMatch] = {}
    for result in results:
        name = result.ae.name
        for match in result.matches:
            key = match.key or f"{name}:{id(match)}"
            row = rows.get(key)
            if row is None:
                rows[key] = MergedMatch(QueryMatch(level, dict(match.attributes)), [name])
                continue
            if result.ae.name not in row.aes:
                row.aes.append(result.ae.name)
            for keyword, value in match.attributes.items():
                if value and not row.match.attributes.get(keyword):
                    row.match.attributes[keyword] = value
    return list(rows.values())


async def federated_find(
    local: AEConfig,
    aes: Sequence[RemoteAE],
    query: Query,
    *,
    model: QueryModel | None = None,
    max_results: int = 1000,
    timeout: float = 10.0,
    on_match: MatchCallback | None = None,
    on_ae_done: AEDoneCallback | None = None,
    tls: ClientTLS | None = None,
) -> FederatedResult:
    """Search every AE in ``aes`` concurrently and merge the answers.

    ``on_match`` and ``on_ae_done`` may return awaitables, which are awaited.
    """
    find_identifier_values(query, model or QueryModel.STUDY_ROOT)
    start = time.perf_counter()

    async def one(ae: RemoteAE) -> AEQueryResult:
        result = await find_on_ae(local, ae, query, model=model, max_results=max_results,
                                  timeout=timeout, on_match=on_match, tls=tls)
        if on_ae_done is not None:
            waiting = on_ae_done(result)
            if inspect.isawaitable(waiting):
                await waiting
        return result

    per_ae = list(await asyncio.gather(*(one(ae) for ae in aes)))
    return FederatedResult(query, merge(per_ae, query.level), per_ae, time.perf_counter() - start)
