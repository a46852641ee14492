"""Association negotiation (PS3.8 9.3.2-9.3.3, PS3.7 D.3.3): building the request and the answer.

The acceptor picks, for each proposed presentation context, the *first transfer syntax
in the proposer's order* that it supports. Senders list the transfer syntax their file
already has first, so this keeps data sets as they are (no transcoding).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from pacslink.dicomnet import pdu as P
from pacslink.dicomnet.association import AcceptedContext, AEConfig
from pacslink.dicomnet.errors import PDUError


def build_contexts(
    wanted: Iterable[tuple[str, Sequence[str]]], first_id: int = 1
) -> list[P.PresentationContextRQ]:
    """Number ``(abstract syntax, transfer syntaxes)`` pairs with odd IDs (PS3.8 9.3.2.2).

    Raises
    ------
    PDUError
        When more than 128 contexts are asked for; split them over several associations.
    """
    contexts = []
    context_id = first_id
    for abstract, transfer in wanted:
        if context_id > 255:
            raise PDUError("more than 128 presentation contexts; use several associations")
        contexts.append(P.PresentationContextRQ(context_id, abstract, tuple(transfer)))
        context_id += 2
    return contexts


def build_request(
    local: AEConfig,
    called_ae_title: str,
    contexts: Sequence[P.PresentationContextRQ],
    *,
    roles: Sequence[P.SCPSCURoleSelection] = (),
    extra_sub_items: Sequence[P.SubItem] = (),
) -> P.AssociateRQ:
    """The A-ASSOCIATE-RQ we send as requestor."""
    user_info = P.UserInformation(
        max_length=local.limits.max_pdu_length,
        implementation_class_uid=local.implementation_class_uid,
        implementation_version_name=local.implementation_version_name,
        sub_items=tuple(roles) + tuple(extra_sub_items),
    )
    return P.AssociateRQ(called_ae_title, local.ae_title, tuple(contexts), user_info)


def accepted_from_ac(
    rq: P.AssociateRQ, ac: P.AssociateAC
) -> dict[int, AcceptedContext]:
    """Map the acceptor's answer onto what we proposed (requestor side)."""
    proposed = {pc.context_id: pc for pc in rq.presentation_contexts}
    proposed_roles = {r.sop_class_uid: r for r in rq.user_information.items_of(P.SCPSCURoleSelection)}
    answered_roles = {r.sop_class_uid: r for r in ac.user_information.items_of(P.SCPSCURoleSelection)}
    out: dict[int, AcceptedContext] = {}
    for pc in ac.presentation_contexts:
        if pc.result != P.ACCEPTANCE or pc.context_id not in proposed:
            continue
        rq_pc = proposed[pc.context_id]
        if pc.transfer_syntax not in rq_pc.transfer_syntaxes:
            continue  # the acceptor chose something we never offered
        scu, scp = True, False
        if rq_pc.abstract_syntax in proposed_roles:
            # PS3.7 D.3.3.4: no answer means the default roles.
            answer = answered_roles.get(rq_pc.abstract_syntax)
            if answer is not None:
                asked = proposed_roles[rq_pc.abstract_syntax]
                scu, scp = asked.scu_role and answer.scu_role, asked.scp_role and answer.scp_role
        out[pc.context_id] = AcceptedContext(
            pc.context_id, rq_pc.abstract_syntax, pc.transfer_syntax, scu, scp
        )
    return out


def check_request(rq: P.AssociateRQ) -> P.AssociateRJ | None:
    """Checks every acceptor makes (PS3.8 9.3.4): protocol version and application context."""
    if not rq.protocol_version & 1:
        return P.AssociateRJ(P.RJ_PERMANENT, P.RJ_SOURCE_ACSE, 2)
    if rq.application_context != P.APPLICATION_CONTEXT_NAME:
        return P.AssociateRJ(P.RJ_PERMANENT, P.RJ_SOURCE_USER, 2)
    return None


def answer_request(
    rq: P.AssociateRQ,
    local: AEConfig,
    supported: Mapping[str, Collection[str]],
    *,
    scp_role_for: Collection[str] = (),
) -> tuple[P.AssociateAC, dict[int, AcceptedContext]]:
    """Build the A-ASSOCIATE-AC for an acceptable request (acceptor side).

    Parameters
    ----------
    rq : AssociateRQ
        The request.
    local : AEConfig
        Our identity and maximum PDU length.
    supported : mapping
        Abstract syntax -> transfer syntaxes we accept for it.
    scp_role_for : collection of str
        Abstract syntaxes for which we accept that the *requestor* acts as SCP (we then
        send it C-STOREs, as in C-GET, PS3.4 C.4.3).
    """
    results: list[P.PresentationContextAC] = []
    accepted: dict[int, AcceptedContext] = {}
    proposed_roles = {r.sop_class_uid: r for r in rq.user_information.items_of(P.SCPSCURoleSelection)}
    seen: set[int] = set()
    for pc in rq.presentation_contexts:
        # echoed in a rejection, where it "shall not be tested" (PS3.8 9.3.3.2); a
        # peer's non-ASCII bytes (decoded as U+FFFD) are not sent back
        first_ts = pc.transfer_syntaxes[0] if pc.transfer_syntaxes else ""
        first_ts = first_ts if first_ts.isascii() else ""
        if pc.context_id % 2 == 0 or pc.context_id in seen:
            results.append(P.PresentationContextAC(pc.context_id, P.NO_REASON, first_ts))
            continue
        seen.add(pc.context_id)
        ours = supported.get(pc.abstract_syntax)
        if ours is None:
            results.append(
                P.PresentationContextAC(pc.context_id, P.ABSTRACT_SYNTAX_NOT_SUPPORTED, first_ts)
            )
            continue
        chosen = next((ts for ts in pc.transfer_syntaxes if ts in ours), None)
        if chosen is None:
            results.append(
                P.PresentationContextAC(pc.context_id, P.TRANSFER_SYNTAXES_NOT_SUPPORTED, first_ts)
            )
            continue
        scu, scp = True, False
        role = proposed_roles.get(pc.abstract_syntax)
        if role is not None:
            scu, scp = role.scu_role, role.scp_role and pc.abstract_syntax in scp_role_for
        results.append(P.PresentationContextAC(pc.context_id, P.ACCEPTANCE, chosen))
        accepted[pc.context_id] = AcceptedContext(pc.context_id, pc.abstract_syntax, chosen, scu, scp)

    answers: list[P.SubItem] = []
    for uid, role in proposed_roles.items():
        if not uid.isascii():
            continue  # not a UID: no SOP class of ours, nothing to answer
        answers.append(
            P.SCPSCURoleSelection(uid, role.scu_role, role.scp_role and uid in scp_role_for)
        )
    if rq.user_information.items_of(P.AsyncOpsWindow):
        # PS3.7 D.3.3.3: we perform operations synchronously, one at a time.
        answers.append(P.AsyncOpsWindow(1, 1))
    # SOP Class (Common) Extended Negotiation and User Identity are not supported: PS3.7
    # D.3.3.5-D.3.3.7 say an acceptor that does not support them omits the reply item.
    user_info = P.UserInformation(
        max_length=local.limits.max_pdu_length,
        implementation_class_uid=local.implementation_class_uid,
        implementation_version_name=local.implementation_version_name,
        sub_items=tuple(answers),
    )
    ac = P.AssociateAC(
        rq.called_ae_title, rq.calling_ae_title, tuple(results), user_info,
    )
    return ac, accepted
