"""Realistic sample DICOM data generated in code (no downloads): a small vet clinic.

Used by ``pacslink demo``, by the sample PACS, and by tests that need images with real
geometry, windowing, multi-frame, colour, compression and character sets.
:func:`generate_demo_library` writes the whole set; the generators build single series:

- :func:`ct_series` / :func:`ct_phantom_series`: CT head phantom in Hounsfield units.
- :func:`mr_series`: MR head phantom, JPEG 2000 lossless (1.2.840.10008.1.2.4.90).
- :func:`dx_image`: DX For Presentation thorax radiograph, MONOCHROME1, 14 bits stored.
- :func:`us_cine`: US Multi-frame RGB echocardiography cine with a beating ventricle.
- :func:`vl_photo`: VL Photographic RGB clinical photograph.

Every instance has Manufacturer ``pacslink sample data``, veterinary Patient module
attributes (species, breed, owner as Responsible Person) and new UIDs on each call.

Examples
--------
>>> from pacslink.samples import ct_phantom_series
>>> slices = list(ct_phantom_series(slices=3, size=32))
>>> len(slices), slices[0].Rows, slices[0].RescaleType
(3, 32, 'HU')
"""

from __future__ import annotations

from pacslink.samples.base import (
    MANUFACTURER,
    SamplePatient,
    SeriesInfo,
    StudyInfo,
    new_instance,
    write_series,
)
from pacslink.samples.ct import ct_phantom_series, ct_series
from pacslink.samples.dx import dx_image
from pacslink.samples.library import PATIENTS, SampleStudy, generate_demo_library
from pacslink.samples.mr import mr_series
from pacslink.samples.photo import vl_photo
from pacslink.samples.us import us_cine

__all__ = [
    "MANUFACTURER",
    "PATIENTS",
    "SamplePatient",
    "SampleStudy",
    "SeriesInfo",
    "StudyInfo",
    "ct_phantom_series",
    "ct_series",
    "dx_image",
    "generate_demo_library",
    "mr_series",
    "new_instance",
    "us_cine",
    "vl_photo",
    "write_series",
]
