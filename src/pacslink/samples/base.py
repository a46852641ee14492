"""What every sample instance shares: patient, study, series, equipment and file layout.

A :class:`SamplePatient` and a :class:`StudyInfo` are plain values; :func:`new_instance`
turns them into the modules common to all image IODs (PS3.3 C.7.1.1 Patient,
C.7.2.1 General Study, C.7.2.2 Patient Study, C.7.3.1 General Series, C.7.5.1 General
Equipment, C.7.6.1 General Image, C.12.1 SOP Common). The modality modules add the rest.

The patients are animals, so the veterinary attributes of the Patient module are filled
in: Patient Species Description, Patient Breed Description, Patient Sex Neutered,
Responsible Person (the owner) with Responsible Person Role ``OWNER``, and Anatomical
Orientation Type ``QUADRUPED`` (PS3.3 C.7.3.1.1.1) on every series.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

#: (0008,0070) Manufacturer of every sample instance.
MANUFACTURER = "pacslink sample data"
#: (0008,0080) Institution Name of every sample instance.
INSTITUTION = "Demo Veterinary Clinic"


@dataclass(frozen=True)
class SamplePatient:
    """An animal patient and its owner.

    Parameters
    ----------
    patient_id : str
        (0010,0020) Patient ID, e.g. ``"VET001"``.
    patient_name : str
        (0010,0010) Patient's Name in PS3.5 PN form, e.g. ``"Rex^Demo"``.
    species, breed : str
        (0010,2201) Patient Species Description and (0010,2292) Patient Breed Description.
    sex : str
        (0010,0040) Patient's Sex: ``"M"``, ``"F"`` or ``"O"``.
    neutered : str
        (0010,2203) Patient Sex Neutered: ``"ALTERED"`` or ``"UNALTERED"``.
    birth_date : str
        (0010,0030) Patient's Birth Date, ``YYYYMMDD``.
    owner : str
        (0010,2297) Responsible Person, with Responsible Person Role ``OWNER``.
    weight_kg : float
        (0010,1030) Patient's Weight in kilograms.
    """

    patient_id: str
    patient_name: str
    species: str = "Canine"
    breed: str = "Labrador Retriever"
    sex: str = "M"
    neutered: str = "ALTERED"
    birth_date: str = "20180301"
    owner: str = "Smith^John"
    weight_kg: float = 32.5


@dataclass(frozen=True)
class StudyInfo:
    """The General Study module values shared by every instance of one study.

    Parameters
    ----------
    study_description : str
        (0008,1030) Study Description.
    study_date, study_time : str
        (0008,0020) Study Date ``YYYYMMDD`` and (0008,0030) Study Time ``HHMMSS``.
    study_id, accession_number : str
        (0020,0010) Study ID and (0008,0050) Accession Number.
    referring_physician_name : str
        (0008,0090) Referring Physician's Name.
    study_instance_uid : str
        (0020,000D) Study Instance UID; a new one by default.
    """

    study_description: str
    study_date: str = "20250614"
    study_time: str = "093000"
    study_id: str = "1"
    accession_number: str = "DEMO0001"
    referring_physician_name: str = "Vet^Referring"
    study_instance_uid: str = ""

    def __post_init__(self) -> None:
        if not self.study_instance_uid:
            object.__setattr__(self, "study_instance_uid", generate_uid())


@dataclass(frozen=True)
class SeriesInfo:
    """The General Series values of one series.

    Parameters
    ----------
    modality : str
        (0008,0060) Modality.
    series_number : int
        (0020,0011) Series Number.
    series_description : str
        (0008,103E) Series Description.
    body_part : str
        (0018,0015) Body Part Examined.
    series_time : str
        (0008,0031) Series Time ``HHMMSS``; also the start of each Content Time.
    series_instance_uid : str
        (0020,000E) Series Instance UID; a new one by default.
    """

    modality: str
    series_number: int = 1
    series_description: str = ""
    body_part: str = ""
    series_time: str = "093100"
    series_instance_uid: str = ""

    def __post_init__(self) -> None:
        if not self.series_instance_uid:
            object.__setattr__(self, "series_instance_uid", generate_uid())


def _is_ascii(*values: str) -> bool:
    return all(value.isascii() for value in values)


def add_seconds(hhmmss: str, seconds: int) -> str:
    """``hhmmss`` plus ``seconds``, wrapping at midnight (for Content Time)."""
    total = int(hhmmss[:2]) * 3600 + int(hhmmss[2:4]) * 60 + int(hhmmss[4:6]) + seconds
    total %= 86400
    return f"{total // 3600:02d}{total // 60 % 60:02d}{total % 60:02d}"


def new_instance(
    sop_class_uid: str,
    patient: SamplePatient,
    study: StudyInfo,
    series: SeriesInfo,
    *,
    instance_number: int = 1,
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY"),
    model: str = "Sample",
) -> Dataset:
    """Return a data set with the modules every sample image shares, ready for pixels.

    Parameters
    ----------
    sop_class_uid : str
        (0008,0016) SOP Class UID; the SOP Instance UID is generated.
    patient, study, series : SamplePatient, StudyInfo, SeriesInfo
        Who, which study and which series.
    instance_number : int
        (0020,0013) Instance Number; Content Time is Series Time plus this many seconds.
    image_type : tuple of str
        (0008,0008) Image Type.
    model : str
        (0008,1090) Manufacturer's Model Name.

    Returns
    -------
    pydicom.dataset.Dataset
        With file meta (Explicit VR Little Endian) and, when any text is not ASCII,
        Specific Character Set ``ISO_IR 192`` (UTF-8, PS3.5 6.1.2.5.3).
    """
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if not _is_ascii(patient.patient_name, patient.owner, patient.breed,
                     study.study_description, series.series_description):
        ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = list(image_type)
    ds.InstanceCreationDate = study.study_date
    ds.InstanceCreationTime = series.series_time
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = generate_uid()
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study.study_date
    ds.StudyTime, ds.SeriesTime = study.study_time, series.series_time
    ds.ContentTime = add_seconds(series.series_time, instance_number)
    ds.AccessionNumber = study.accession_number
    ds.Modality = series.modality
    ds.Manufacturer = MANUFACTURER
    ds.InstitutionName = INSTITUTION
    ds.ReferringPhysicianName = study.referring_physician_name
    ds.StationName = "DEMO" + series.modality
    ds.StudyDescription = study.study_description
    ds.SeriesDescription = series.series_description
    ds.ManufacturerModelName = model
    ds.PatientName = patient.patient_name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    ds.PatientAge = f"{max(0, int(study.study_date[:4]) - int(patient.birth_date[:4])):03d}Y"
    ds.PatientWeight = f"{patient.weight_kg:g}"
    ds.PatientSpeciesDescription = patient.species
    ds.PatientSexNeutered = patient.neutered
    ds.PatientBreedDescription = patient.breed
    ds.PatientBreedCodeSequence = []
    ds.BreedRegistrationSequence = []
    ds.ResponsiblePerson = patient.owner
    ds.ResponsiblePersonRole = "OWNER"
    ds.ResponsibleOrganization = ""
    ds.DeviceSerialNumber = "0001"
    ds.SoftwareVersions = "1.0"
    if series.body_part:
        ds.BodyPartExamined = series.body_part
    ds.StudyInstanceUID = study.study_instance_uid
    ds.SeriesInstanceUID = series.series_instance_uid
    ds.StudyID = study.study_id
    ds.SeriesNumber = series.series_number
    ds.InstanceNumber = instance_number
    ds.AnatomicalOrientationType = "QUADRUPED"
    return ds


def set_pixels(ds: Dataset, pixels: np.ndarray, *, bits_stored: int,
               photometric: str = "MONOCHROME2") -> None:
    """Fill the Image Pixel module (PS3.3 C.7.6.3) from an unsigned integer array.

    ``pixels`` is ``(rows, columns)``, ``(frames, rows, columns)`` or, for ``RGB``,
    ``(..., rows, columns, 3)`` stored colour-by-pixel (Planar Configuration 0).
    """
    color = photometric == "RGB"
    shape = pixels.shape[:-1] if color else pixels.shape
    ds.SamplesPerPixel = 3 if color else 1
    ds.PhotometricInterpretation = photometric
    if color:
        ds.PlanarConfiguration = 0
    if len(shape) == 3:
        ds.NumberOfFrames = shape[0]
    ds.Rows, ds.Columns = shape[-2], shape[-1]
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits_stored, bits_stored - 1, 0
    ds.PixelData = np.ascontiguousarray(pixels).astype(pixels.dtype.newbyteorder("<")).tobytes()


def write_series(folder: Path, datasets: Iterable[Dataset]) -> list[Path]:
    """Save data sets as Part 10 files ``IM0001.dcm`` ... in ``folder``.

    Parameters
    ----------
    folder : pathlib.Path
        Created if missing. File names come from the position in ``datasets``, never
        from values inside the data sets.
    datasets : iterable of pydicom.dataset.Dataset
        Each with ``file_meta`` holding its Transfer Syntax UID.

    Returns
    -------
    list of pathlib.Path
        The files written, in order.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, ds in enumerate(datasets, 1):
        path = folder / f"IM{n:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
