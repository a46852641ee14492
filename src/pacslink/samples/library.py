"""The demo library: four animal patients, six studies, every kind of sample image.

:func:`generate_demo_library` writes it as Part 10 files under
``folder/<PatientID>/ST<nn>/SE<nn>/IM<nnnn>.dcm`` (directory and file names are numbers
we choose; Patient IDs are ours too) and returns a :class:`SampleStudy` per study.

=========  =====================================  ====================================
Patient    Study                                  Series
=========  =====================================  ====================================
VET001     CT HEAD                                CT, 100 slices 512x512 (quick 20x256)
VET001     THORAX RADIOGRAPHS                     DX, VD + lateral 1024x1024, MONOCHROME1
VET002     ECHOCARDIOGRAPHY                       US cine, 40 RGB frames 320x240
VET002     CLINICAL PHOTOS                        XC, VL Photographic RGB 640x480
VET003     MRT Schädel (ISO_IR 192)               MR T1 + T2, 20 slices 256x256, JPEG 2000
VET003     Fotodokumentation                      XC photo
VET004     皮膚科 写真 (ISO_IR 192)               XC photo
=========  =====================================  ====================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from pacslink.samples.base import SamplePatient, SeriesInfo, StudyInfo, add_seconds, write_series
from pacslink.samples.ct import ct_series
from pacslink.samples.dx import dx_image
from pacslink.samples.mr import mr_series
from pacslink.samples.photo import vl_photo
from pacslink.samples.us import us_cine

#: The demo patients. VET003 and VET004 have non-ASCII names (written as ISO_IR 192).
PATIENTS: tuple[SamplePatient, ...] = (
    SamplePatient("VET001", "Rex^Demo", "Canine", "Labrador Retriever", "M", "ALTERED",
                  "20180301", "Smith^John", 32.5),
    SamplePatient("VET002", "Bella^Demo", "Feline", "Domestic Shorthair", "F", "ALTERED",
                  "20200715", "Doe^Jane", 4.2),
    SamplePatient("VET003", "Müller^Bärli", "Canine", "Berner Sennenhund", "F", "UNALTERED",
                  "20190422", "Jørgensen^Åsa", 41.0),
    SamplePatient("VET004", "Yamada^Momo=山田^もも=やまだ^もも", "Canine", "Shiba Inu", "F",
                  "ALTERED", "20210109", "Yamada^Taro=山田^太郎=やまだ^たろう", 9.1),
)


@dataclass(frozen=True)
class SampleStudy:
    """What :func:`generate_demo_library` wrote for one study.

    Attributes
    ----------
    patient_id, patient_name : str
        (0010,0020) Patient ID and (0010,0010) Patient's Name.
    study_instance_uid, study_description, study_date : str
        From the General Study module.
    modalities : tuple of str
        (0008,0060) Modality of each series, in series order.
    series_count, instance_count : int
        Series and instances (files) written.
    folder : pathlib.Path
        The study's folder, ``<folder>/<PatientID>/ST<nn>``.
    """

    patient_id: str
    patient_name: str
    study_instance_uid: str
    study_description: str
    study_date: str
    modalities: tuple[str, ...]
    series_count: int
    instance_count: int
    folder: Path


#: One series of a study plan: its description and a factory of its data sets.
_SeriesPlan = tuple[SeriesInfo, Callable[[SeriesInfo], Iterable[Dataset]]]


def _plans(quick: bool) -> list[tuple[SamplePatient, StudyInfo, list[_SeriesPlan]]]:
    rex, bella, baerli, momo = PATIENTS
    ct_slices, ct_size = (20, 256) if quick else (100, 512)
    dx_size = 512 if quick else 1024
    us_frames = 10 if quick else 40
    mr_slices, mr_size = (6, 128) if quick else (20, 256)
    photo_rows, photo_columns = (240, 320) if quick else (480, 640)

    def study(description: str, date: str, time: str, accession: str) -> StudyInfo:
        return StudyInfo(description, date, time, accession[-1], accession,
                         "Vet^Referring")

    def series(modality: str, number: int, description: str, part: str, st: StudyInfo,
               ) -> SeriesInfo:
        return SeriesInfo(modality, number, description, part,
                          add_seconds(st.study_time, 60 * number))

    ct = study("CT HEAD", "20250614", "093000", "A250614001")
    dx = study("THORAX RADIOGRAPHS", "20250602", "111500", "A250602002")
    us = study("ECHOCARDIOGRAPHY", "20250520", "140000", "A250520003")
    bella_photo = study("CLINICAL PHOTOS", "20250520", "143000", "A250520004")
    mr = study("MRT Schädel", "20250411", "101500", "A250411005")
    baerli_photo = study("Fotodokumentation", "20250411", "110000", "A250411006")
    momo_photo = study("皮膚科 写真", "20250610", "164500", "A250610007")
    mr_frame = generate_uid()  # one Frame of Reference for the T1 and T2 series

    def mr_plan(weighting: str, seed: int) -> Callable[[SeriesInfo], Iterable[Dataset]]:
        return lambda s: mr_series(baerli, mr, s, weighting=weighting, slices=mr_slices,
                                   size=mr_size, frame_of_reference_uid=mr_frame, seed=seed)

    def photo(patient: SamplePatient, st: StudyInfo, coat: str, seed: int) -> _SeriesPlan:
        return (series("XC", 1, "Clinical photograph", "WHOLEBODY", st),
                lambda s: [vl_photo(patient, st, s, coat=coat, rows=photo_rows,
                                    columns=photo_columns, seed=seed)])

    return [
        (rex, ct, [(series("CT", 1, "Axial brain", "SKULL", ct),
                    lambda s: ct_series(rex, ct, s, slices=ct_slices, size=ct_size))]),
        (rex, dx, [(series("DX", 1, "Thorax", "CHEST", dx),
                    lambda s: [dx_image(rex, dx, s, view=v, size=dx_size, instance_number=n)
                               for n, v in enumerate(("VD", "LAT"), 1)])]),
        (bella, us, [(series("US", 1, "Echocardiography", "HEART", us),
                      lambda s: [us_cine(bella, us, s, frames=us_frames)])]),
        (bella, bella_photo, [photo(bella, bella_photo, "tabby", 6)]),
        (baerli, mr, [(series("MR", 1, "Ax T1 SE", "SKULL", mr), mr_plan("T1", 7)),
                      (series("MR", 2, "Ax T2 SE", "SKULL", mr), mr_plan("T2", 8))]),
        (baerli, baerli_photo, [photo(baerli, baerli_photo, "black", 9)]),
        (momo, momo_photo, [photo(momo, momo_photo, "red", 10)]),
    ]



def generate_demo_library(folder: Path, *, quick: bool = False) -> list[SampleStudy]:
    """Write the demo library as Part 10 files and describe each study.

    Parameters
    ----------
    folder : pathlib.Path
        Created if missing; files go to ``folder/<PatientID>/ST<nn>/SE<nn>/IM<nnnn>.dcm``.
    quick : bool
        A reduced set for tests: 20 CT slices of 256x256, radiographs of 512x512, 10
        cine frames, 6 MR slices of 128x128 per series and 320x240 photos. The full set
        (about 70 MB) takes a few seconds.

    Returns
    -------
    list of SampleStudy
        One per study, in the order written; UIDs are new on every call.

    Raises
    ------
    FileExistsError
        If ``folder`` already holds ``.dcm`` files, so a quick set never mixes with a
        full one or with an earlier generation's UIDs.
    """
    if folder.is_dir() and any(folder.rglob("*.dcm")):
        raise FileExistsError(f"{folder} already holds DICOM files; "
                              "use an empty or new folder for the sample library")
    studies = []
    study_numbers: dict[str, int] = {}
    for patient, study, plans in _plans(quick):
        number = study_numbers[patient.patient_id] = study_numbers.get(patient.patient_id, 0) + 1
        study_folder = folder / patient.patient_id / f"ST{number:02d}"
        count = 0
        for series, make in plans:
            count += len(write_series(study_folder / f"SE{series.series_number:02d}",
                                      make(series)))
        studies.append(SampleStudy(
            patient.patient_id, patient.patient_name, study.study_instance_uid,
            study.study_description, study.study_date,
            tuple(series.modality for series, _ in plans), len(plans), count, study_folder))
    return studies
