"""Plain data shared by every layer: frozen dataclasses and enums, no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class RetrieveMethod(str, enum.Enum):
    """How studies are pulled from a remote AE (PS3.4 C.4.2 C-MOVE, C.4.3 C-GET)."""

    MOVE = "move"
    GET = "get"
    AUTO = "auto"


class DuplicatePolicy(str, enum.Enum):
    """What the Storage SCP does with a SOP Instance UID it already holds."""

    KEEP = "keep"
    OVERWRITE = "overwrite"


@dataclass(frozen=True)
class RemoteAE:
    """A remote Application Entity the clinic has configured (the seed's "SetupAEs").

    Parameters
    ----------
    name : str
        The local nickname used on the command line, e.g. ``PACS1``.
    ae_title : str
        The remote AE title (PS3.5 6.2, AE VR), already validated and stripped.
    host : str
        Host name or IP address.
    port : int
        TCP port, 1-65535.
    description : str
        Free text for people.
    retrieve : RetrieveMethod
        Preferred retrieve method for this AE.
    """

    name: str
    ae_title: str
    host: str
    port: int
    description: str = ""
    retrieve: RetrieveMethod = RetrieveMethod.AUTO

    @property
    def address(self) -> str:
        """``AET@host:port``, the notation DCMTK and pynetdicom users know."""
        return f"{self.ae_title}@{self.host}:{self.port}"


@dataclass(frozen=True)
class StoredInstance:
    """One instance as the local index records it."""

    sop_instance_uid: str
    sop_class_uid: str
    series_instance_uid: str
    study_instance_uid: str
    patient_id: str
    path: str
    size: int
    sha256: str
    transfer_syntax_uid: str
    calling_ae: str
    received_at: datetime
    instance_number: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StudySummary:
    """A study in the local store, for ``pacslink store list``."""

    patient_id: str
    patient_name: str
    study_instance_uid: str
    study_date: str
    study_description: str
    modalities: tuple[str, ...]
    series_count: int
    instance_count: int


__all__ = ["DuplicatePolicy", "RemoteAE", "RetrieveMethod", "StoredInstance", "StudySummary"]
