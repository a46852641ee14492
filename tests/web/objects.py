"""Non-image DICOM objects for the viewer's attribute table: a Key Object Selection
document (an SR), a 12-lead ECG waveform and an encapsulated PDF, written as Part 10 files.

The first two are storage SOP classes of the conformance statement (the sample PACS can
send them to pacslink); the PDF is only ever imported into a local store directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

KOS = "1.2.840.10008.5.1.4.1.1.88.59"
ECG = "1.2.840.10008.5.1.4.1.1.9.1.1"
PDF = "1.2.840.10008.5.1.4.1.1.104.1"
LONG_TEXT = "Findings: " + "no abnormality detected; " * 40


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _base(sop_class: str, modality: str, patient: tuple[str, str], study_uid: str,
          series_uid: str, series_number: int, instance_number: int) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.PatientID, ds.PatientName = patient
    ds.PatientBirthDate, ds.PatientSex = "20200715", "F"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.StudyDate, ds.StudyTime, ds.StudyID = "20250701", "101500", "9"
    ds.StudyDescription = "REPORTS"
    ds.AccessionNumber = "A250701009"
    ds.ReferringPhysicianName = "Vet^Referring"
    ds.Modality = modality
    ds.SeriesNumber, ds.InstanceNumber = series_number, instance_number
    names = {"KO": "Key images", "ECG": "Resting ECG", "DOC": "Referral letter"}
    ds.SeriesDescription = names[modality]
    ds.Manufacturer = "pacslink test objects"
    return ds


def key_object(patient: tuple[str, str], study_uid: str, series_uid: str) -> Dataset:
    """A Key Object Selection document (PS3.3 A.59) with a long text comment."""
    ds = _base(KOS, "KO", patient, study_uid, series_uid, 20, 1)
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = Sequence([_code("113000", "DCM", "Of Interest")])
    ds.ContinuityOfContent = "SEPARATE"
    ds.ContentTemplateSequence = Sequence([Dataset()])
    ds.ContentTemplateSequence[0].MappingResource = "DCMR"
    ds.ContentTemplateSequence[0].TemplateIdentifier = "2010"
    text = Dataset()
    text.RelationshipType, text.ValueType = "CONTAINS", "TEXT"
    text.ConceptNameCodeSequence = Sequence([_code("113012", "DCM", "Key Object Description")])
    text.TextValue = LONG_TEXT
    ds.ContentSequence = Sequence([text])
    ds.CurrentRequestedProcedureEvidenceSequence = Sequence()
    return ds


def ecg(patient: tuple[str, str], study_uid: str, series_uid: str) -> Dataset:
    """A 12-lead ECG (PS3.3 A.34.3): one multiplex group, 12 channels, 500 samples."""
    ds = _base(ECG, "ECG", patient, study_uid, series_uid, 21, 1)
    group = Dataset()
    group.MultiplexGroupTimeOffset = 0.0
    group.WaveformOriginality = "ORIGINAL"
    group.NumberOfWaveformChannels = 12
    group.NumberOfWaveformSamples = 500
    group.SamplingFrequency = 500
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    channels = []
    for lead in ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"):
        channel = Dataset()
        channel.ChannelSourceSequence = Sequence([_code("2:1", "MDC", f"Lead {lead}")])
        channel.ChannelSensitivity = 1
        channels.append(channel)
    group.ChannelDefinitionSequence = Sequence(channels)
    t = np.arange(500)
    samples = np.stack([(np.sin(t / 20 + k) * 300).astype("<i2") for k in range(12)], axis=1)
    group.WaveformData = samples.tobytes()
    ds.WaveformSequence = Sequence([group])
    return ds


def encapsulated_pdf(patient: tuple[str, str], study_uid: str, series_uid: str) -> Dataset:
    """An Encapsulated PDF (PS3.3 A.45.1) holding a tiny PDF."""
    ds = _base(PDF, "DOC", patient, study_uid, series_uid, 22, 1)
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.DocumentTitle = "Referral letter"
    ds.BurnedInAnnotation = "YES"
    ds.EncapsulatedDocument = b"%PDF-1.4\n% pacslink test\n" + b"0" * 2000 + b"\n%%EOF\n"
    return ds


def save(ds: Dataset, path: Path) -> Path:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_reports(folder: Path, patient: tuple[str, str] = ("VET002", "Bella^Demo"),
                  *, with_pdf: bool = False) -> dict[str, str]:
    """A "REPORTS" study: key objects + ECG (+ PDF); returns their UIDs by name."""
    study = generate_uid()
    kos = key_object(patient, study, generate_uid())
    wave = ecg(patient, study, generate_uid())
    doc = encapsulated_pdf(patient, study, generate_uid())
    save(kos, folder / "kos.dcm")
    save(wave, folder / "ecg.dcm")
    uids = {"study": study, "kos": kos.SOPInstanceUID, "kos_series": kos.SeriesInstanceUID,
            "ecg": wave.SOPInstanceUID, "ecg_series": wave.SeriesInstanceUID}
    if with_pdf:
        save(doc, folder / "pdf" / "doc.dcm")
        uids.update(pdf=doc.SOPInstanceUID, pdf_series=doc.SeriesInstanceUID)
    return uids
