"""The sample library of ``pacslink.samples``: parseable, decodable, valid and realistic.

Most tests share one quick library (``quick=True``); one test builds the full set and
checks its size and image dimensions. ``dciodvfy`` (dicom3tools) checks one file
of each kind against the IOD definitions of PS3.3.
"""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    MRImageStorage,
    UltrasoundMultiFrameImageStorage,
    VLPhotographicImageStorage,
)

from pacslink.samples import (
    PATIENTS,
    SampleStudy,
    StudyInfo,
    ct_phantom_series,
    generate_demo_library,
    mr_series,
)
from tests.peers import require

Library = tuple[Path, list[SampleStudy]]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    folder = tmp_path_factory.mktemp("samples")
    return folder, generate_demo_library(folder, quick=True)


def read_all(folder: Path) -> dict[Path, pydicom.Dataset]:
    return {path: pydicom.dcmread(path) for path in sorted(folder.rglob("*.dcm"))}


def by_sop_class(folder: Path, sop_class_uid: str) -> list[pydicom.Dataset]:
    return [ds for ds in read_all(folder).values() if ds.SOPClassUID == sop_class_uid]


def expected_shape(ds: pydicom.Dataset) -> tuple[int, ...]:
    shape: tuple[int, ...] = (ds.Rows, ds.Columns)
    if int(ds.get("NumberOfFrames", 1)) > 1:
        shape = (int(ds.NumberOfFrames), *shape)
    return (*shape, 3) if ds.SamplesPerPixel == 3 else shape


def test_every_file_parses_and_its_pixels_decode(library: Library) -> None:
    folder, studies = library
    datasets = read_all(folder)
    assert len(datasets) == sum(s.instance_count for s in studies)
    kinds = set()
    for path, ds in datasets.items():
        pixels = ds.pixel_array
        assert pixels.shape == expected_shape(ds), path
        assert pixels.dtype == (np.uint16 if ds.BitsAllocated == 16 else np.uint8), path
        assert ds.Manufacturer == "pacslink sample data"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        kinds.add((ds.SOPClassUID, ds.file_meta.TransferSyntaxUID))
    assert kinds == {
        (CTImageStorage, ExplicitVRLittleEndian),
        (DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian),
        (UltrasoundMultiFrameImageStorage, ExplicitVRLittleEndian),
        (VLPhotographicImageStorage, ExplicitVRLittleEndian),
        (MRImageStorage, JPEG2000Lossless),
    }


def test_layout_descriptions_and_uids_agree(library: Library) -> None:
    folder, studies = library
    assert [s.patient_id for s in studies] == ["VET001", "VET001", "VET002", "VET002",
                                               "VET003", "VET003", "VET004"]
    sop_uids = set()
    for study in studies:
        assert study.folder.parent == folder / study.patient_id
        datasets = list(read_all(study.folder).values())
        assert len(datasets) == study.instance_count
        assert {ds.StudyInstanceUID for ds in datasets} == {study.study_instance_uid}
        assert {ds.PatientID for ds in datasets} == {study.patient_id}
        assert {str(ds.PatientName) for ds in datasets} == {study.patient_name}
        assert {ds.StudyDescription for ds in datasets} == {study.study_description}
        assert len({ds.SeriesInstanceUID for ds in datasets}) == study.series_count
        assert len({ds.AccessionNumber for ds in datasets}) == 1
        for series_folder in sorted(study.folder.iterdir()):
            series = list(read_all(series_folder).values())
            assert len({ds.SeriesInstanceUID for ds in series}) == 1
            assert [ds.InstanceNumber for ds in series] == list(range(1, len(series) + 1))
        assert tuple(sorted({ds.Modality for ds in datasets})) == tuple(sorted(set(study.modalities)))
        sop_uids |= {ds.SOPInstanceUID for ds in datasets}
    assert len(sop_uids) == sum(s.instance_count for s in studies)
    assert len({s.study_instance_uid for s in studies}) == len(studies)


def test_patients_look_like_a_vet_clinics(library: Library) -> None:
    folder, _ = library
    for ds in read_all(folder).values():
        assert ds.PatientID.startswith("VET")
        assert ds.PatientSpeciesDescription in ("Canine", "Feline")
        assert ds.PatientBreedDescription
        assert ds.ResponsiblePerson and ds.ResponsiblePersonRole == "OWNER"
        assert ds.PatientSex in ("M", "F", "O")
        assert ds.PatientSexNeutered in ("ALTERED", "UNALTERED")
        assert ds.AnatomicalOrientationType == "QUADRUPED"
        assert len(ds.StudyDate) == 8 and len(ds.StudyTime) == 6


def test_ct_is_in_hounsfield_units_with_consistent_geometry(library: Library) -> None:
    folder, _ = library
    slices = sorted(by_sop_class(folder, CTImageStorage), key=lambda ds: ds.InstanceNumber)
    assert len(slices) == 20 and slices[0].Rows == slices[0].Columns == 256
    middle = slices[len(slices) // 2]
    hu = middle.pixel_array * float(middle.RescaleSlope) + float(middle.RescaleIntercept)
    assert hu[0, 0] == -1000  # air
    assert hu.max() > 700  # skull
    assert 20 <= np.median(hu[100:156, 120:136]) <= 60  # brain
    assert middle.RescaleType == "HU" and float(middle.WindowWidth[0]) > 0
    z = [float(ds.ImagePositionPatient[2]) for ds in slices]
    assert z == sorted(z) and len(set(z)) == len(z)
    assert [float(ds.SliceLocation) for ds in slices] == z
    assert len({ds.FrameOfReferenceUID for ds in slices}) == 1


def test_phantom_series_makes_100_slices_of_512() -> None:
    slices = list(ct_phantom_series(slices=100, size=512))
    assert len(slices) == 100
    assert len(slices[0].PixelData) == 512 * 512 * 2


def test_mr_series_is_jpeg_2000_lossless(library: Library) -> None:
    folder, _ = library
    mr = by_sop_class(folder, MRImageStorage)
    assert {ds.file_meta.TransferSyntaxUID for ds in mr} == {JPEG2000Lossless}
    assert "LossyImageCompression" not in mr[0] or mr[0].LossyImageCompression == "00"
    assert len({ds.FrameOfReferenceUID for ds in mr}) == 1  # T1 and T2 acquired together
    # Same seed, uncompressed: decoding the JPEG 2000 gives back exactly the same values.
    study = StudyInfo("x")
    encoded = list(mr_series(PATIENTS[2], study, slices=2, size=64, compress=True, seed=11))
    raw = list(mr_series(PATIENTS[2], study, slices=2, size=64, compress=False, seed=11))
    for a, b in zip(encoded, raw):
        assert a.file_meta.TransferSyntaxUID == JPEG2000Lossless
        assert len(a.PixelData) < len(b.PixelData)
        assert np.array_equal(a.pixel_array, b.pixel_array)


def test_photograph_is_rgb(library: Library) -> None:
    folder, _ = library
    photos = by_sop_class(folder, VLPhotographicImageStorage)
    assert len(photos) == 3
    for ds in photos:
        assert (ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration) == (3, "RGB", 0)
        assert (ds.BitsAllocated, ds.BitsStored, ds.Modality) == (8, 8, "XC")
        pixels = ds.pixel_array
        assert pixels.shape[-1] == 3
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 1000  # a picture, not a fill


def test_ultrasound_cine_moves(library: Library) -> None:
    folder, _ = library
    (ds,) = by_sop_class(folder, UltrasoundMultiFrameImageStorage)
    frames = ds.pixel_array
    assert frames.shape[0] == int(ds.NumberOfFrames) == 10
    assert ds.PhotometricInterpretation == "RGB" and ds.PlanarConfiguration == 0
    assert float(ds.FrameTime) > 0 and int(ds.CineRate) == round(1000 / float(ds.FrameTime))
    assert ds.FrameIncrementPointer == pydicom.tag.Tag("FrameTime")
    for a, b in itertools.pairwise(frames):
        assert not np.array_equal(a, b)
    # The ventricle beats: its dark blood pool changes size between frames.
    pool = [(f[60:180, 120:200].max(axis=-1) < 20).sum() for f in frames]
    assert max(pool) > 1.3 * min(pool)


def test_radiograph_is_monochrome1_for_presentation(library: Library) -> None:
    folder, _ = library
    views = by_sop_class(folder, DigitalXRayImageStorageForPresentation)
    assert len(views) == 2
    for ds in views:
        assert ds.PhotometricInterpretation == "MONOCHROME1"
        assert ds.PresentationLUTShape == "INVERSE"
        assert ds.PresentationIntentType == "FOR PRESENTATION"
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, 14, 13)
        assert len(ds.ImagerPixelSpacing) == 2 and float(ds.WindowWidth) > 0
        pixels = ds.pixel_array
        centre = pixels[ds.Rows // 2, ds.Columns // 2]
        assert pixels[0, 0] > centre  # MONOCHROME1: air high (black), body low (white)
        assert pixels.max() < 2**14


def test_non_ascii_names_round_trip(library: Library) -> None:
    folder, studies = library
    names = {"VET003": ("Müller^Bärli", "Jørgensen^Åsa"),
             "VET004": ("Yamada^Momo=山田^もも=やまだ^もも", "Yamada^Taro=山田^太郎=やまだ^たろう")}
    for patient_id, (patient, owner) in names.items():
        for path in (folder / patient_id).rglob("*.dcm"):
            ds = pydicom.dcmread(path)
            assert ds.SpecificCharacterSet == "ISO_IR 192"
            assert str(ds.PatientName) == patient
            assert str(ds.ResponsiblePerson) == owner
            assert patient.encode("utf-8") in path.read_bytes()
    assert {s.study_description for s in studies if s.patient_id == "VET003"} == {
        "MRT Schädel", "Fotodokumentation"}
    ascii_only = pydicom.dcmread(next((folder / "VET001").rglob("*.dcm")))
    assert "SpecificCharacterSet" not in ascii_only  # default repertoire where it suffices


def test_refuses_a_folder_with_dicom_files(library: Library) -> None:
    folder, _ = library
    with pytest.raises(FileExistsError):
        generate_demo_library(folder, quick=True)


def test_dciodvfy_finds_no_errors(library: Library) -> None:
    dciodvfy = require("dciodvfy")
    folder, _ = library
    firsts: dict[str, Path] = {}
    for path, ds in read_all(folder).items():
        firsts.setdefault(ds.SOPClassUID, path)
    assert len(firsts) == 5
    for path in firsts.values():
        result = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True,
                                timeout=60, check=False)
        report = result.stdout + result.stderr
        errors = [line for line in report.splitlines() if line.startswith("Error")]
        assert not errors, f"{path}:\n{report}"


def test_full_library_contents_and_size(tmp_path: Path) -> None:
    # (generation time is reported in the notes, never asserted: timings are not pass/fail)
    studies = generate_demo_library(tmp_path)
    size = sum(p.stat().st_size for p in tmp_path.rglob("*.dcm"))
    assert size < 150 * 2**20
    counts = {(s.patient_id, s.study_description): s.instance_count for s in studies}
    assert counts[("VET001", "CT HEAD")] == 100
    assert counts[("VET003", "MRT Schädel")] == 40
    shapes = {}
    for study in studies:
        ds = pydicom.dcmread(next(study.folder.rglob("IM0001.dcm")), stop_before_pixels=True)
        shapes[ds.Modality] = expected_shape(ds)
    assert shapes == {"CT": (512, 512), "DX": (1024, 1024), "US": (40, 240, 320, 3),
                      "XC": (480, 640, 3), "MR": (256, 256)}
