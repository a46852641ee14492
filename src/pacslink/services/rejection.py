"""What to change when a remote AE rejects our association (PS3.8 9.3.4, Table 9-21).

The two rejections a person can fix are about AE titles: the peer does not know our
calling AE title (reason 3), or it is not the AE title we called (reason 7). The engine's
message names the reason; :func:`advice` adds the next step, naming the AE titles.
"""

from __future__ import annotations

from pacslink.dicomnet import pdu as P
from pacslink.dicomnet.errors import AssociationRejected
from pacslink.models import RemoteAE

#: PS3.8 Table 9-21 reasons given by the DICOM UL service-user.
CALLING_AE_TITLE_NOT_RECOGNIZED = 3
CALLED_AE_TITLE_NOT_RECOGNIZED = 7


def hint(exc: BaseException, local_ae_title: str, ae: RemoteAE) -> str:
    """``"; <what to change>"`` when ``ae`` rejected our AE titles, else ``""``.

    Parameters
    ----------
    exc : BaseException
        Why the association with ``ae`` failed.
    local_ae_title : str
        Our (calling) AE title.
    ae : RemoteAE
        The AE we called.
    """
    if not isinstance(exc, AssociationRejected) or exc.rj.source != P.RJ_SOURCE_USER:
        return ""
    name = ae.name or ae.address
    if exc.rj.reason == CALLING_AE_TITLE_NOT_RECOGNIZED:
        return (f"; {name} does not accept our AE title {local_ae_title}: add "
                f"{local_ae_title} (this host and our port) to its list of known AEs")
    if exc.rj.reason == CALLED_AE_TITLE_NOT_RECOGNIZED:
        fix = f"pacslink ae edit {ae.name} --aet TITLE" if ae.name else "its AE title"
        return (f"; {ae.host}:{ae.port} is not {ae.ae_title}: ask its administrator "
                f"for its AE title and correct it ({fix})")
    return ""


def advice(exc: BaseException, local_ae_title: str, ae: RemoteAE) -> str:
    """``str(exc)`` followed by :func:`hint`."""
    return f"{exc}{hint(exc, local_ae_title, ae)}"


def rejected(exc: AssociationRejected, local_ae_title: str, ae: RemoteAE) -> str:
    """``association rejected: <reason>`` followed by :func:`hint` (one line per AE)."""
    reason = exc.rj.describe().split(": ", 1)[-1]
    return f"association rejected: {reason}{hint(exc, local_ae_title, ae)}"


__all__ = ["advice", "hint", "rejected"]
