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


class SyncMode(str, enum.Enum):
    """How durably the Storage SCP stores an instance before it answers success.

    ``DURABLE`` (the default): the file, its directory entry and the index row are
    fsynced before the C-STORE response, so an acknowledged instance survives a power
    loss. ``NEVER``: nothing is fsynced (files, directories, index); the operating
    system writes it back later, so instances acknowledged just before a power loss or
    kernel crash may be lost. For throwaway receivers and benchmarks only.
    """

    DURABLE = "durable"
    NEVER = "never"


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
    tls : bool
        Associate over DICOM TLS (PS3.15 B.1), verifying the AE's certificate.
    """

    name: str
    ae_title: str
    host: str
    port: int
    description: str = ""
    retrieve: RetrieveMethod = RetrieveMethod.AUTO
    tls: bool = False

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
    study_time: str = ""
    accession_number: str = ""
    study_id: str = ""
    referring_physician_name: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""


@dataclass(frozen=True)
class SeriesSummary:
    """A series in the local store, for ``pacslink store show``.

    Parameters
    ----------
    series_instance_uid : str
        (0020,000E) Series Instance UID.
    modality : str
        (0008,0060) Modality, empty when the data set had none.
    series_number : int or None
        (0020,0011) Series Number.
    series_description : str
        (0008,103E) Series Description.
    series_date : str
        (0008,0021) Series Date as received (``YYYYMMDD``).
    instance_count : int
        Number of instances of the series held locally.
    instances : tuple of StoredInstance
        The instances, ordered by Instance Number; empty in summaries.
    """

    series_instance_uid: str
    modality: str
    series_number: int | None
    series_description: str
    series_date: str
    instance_count: int
    instances: tuple[StoredInstance, ...] = ()


@dataclass(frozen=True)
class StudyDetail:
    """A study in the local store with its series and their instances."""

    study: StudySummary
    series: tuple[SeriesSummary, ...]


@dataclass(frozen=True)
class IngestResult:
    """What happened to one received instance.

    Parameters
    ----------
    instance : StoredInstance
        The instance the index now holds for this SOP Instance UID, with the attributes
        of the received data set (the index keeps the first patient, study and series
        values it saw). For a duplicate kept under ``DuplicatePolicy.KEEP`` this is the
        first copy, as indexed.
    duplicate : bool
        The SOP Instance UID was already in the store.
    replaced : bool
        The earlier copy was replaced (``DuplicatePolicy.OVERWRITE``).
    """

    instance: StoredInstance
    duplicate: bool = False
    replaced: bool = False


class VerifyProblem(str, enum.Enum):
    """A kind of inconsistency ``pacslink store verify`` can find."""

    MISSING = "missing"
    """An indexed file is not on disk."""
    SIZE_MISMATCH = "size-mismatch"
    """An indexed file's size differs from the recorded size."""
    HASH_MISMATCH = "hash-mismatch"
    """An indexed file's SHA-256 differs from the recorded digest."""
    UNREADABLE = "unreadable"
    """An indexed file cannot be parsed as DICOM Part 10."""
    UID_MISMATCH = "uid-mismatch"
    """An indexed file holds another SOP Instance UID than its index row."""
    UNSAFE_PATH = "unsafe-path"
    """An index row points outside the store's objects directory."""
    ORPHAN = "orphan"
    """A file under ``objects/`` has no index row."""
    STALE_TEMP = "stale-temp"
    """A temporary file left behind by an interrupted transfer."""


@dataclass(frozen=True)
class VerifyIssue:
    """One problem found by a store verification.

    Parameters
    ----------
    problem : VerifyProblem
        What is wrong.
    path : str
        The file concerned, relative to the store root.
    sop_instance_uid : str
        The instance concerned; empty for orphans and temporary files.
    detail : str
        A short human-readable explanation.
    """

    problem: VerifyProblem
    path: str
    sop_instance_uid: str = ""
    detail: str = ""


@dataclass(frozen=True)
class VerifyReport:
    """The result of checking every indexed file and the objects directory.

    Parameters
    ----------
    checked : int
        Number of index rows checked.
    issues : tuple of VerifyIssue
        Every problem found, in the order found.
    quarantined : int
        Files start-up reconciliation moved to the store's ``quarantine`` folder (never
        acknowledged to their senders); kept for a person to look at, not a problem.
    """

    checked: int
    issues: tuple[VerifyIssue, ...] = ()
    quarantined: int = 0

    @property
    def ok(self) -> bool:
        """``True`` when no problem was found."""
        return not self.issues

    def of(self, problem: VerifyProblem) -> tuple[VerifyIssue, ...]:
        """Return the issues of one kind.

        Parameters
        ----------
        problem : VerifyProblem
            The kind of issue wanted.

        Returns
        -------
        tuple of VerifyIssue
            The matching issues, possibly empty.
        """
        return tuple(issue for issue in self.issues if issue.problem is problem)


# --- Query/Retrieve (PS3.4 Annex C) ------------------------------------------------------


class QueryLevel(str, enum.Enum):
    """Query/Retrieve Level (0008,0052), PS3.4 C.3."""

    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"


class QueryModel(str, enum.Enum):
    """Query/Retrieve Information Model (PS3.4 C.3.1, C.3.2)."""

    PATIENT_ROOT = "patient"
    STUDY_ROOT = "study"


@dataclass(frozen=True)
class Query:
    """What the user searches for; matching keys only, return keys come from the level.

    Parameters
    ----------
    level : QueryLevel
        STUDY, SERIES or IMAGE (PATIENT for patient-level Patient Root queries).
    patient_id : str, optional
        Patient ID (0010,0020); the seed's search key.
    study_instance_uid, series_instance_uid, sop_instance_uid : str, optional
        Unique keys of the levels above (required by SERIES and IMAGE queries).
    patient_name : str, optional
        Patient's Name, wildcards ``*`` and ``?`` allowed (PS3.4 C.2.2.2.4).
    study_date : str, optional
        ``YYYYMMDD`` or a range ``YYYYMMDD-YYYYMMDD`` (open ends allowed).
    modality : str, optional
        Modality at SERIES level, Modalities in Study at STUDY level.
    accession_number : str, optional
        Accession Number.
    """

    level: QueryLevel = QueryLevel.STUDY
    patient_id: str | None = None
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    patient_name: str | None = None
    study_date: str | None = None
    modality: str | None = None
    accession_number: str | None = None


@dataclass(frozen=True)
class QueryMatch:
    """One C-FIND match, its values decoded to text (Specific Character Set applied).

    ``attributes`` maps pydicom keywords (``StudyInstanceUID``, ``PatientName`` ...) to
    text; multi-valued attributes are joined with a backslash as on the wire.
    """

    level: QueryLevel
    attributes: dict[str, str]

    def get(self, keyword: str, default: str = "") -> str:
        return self.attributes.get(keyword, default)

    @property
    def key(self) -> str:
        """The unique key of the match's level (Study/Series/SOP Instance UID, Patient ID)."""
        return self.get(
            {
                QueryLevel.PATIENT: "PatientID",
                QueryLevel.STUDY: "StudyInstanceUID",
                QueryLevel.SERIES: "SeriesInstanceUID",
                QueryLevel.IMAGE: "SOPInstanceUID",
            }[self.level]
        )


__all__ = [
    "Query",
    "QueryLevel",
    "QueryMatch",
    "QueryModel",
    "DuplicatePolicy",
    "IngestResult",
    "RemoteAE",
    "RetrieveMethod",
    "SeriesSummary",
    "StoredInstance",
    "StudyDetail",
    "StudySummary",
    "SyncMode",
    "VerifyIssue",
    "VerifyProblem",
    "VerifyReport",
]
