"""Query/Retrieve peers for tests: Orthanc, DCMTK dcmqrscp and a misbehaving pynetdicom SCP.

Every peer listens on a free 127.0.0.1 port, keeps its files in a directory the test gives
it, and is stopped by PID when the ``with`` block ends. A missing binary fails the test
under CI (``CI`` set) and skips it otherwise, as :func:`tests.peers.require` does.

``orthanc_server``
    A real Orthanc with its own JSON configuration; ``upload`` fills it over REST or with
    storescu, ``set_modality`` registers a C-MOVE destination while it runs.
``dcmqrscp_server``
    DCMTK's Q/R SCP with its own ``dcmqrscp.cfg``; ``load`` fills it with storescu. Its
    move destinations (HostTable) are read once at start, so pass them in up front.
``sample_studies``
    A few small, realistic studies written as Part 10 files, plus a catalog of their UIDs.
``rogue_qr_scp``
    A pynetdicom Q/R SCP that answers correctly (``"normal"``) or misbehaves in one
    chosen way (slow, no final response, 5,000 matches, association rejected, Success
    with failed sub-operations, unsolicited C-STOREs).
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)
from pynetdicom import AE, StoragePresentationContexts, build_context, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]  # registered at import
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from tests.factory import make_ct
from tests.peers import DCMTK_ENV, free_port, require, stop, wait_for_port

#: Patient ID -> (Patient Name, studies); a study is (Modality, images per series).
PatientSpec = Mapping[str, tuple[str, Sequence[tuple[str, Sequence[int]]]]]

DEFAULT_PATIENTS: PatientSpec = {
    "VET001": ("Smith^Rex", [("CT", [3, 3]), ("MR", [2])]),
    "VET002": ("Jones^Bella", [("CT", [2])]),
    "VET003": ("Müller^Jürgen", [("CT", [2])]),  # Latin-1, SpecificCharacterSet ISO_IR 100
}


def _free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def _start(args: Sequence[str], cwd: Path, log_name: str, *,
           env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a server in its own process group (its PID is the group's ID)."""
    with open(cwd / log_name, "wb") as log:
        return subprocess.Popen(list(args), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                env=dict(env) if env is not None else None,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop ``proc`` by PID, then any child it forked (its process group, same ID)."""
    stop(proc)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def storescu(aet: str, port: int, paths: Iterable[Path], *, timeout: float = 60) -> None:
    """Send ``paths`` to ``aet`` on 127.0.0.1:``port`` with DCMTK ``storescu``."""
    files = [str(p) for p in paths]
    if not files:
        return
    tool = require("storescu")
    result = subprocess.run(
        [tool, "-aet", "PACSLINK_LOAD", "-aec", aet, "127.0.0.1", str(port), *files],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=DCMTK_ENV, timeout=timeout,
        check=False)
    output = result.stdout.decode(errors="replace")
    if result.returncode != 0 or "E: " in output:
        raise RuntimeError(f"storescu to {aet} failed (rc {result.returncode}):\n{output}")


# --------------------------------------------------------------------------------------
# Orthanc
# --------------------------------------------------------------------------------------

@dataclass
class OrthancServer:
    """A running Orthanc: DICOM on ``dicom_port``, REST on ``http_port`` (127.0.0.1)."""

    aet: str
    dicom_port: int
    http_port: int
    proc: subprocess.Popen[bytes]
    directory: Path
    config: dict[str, Any]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def rest(self, method: str, path: str, body: bytes | dict[str, Any] | None = None, *,
             content_type: str = "application/json", timeout: float = 20) -> Any:
        """Call Orthanc's REST API; returns the decoded JSON answer (or None)."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": content_type})
        with _NO_PROXY.open(request, timeout=timeout) as answer:
            text = answer.read()
        return json.loads(text) if text.strip() else None


#: Ignore any http_proxy in the environment: Orthanc is on the loopback.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _orthanc_binary() -> str:
    # Debian installs Orthanc in /usr/sbin, which is not on a normal user's PATH.
    return (shutil.which("Orthanc") or shutil.which("Orthanc", path="/usr/sbin:/usr/local/sbin")
            or require("Orthanc"))


@functools.cache
def _orthanc_sample_config(binary: str) -> str:
    """The sample configuration this Orthanc version writes: tells which options exist."""
    result = subprocess.run([binary, "--config=-"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, timeout=20, check=False)
    return result.stdout.decode(errors="replace")


def orthanc_config(directory: Path, *, aet: str, dicom_port: int, http_port: int,
                   modalities: Mapping[str, tuple[str, str, int]],
                   binary: str | None = None) -> dict[str, Any]:
    """Build the JSON configuration of a private, loopback-only Orthanc."""
    config: dict[str, Any] = {
        "Name": "pacslink-test",
        "StorageDirectory": str(directory / "storage"),
        "IndexDirectory": str(directory / "index"),
        "DicomServerEnabled": True,
        "DicomAet": aet,
        "DicomPort": dicom_port,
        "HttpServerEnabled": True,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        # Plugins: [] so the Debian package's plugin directory (/etc/orthanc) is not read.
        "Plugins": [],
        "LuaScripts": [],
        # C-MOVE destinations are looked up by their AE title (not the entry's name).
        "DicomModalities": {name: list(entry) for name, entry in modalities.items()},
        "DicomCheckCalledAet": False,
        "StableAge": 1,
        "ConcurrentJobs": 2,
        "DicomScuTimeout": 10,
        "DicomScpTimeout": 30,
    }
    optional: dict[str, Any] = {
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowMove": True,
        "DicomAlwaysAllowGet": True,
        "DicomCheckModalityHost": False,
        "DicomModalitiesInDatabase": False,
        "SynchronousCMove": True,
        "SaveJobs": False,
        "WebDavEnabled": False,
        "MetricsEnabled": False,
        "ExecuteLuaEnabled": False,
        "SyncStorageArea": False,
        "StorageCompression": False,
        "OrthancPeers": {},
        "DeidentifyLogs": True,
    }
    sample = _orthanc_sample_config(binary or _orthanc_binary())
    config.update({key: value for key, value in optional.items() if f'"{key}"' in sample})
    return config


@contextlib.contextmanager
def orthanc_server(
    tmp_dir: Path,
    *,
    aet: str = "ORTHANC",
    modalities: Mapping[str, tuple[str, str, int]] | None = None,
    timeout: float = 30,
    graceful_stop: bool = False,
) -> Iterator[OrthancServer]:
    """Start a private Orthanc in ``tmp_dir`` and stop it afterwards.

    ``modalities`` maps an entry name to ``(AE title, host, port)``: Orthanc resolves a
    C-MOVE's Move Destination by that AE title. Add entries later with ``set_modality``.
    Never touches a system Orthanc (4242/8042): both ports are free ones.

    Orthanc takes 3.5 s to stop on SIGTERM (its HTTP and DICOM servers poll), so by
    default it is SIGKILLed: its index and storage are throwaway. ``graceful_stop=True``
    sends SIGTERM first, for a test that reads the log of a clean shutdown.
    """
    binary = _orthanc_binary()
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    dicom_port, http_port = _free_ports(2)
    config = orthanc_config(tmp_dir, aet=aet, dicom_port=dicom_port, http_port=http_port,
                            modalities=modalities or {}, binary=binary)
    config_path = tmp_dir / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2))
    proc = _start([binary, "--no-jobs", str(config_path)], tmp_dir, "orthanc.log")
    server = OrthancServer(aet, dicom_port, http_port, proc, tmp_dir, config)
    try:
        _wait_for_orthanc(server, timeout)
        yield server
    finally:
        if graceful_stop:
            stop(proc)
        else:
            proc.kill()
            proc.wait(10)


def _wait_for_orthanc(server: OrthancServer, timeout: float) -> None:
    """Wait until the DICOM port accepts connections and GET /system answers."""
    deadline = time.monotonic() + timeout
    try:
        wait_for_port(server.dicom_port, server.proc, timeout)
        while True:
            try:
                server.rest("GET", "/system", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError):
                if server.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("GET /system did not answer") from None
                time.sleep(0.05)
    except (RuntimeError, TimeoutError) as exc:
        log = (server.directory / "orthanc.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"Orthanc did not start ({exc}); its log ends:\n{log}") from exc


def upload(server: OrthancServer, paths: Iterable[Path], *,
           via: Literal["rest", "storescu"] = "rest") -> list[str]:
    """Load DICOM files into Orthanc; returns the Orthanc IDs (REST) or ``[]`` (storescu)."""
    if via == "storescu":
        storescu(server.aet, server.dicom_port, paths)
        return []
    ids = []
    for path in paths:
        answer = server.rest("POST", "/instances", Path(path).read_bytes(),
                             content_type="application/dicom")
        if answer.get("Status") not in ("Success", "AlreadyStored"):
            raise RuntimeError(f"Orthanc refused {path}: {answer}")
        ids.append(answer["ID"])
    return ids


def set_modality(server: OrthancServer, name: str, aet: str, port: int,
                 host: str = "127.0.0.1") -> None:
    """Add or replace a DicomModalities entry at runtime (PUT /modalities/{name})."""
    server.rest("PUT", f"/modalities/{name}", {"AET": aet, "Host": host, "Port": port})


# --------------------------------------------------------------------------------------
# DCMTK dcmqrscp
# --------------------------------------------------------------------------------------

@dataclass
class DcmqrscpServer:
    """A running dcmqrscp: called AE title ``aet`` on 127.0.0.1:``port``."""

    aet: str
    port: int
    proc: subprocess.Popen[bytes]
    directory: Path
    storage: Path
    config_path: Path


def dcmqrscp_config(*, aet: str, port: int, storage: Path,
                    peers: Mapping[str, tuple[str, int]]) -> str:
    """Text of a dcmqrscp.cfg: one RW storage area, every peer a known move destination."""
    hosts = "\n".join(f"peer{i} = ({peer_aet}, {host}, {peer_port})"
                      for i, (peer_aet, (host, peer_port)) in enumerate(peers.items()))
    return f"""\
# Written by tests/qr_peers.py
NetworkTCPPort  = {port}
MaxPDUSize      = 65536
MaxAssociations = 16

HostTable BEGIN
{hosts}
HostTable END

VendorTable BEGIN
VendorTable END

# AETitle  StorageArea  Access  Quota (maxStudies <= 500, maxBytesPerStudy)  Peers
AETable BEGIN
{aet}  {storage}  RW  (500, 1024mb)  ANY
AETable END
"""


@contextlib.contextmanager
def dcmqrscp_server(
    tmp_dir: Path,
    *,
    aet: str = "DCMQRSCP",
    peers: Mapping[str, tuple[str, int]] | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = 15,
) -> Iterator[DcmqrscpServer]:
    """Start ``dcmqrscp`` in ``tmp_dir`` and stop it afterwards.

    ``peers`` maps an AE title to ``(host, port)``; dcmqrscp resolves a C-MOVE's Move
    Destination through this HostTable, read once at start. FIND, MOVE and GET in
    Patient Root and Study Root, and C-STORE into the storage area, are all enabled by
    default. It forks a child per association (DCMTK 3.6.7's ``--single-process`` crashes
    in DUL_DropAssociation after the first association), so teardown also kills the
    process group.
    """
    tool = require("dcmqrscp")
    tmp_dir = Path(tmp_dir)
    storage = tmp_dir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config_path = tmp_dir / "dcmqrscp.cfg"
    config_path.write_text(dcmqrscp_config(aet=aet, port=port, storage=storage,
                                           peers=peers or {}))
    args = [tool, "--config", str(config_path),
            "--dimse-timeout", "30", "--acse-timeout", "10", *extra_args]
    proc = _start(args, tmp_dir, "dcmqrscp.log", env=DCMTK_ENV)
    try:
        wait_for_port(port, proc, timeout)
        yield DcmqrscpServer(aet, port, proc, tmp_dir, storage, config_path)
    finally:
        _stop_group(proc)


def load(server: DcmqrscpServer, paths: Iterable[Path]) -> None:
    """Store files into dcmqrscp with storescu, so it builds its index.dat itself."""
    storescu(server.aet, server.port, paths)


# --------------------------------------------------------------------------------------
# Sample studies
# --------------------------------------------------------------------------------------

def sample_studies(folder: Path, patients: PatientSpec = DEFAULT_PATIENTS,
                   ) -> tuple[list[Path], dict[str, dict[str, Any]]]:
    """Write small studies as Part 10 files (Explicit VR Little Endian) into ``folder``.

    Returns the paths and a catalog::

        {"VET001": {"PatientName": "Smith^Rex",
                    "studies": {StudyInstanceUID: {"Modality": "CT",
                                                   "series": {SeriesInstanceUID: [SOPInstanceUID, ...]}}}}}

    Files are named by counters, never by UIDs. Every data set says ISO_IR 100.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    catalog: dict[str, dict[str, Any]] = {}
    for p, (patient_id, (name, studies)) in enumerate(patients.items(), start=1):
        patient: dict[str, Any] = {"PatientName": name, "studies": {}}
        catalog[patient_id] = patient
        for s, (modality, series_sizes) in enumerate(studies, start=1):
            study_uid = generate_uid()
            study_series: dict[str, list[str]] = {}
            patient["studies"][study_uid] = {"Modality": modality, "series": study_series}
            for n, size in enumerate(series_sizes, start=1):
                series_uid = generate_uid()
                study_series[series_uid] = []
                for i in range(1, size + 1):
                    ds = _sample_image(patient_id, name, modality, p, s, n, i,
                                       study_uid, series_uid)
                    path = folder / f"p{p}_st{s}_se{n}_{i}.dcm"
                    ds.save_as(path, enforce_file_format=True)
                    paths.append(path)
                    study_series[series_uid].append(ds.SOPInstanceUID)
    return paths, catalog


def _sample_image(patient_id: str, name: str, modality: str, p: int, s: int, n: int,
                  i: int, study_uid: str, series_uid: str) -> Dataset:
    extra: dict[str, Any] = {
        "StudyDate": f"2024{s:02d}{10 + p:02d}",
        "SeriesDate": f"2024{s:02d}{10 + p:02d}",
        "AccessionNumber": f"ACC{p:03d}{s:02d}",
        "StudyID": f"{s}",
        "StudyDescription": f"{modality} STUDY {s}",
        "SeriesDescription": f"{modality} SERIES {n}",
        "SliceLocation": f"{-10.0 + 2.5 * i:.1f}",
    }
    if modality == "MR":
        extra.update(SOPClassUID=MRImageStorage, BodyPartExamined="KNEE",
                     ProtocolName="KNEE ROUTINE", RescaleIntercept=None, RescaleSlope=None)
    ds = make_ct(patient_id=patient_id, patient_name=name, modality=modality,
                 study_instance_uid=study_uid, series_instance_uid=series_uid,
                 series_number=n, instance_number=i, **extra)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def catalog_counts(catalog: Mapping[str, Mapping[str, Any]], patient_id: str) -> tuple[int, int, int]:
    """(studies, series, instances) the catalog holds for ``patient_id``."""
    studies = catalog[patient_id]["studies"]
    series = [s for study in studies.values() for s in study["series"].values()]
    return len(studies), len(series), sum(len(s) for s in series)


# --------------------------------------------------------------------------------------
# A misbehaving pynetdicom Q/R SCP
# --------------------------------------------------------------------------------------

Behaviour = Literal["normal", "slow", "no_final", "many", "reject", "success_all_failed",
                    "unsolicited"]

#: Identifier keys per Query/Retrieve Level that name one entity (PS3.4 C.6).
_LEVEL_KEY = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID",
              "SERIES": "SeriesInstanceUID", "IMAGE": "SOPInstanceUID"}
_NOT_MATCHED = {"QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle",
                "InstanceAvailability", "NumberOfStudyRelatedInstances",
                "NumberOfStudyRelatedSeries", "NumberOfSeriesRelatedInstances",
                "NumberOfPatientRelatedStudies", "NumberOfPatientRelatedInstances"}


@dataclass
class RogueSCP:
    """A running pynetdicom Q/R SCP; tests read what it was asked and what it sent."""

    behaviour: str
    aet: str                 #: the Called AE Title clients should use
    port: int
    datasets: list[Dataset]
    destinations: dict[str, tuple[str, int]]
    delay: float
    matches: int
    failed: int
    unsolicited: int
    hang: float
    host: str = "127.0.0.1"
    #: (DIMSE operation, identifier) of every C-FIND/C-MOVE/C-GET request received.
    requests: list[tuple[str, Dataset]] = field(default_factory=list)
    #: SOP Instance UIDs C-STOREd although nobody asked for them ("unsolicited").
    unsolicited_uids: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)


@contextlib.contextmanager
def rogue_qr_scp(
    behaviour: Behaviour,
    datasets: Iterable[Dataset] = (),
    *,
    aet: str = "ROGUE",
    destinations: Mapping[str, tuple[str, int]] | None = None,
    delay: float = 0.5,
    matches: int = 5000,
    failed: int = 3,
    unsolicited: int = 2,
    required_aet: str = "SOMEONE_ELSE",
    hang: float = 60,
) -> Iterator[RogueSCP]:
    """Run a pynetdicom Q/R SCP (Patient and Study Root FIND/MOVE/GET) on a free port.

    behaviour
        ``"normal"``: C-FIND at PATIENT/STUDY/SERIES/IMAGE level over ``datasets``;
        C-MOVE C-STOREs the matches to ``destinations[MoveDestination]`` (unknown: 0xA801);
        C-GET C-STOREs them back on the same association.
        ``"slow"``: like normal, each C-FIND pending response after ``delay`` seconds.
        ``"no_final"``: C-FIND sends its pendings, then no final response; the association
        stays open until the peer aborts, the fixture ends or ``hang`` seconds pass.
        ``"many"``: C-FIND answers ``matches`` (5,000) pending responses.
        ``"reject"``: every association is rejected with "called AE title not
        recognized": the server only answers to ``required_aet``, clients call ``aet``.
        ``"success_all_failed"``: C-MOVE/C-GET performs no sub-operation and answers
        Success (0x0000) with Number of Failed Sub-operations = ``failed``.
        ``"unsolicited"``: C-MOVE sends the matches plus ``unsolicited`` instances of a
        study nobody asked for (new UIDs, in ``scp.unsolicited_uids``), then Success.
    datasets
        What the SCP holds (for C-STORE they need file_meta or get Explicit VR LE).
    """
    if behaviour not in _HANDLERS:
        raise ValueError(f"unknown behaviour {behaviour!r}; choose from {sorted(_HANDLERS)}")
    scp = RogueSCP(behaviour, aet, free_port(), [_with_file_meta(ds) for ds in datasets],
                   dict(destinations or {}), delay, matches, failed, unsolicited, hang)
    ae = AE(ae_title=required_aet if behaviour == "reject" else aet)
    ae.require_called_aet = True
    ae.acse_timeout = 10
    ae.dimse_timeout = 30
    ae.network_timeout = max(hang, 30)
    ae.maximum_associations = 16
    for sop_class in (Verification,
                      PatientRootQueryRetrieveInformationModelFind,
                      PatientRootQueryRetrieveInformationModelMove,
                      PatientRootQueryRetrieveInformationModelGet,
                      StudyRootQueryRetrieveInformationModelFind,
                      StudyRootQueryRetrieveInformationModelMove,
                      StudyRootQueryRetrieveInformationModelGet):
        ae.add_supported_context(sop_class)
    # C-GET: the SCU proposes storage contexts in which it takes the SCP role.
    for cx in StoragePresentationContexts:
        ae.add_supported_context(str(cx.abstract_syntax), scp_role=True, scu_role=False)
    handlers: list[Any] = [(event, handler, [scp])
                           for event, handler in _HANDLERS[behaviour].items()]
    handlers.append((evt.EVT_C_ECHO, lambda event: 0x0000))
    server = ae.start_server(("127.0.0.1", scp.port), block=False, evt_handlers=handlers)
    assert server is not None
    try:
        yield scp
    finally:
        scp.stopping.set()  # lets a blocked "no_final" handler return
        server.shutdown()
        ae.shutdown()


def _with_file_meta(ds: Dataset) -> Dataset:
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


# -- matching ------------------------------------------------------------------------

def _value_matches(key: Any, value: Any, vr: str) -> bool:
    """PS3.4 C.2.2.2: single value, UID list, wildcard and range matching (simplified)."""
    values = [str(v) for v in (value if _is_multi(value) else [value])]
    if vr == "UI":
        wanted = {str(k) for k in (key if _is_multi(key) else str(key).split("\\"))}
        return any(v in wanted for v in values)
    text = str(key)
    if vr in ("DA", "TM", "DT") and "-" in text:
        low, high = text.split("-", 1)
        return any((not low or v >= low) and (not high or v <= high) for v in values)
    if "*" in text or "?" in text:
        pattern = text.upper() if vr == "PN" else text
        return any(fnmatch.fnmatchcase(v.upper() if vr == "PN" else v, pattern)
                   for v in values)
    return any(v == text for v in values)


def _is_multi(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue"


def _matches(ds: Dataset, identifier: Dataset) -> bool:
    for elem in identifier:
        if elem.keyword in _NOT_MATCHED or elem.keyword == "ModalitiesInStudy":
            continue
        if elem.VR == "SQ" or elem.value in (None, "", b"") or elem.value == []:
            continue  # universal matching
        if elem.keyword not in ds:
            return False
        if not _value_matches(elem.value, ds[elem.keyword].value, elem.VR):
            return False
    return True


def _select(scp: RogueSCP, identifier: Dataset) -> list[Dataset]:
    """The held instances matching ``identifier`` (at any level)."""
    found = [ds for ds in scp.datasets if _matches(ds, identifier)]
    modalities = identifier.get("ModalitiesInStudy")
    if modalities:
        wanted = set(modalities if _is_multi(modalities) else [modalities])
        studies = {ds.StudyInstanceUID for ds in found if ds.get("Modality") in wanted}
        found = [ds for ds in found if ds.StudyInstanceUID in studies]
    return found


def _find_responses(scp: RogueSCP, identifier: Dataset) -> list[Dataset]:
    """One response identifier per matching entity at the requested level."""
    level = str(identifier.get("QueryRetrieveLevel", "STUDY"))
    key = _LEVEL_KEY.get(level, "StudyInstanceUID")
    groups: dict[str, list[Dataset]] = {}
    for ds in _select(scp, identifier):
        groups.setdefault(str(ds.get(key, "")), []).append(ds)
    return [_response(scp, identifier, level, members) for members in groups.values()]


def _response(scp: RogueSCP, identifier: Dataset, level: str, members: list[Dataset]) -> Dataset:
    first = members[0]
    computed = {
        "NumberOfStudyRelatedInstances": len(members),
        "NumberOfSeriesRelatedInstances": len(members),
        "NumberOfPatientRelatedInstances": len(members),
        "NumberOfStudyRelatedSeries": len({ds.SeriesInstanceUID for ds in members}),
        "NumberOfPatientRelatedStudies": len({ds.StudyInstanceUID for ds in members}),
        "ModalitiesInStudy": sorted({str(ds.Modality) for ds in members if "Modality" in ds}),
        "InstanceAvailability": "ONLINE",
        "RetrieveAETitle": scp.aet,
    }
    rsp = Dataset()
    if "SpecificCharacterSet" in first:
        rsp.SpecificCharacterSet = first.SpecificCharacterSet
    for elem in identifier:
        if elem.keyword in ("SpecificCharacterSet", "QueryRetrieveLevel") or not elem.keyword:
            continue
        if elem.keyword in computed:
            setattr(rsp, elem.keyword, computed[elem.keyword])
        elif elem.keyword in first:
            rsp[elem.tag] = first[elem.tag]
        else:
            rsp.add_new(elem.tag, elem.VR, None)
    rsp.QueryRetrieveLevel = level
    return rsp


def _synthetic(identifier: Dataset, count: int) -> Iterator[Dataset]:
    """``count`` made-up study-level matches for the patient asked for."""
    root = generate_uid()[:48]
    for i in range(1, count + 1):
        rsp = Dataset()
        rsp.SpecificCharacterSet = "ISO_IR 100"
        rsp.QueryRetrieveLevel = str(identifier.get("QueryRetrieveLevel", "STUDY"))
        rsp.PatientID = str(identifier.get("PatientID", "") or "MANY")
        rsp.PatientName = "Many^Matches"
        rsp.StudyInstanceUID = f"{root}.{i}"
        rsp.StudyDate = "20240101"
        rsp.StudyDescription = f"STUDY {i}"
        yield rsp


def _identifier(scp: RogueSCP, event: Any, operation: str) -> Dataset:
    identifier: Dataset = event.identifier
    scp.requests.append((operation, identifier))
    return identifier


# -- handlers, one small function per behaviour ----------------------------------------

def _find_normal(event: Any, scp: RogueSCP) -> Iterator[tuple[int, Dataset | None]]:
    for rsp in _find_responses(scp, _identifier(scp, event, "C-FIND")):
        if event.is_cancelled:
            yield 0xFE00, None
            return
        yield 0xFF00, rsp


def _find_slow(event: Any, scp: RogueSCP) -> Iterator[tuple[int, Dataset | None]]:
    identifier = _identifier(scp, event, "C-FIND")
    answers = _find_responses(scp, identifier) if scp.datasets else _synthetic(identifier, 3)
    for rsp in answers:
        if scp.stopping.wait(scp.delay):
            return
        if event.is_cancelled:
            yield 0xFE00, None
            return
        yield 0xFF00, rsp


def _find_many(event: Any, scp: RogueSCP) -> Iterator[tuple[int, Dataset | None]]:
    for rsp in _synthetic(_identifier(scp, event, "C-FIND"), scp.matches):
        if event.is_cancelled:
            yield 0xFE00, None
            return
        yield 0xFF00, rsp


def _find_no_final(event: Any, scp: RogueSCP) -> Iterator[tuple[int, Dataset | None]]:
    identifier = _identifier(scp, event, "C-FIND")
    answers = _find_responses(scp, identifier) if scp.datasets else _synthetic(identifier, 3)
    yield from ((0xFF00, rsp) for rsp in answers)
    # Hold the association without a final response (C-CANCEL is ignored too) until the
    # peer goes away; then abort, so pynetdicom sends nothing more.
    deadline = time.monotonic() + scp.hang
    while not scp.stopping.wait(0.05) and time.monotonic() < deadline:
        if event.assoc.dul.state_machine.current_state != "Sta6":
            break
    event.assoc.abort()


def _move_normal(event: Any, scp: RogueSCP) -> Iterator[Any]:
    identifier = _identifier(scp, event, "C-MOVE")
    destination = scp.destinations.get(str(event.move_destination or "").strip())
    if destination is None:
        yield None, None  # 0xA801 Move Destination unknown
        return
    found = _select(scp, identifier)
    yield from _suboperations(event, destination, found)


def _move_unsolicited(event: Any, scp: RogueSCP) -> Iterator[Any]:
    identifier = _identifier(scp, event, "C-MOVE")
    destination = scp.destinations.get(str(event.move_destination or "").strip())
    if destination is None:
        yield None, None
        return
    study_uid, series_uid = generate_uid(), generate_uid()
    intruders = [_with_file_meta(make_ct(patient_id="UNSOLICITED", patient_name="Nobody^Asked",
                                         study_instance_uid=study_uid,
                                         series_instance_uid=series_uid))
                 for _ in range(scp.unsolicited)]
    scp.unsolicited_uids.extend(ds.SOPInstanceUID for ds in intruders)
    yield from _suboperations(event, destination, _select(scp, identifier) + intruders)


def _suboperations(event: Any, destination: tuple[str, int],
                   found: list[Dataset]) -> Iterator[Any]:
    classes = sorted({str(ds.SOPClassUID) for ds in found})
    contexts = [build_context(uid, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
                for uid in classes]
    yield destination[0], destination[1], {"contexts": contexts}
    yield len(found)
    for ds in found:
        if event.is_cancelled:
            yield 0xFE00, None
            return
        yield 0xFF00, ds


def _get_normal(event: Any, scp: RogueSCP) -> Iterator[Any]:
    found = _select(scp, _identifier(scp, event, "C-GET"))
    yield len(found)
    for ds in found:
        if event.is_cancelled:
            yield 0xFE00, None
            return
        yield 0xFF00, ds


def _report_success_with_failures(event: Any, scp: RogueSCP) -> None:
    """Make this association's final C-MOVE/C-GET Success claim ``scp.failed`` failures.

    pynetdicom counts sub-operations itself, so the final response it sends (Success,
    all counts 0, after zero sub-operations) is rewritten on its way out.
    """
    dimse = event.assoc.dimse
    send_msg: Callable[..., None] = type(dimse).send_msg.__get__(dimse)

    def lying_send_msg(primitive: Any, context_id: int) -> None:
        if type(primitive).__name__ in ("C_MOVE", "C_GET") and primitive.Status == 0x0000:
            primitive.NumberOfFailedSuboperations = scp.failed
            primitive.NumberOfCompletedSuboperations = 0
            primitive.NumberOfWarningSuboperations = 0
        send_msg(primitive, context_id)

    dimse.send_msg = lying_send_msg


def _move_success_all_failed(event: Any, scp: RogueSCP) -> Iterator[Any]:
    _identifier(scp, event, "C-MOVE")
    _report_success_with_failures(event, scp)
    yield "127.0.0.1", 1  # never contacted: zero sub-operations follow
    yield 0


def _get_success_all_failed(event: Any, scp: RogueSCP) -> Iterator[Any]:
    _identifier(scp, event, "C-GET")
    _report_success_with_failures(event, scp)
    yield 0


def _build_handlers() -> dict[str, dict[Any, Callable[..., Any]]]:
    normal = {evt.EVT_C_FIND: _find_normal, evt.EVT_C_MOVE: _move_normal,
              evt.EVT_C_GET: _get_normal}
    return {
        "normal": normal,
        "slow": {**normal, evt.EVT_C_FIND: _find_slow},
        "no_final": {**normal, evt.EVT_C_FIND: _find_no_final},
        "many": {**normal, evt.EVT_C_FIND: _find_many},
        "reject": {},
        "success_all_failed": {**normal, evt.EVT_C_MOVE: _move_success_all_failed,
                               evt.EVT_C_GET: _get_success_all_failed},
        "unsolicited": {**normal, evt.EVT_C_MOVE: _move_unsolicited},
    }


_HANDLERS = _build_handlers()
