"""pacslink.imaging against pydicom's bundled test files and pacslink's sample library.

Only files shipped inside the pydicom package are used (``get_testdata_file`` would
download the others); a case pydicom does not ship is built here from a bundled file.
Decoded values are compared with pydicom's own ``pixel_array``, and lossless or lossy
encodings of one picture with each other, so a colour conversion done twice or not at
all shows up.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels import apply_color_lut, apply_modality_lut, convert_color_space
from pydicom.sequence import Sequence
from pydicom.uid import (
    JPEG2000,
    MPEG2MPML,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from pacslink.errors import PacslinkError
from pacslink.imaging import (
    CT_PRESETS,
    DisplayInfo,
    ImagingError,
    apply_window,
    can_decode,
    display_info,
    frame_time_ms,
    grey_frame,
    is_image,
    png_bytes,
    render,
    rgb_frame,
    window_from_range,
)
from pacslink.samples import generate_demo_library

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
CR_MONOCHROME1 = "dicomdirtests/77654033/CR1/6154"


def bundled(name: str) -> Path:
    """Path of a test file shipped inside the pydicom package (never downloaded)."""
    path = TEST_FILES / name
    if not path.is_file():
        pytest.skip(f"{name} is not bundled with pydicom {pydicom.__version__}")
    return path


def read(name: str) -> Dataset:
    return pydicom.dcmread(bundled(name))


def pydicom_frames(ds: Dataset) -> np.ndarray:
    """pydicom's own decoding of every frame, frames first."""
    arr = ds.pixel_array
    single = arr.ndim == (3 if ds.SamplesPerPixel == 3 else 2)
    return arr[np.newaxis] if single else arr


def native(arr: np.ndarray, photometric: str, bits_stored: int, **attributes: object) -> Dataset:
    """A native (Explicit VR Little Endian) image built from ``arr``."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.set_pixel_data(arr, photometric, bits_stored)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int32) - b.astype(np.int32)).mean())


# --- grey: MONOCHROME2, Modality LUT, signed, bits stored ---------------------------------


def test_ct_signed_16_bit_gives_hounsfield_units_as_pydicom_does() -> None:
    ds = read("CT_small.dcm")  # MONOCHROME2, 16 bits signed, Rescale -1024
    assert (ds.PixelRepresentation, ds.RescaleSlope, ds.RescaleIntercept) == (1, 1, -1024)
    hu = grey_frame(ds, 0)
    expected = apply_modality_lut(ds.pixel_array, ds)
    assert hu.dtype == np.float32 and hu.shape == (128, 128)
    np.testing.assert_array_equal(hu, expected)
    for row, column in [(0, 0), (64, 64), (100, 27)]:
        assert hu[row, column] == int(ds.pixel_array[row, column]) - 1024

    info = display_info(ds)
    assert (info.kind, info.rows, info.columns, info.frames) == ("grey", 128, 128, 1)
    assert (info.photometric, info.invert, info.frame_time_ms) == ("MONOCHROME2", False, None)
    assert (info.min_value, info.max_value) == (float(expected.min()), float(expected.max()))
    assert info.pixel_spacing == pytest.approx((0.661468, 0.661468))


def test_bits_stored_below_bits_allocated_is_sign_extended() -> None:
    # 12 bits stored in 16, signed, with junk in the 4 unused high bits (PS3.5 8.1.1)
    stored = np.array([[-5, 0], [2047, -2048]], dtype=np.int16)
    junk = (stored.view(np.uint16) & 0x0FFF) | 0xA000
    ds = native(stored, "MONOCHROME2", 12)
    ds.PixelData = junk.astype("<u2").tobytes()
    np.testing.assert_array_equal(grey_frame(ds, 0), stored.astype(np.float32))


@pytest.mark.parametrize("name", ["693_J2KI.dcm", CR_MONOCHROME1, "examples_overlay.dcm"])
def test_bits_stored_below_16_match_pydicom(name: str) -> None:
    ds = read(name)  # 14 signed (J2K CT), 12 unsigned with rescale (CR), 12 unsigned (MR)
    assert ds.BitsStored < ds.BitsAllocated == 16
    expected = apply_modality_lut(ds.pixel_array, ds).astype(np.float32)
    np.testing.assert_allclose(grey_frame(ds, 0), expected, rtol=1e-6)


@pytest.mark.parametrize("name", ["JPEGLSNearLossless_08.dcm", "image_dfl.dcm"])
def test_8_bit_grey(name: str) -> None:
    ds = read(name)
    assert ds.BitsAllocated == 8
    np.testing.assert_array_equal(grey_frame(ds, 0), ds.pixel_array.astype(np.float32))
    assert render(ds).mode == "L"


def test_modality_lut_sequence_is_applied() -> None:
    ds = native(np.array([[0, 1], [2, 3]], dtype=np.uint16), "MONOCHROME2", 16)
    item = Dataset()
    item.LUTDescriptor = [3, 1, 16]  # 3 entries, first value mapped 1
    item.LUTData = [100, 200, 300]
    item.ModalityLUTType = "US"
    ds.ModalityLUTSequence = Sequence([item])
    # below the first mapped value -> first entry, above the last -> last entry (C.11.1)
    assert grey_frame(ds, 0).tolist() == [[100.0, 100.0], [200.0, 300.0]]


# --- MONOCHROME1 ----------------------------------------------------------------------------


def test_monochrome1_renders_inverted() -> None:
    ds = read(CR_MONOCHROME1)  # CR, 12 of 16 bits, Rescale 0.684 / 200, window 1600/2800
    info = display_info(ds)
    assert (info.kind, info.photometric, info.invert) == ("grey", "MONOCHROME1", True)
    values = grey_frame(ds, 0)  # modality values are not inverted
    np.testing.assert_allclose(values, apply_modality_lut(ds.pixel_array, ds), rtol=1e-6)

    center, width = window_from_range(info.min_value, info.max_value)
    shown = np.asarray(render(ds, center=center, width=width))
    assert shown.flat[values.argmax()] == shown.min() == 0  # brightest value, darkest pixel
    assert shown.flat[values.argmin()] == shown.max() == 255
    plain = np.asarray(render(ds, center=center, width=width, invert=False))
    np.testing.assert_array_equal(plain, 255 - shown)
    default = np.asarray(render(ds))  # the file's window 1600/2800, inverted
    np.testing.assert_array_equal(default, 255 - apply_window(values, 1600, 2800))


def test_monochrome1_built_8_bit() -> None:
    ds = native(np.array([[0, 255]], dtype=np.uint8), "MONOCHROME1", 8)
    assert np.asarray(render(ds)).tolist() == [[255, 0]]
    assert np.asarray(render(ds, invert=False)).tolist() == [[0, 255]]


# --- colour ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["SC_rgb_small_odd.dcm", "examples_rgb_color.dcm", "ExplVR_BigEnd.dcm"]
)
def test_rgb_native(name: str) -> None:
    ds = read(name)
    assert ds.PhotometricInterpretation == "RGB"
    rgb = rgb_frame(ds, 0)
    assert rgb.dtype == np.uint8 and rgb.shape == (ds.Rows, ds.Columns, 3)
    np.testing.assert_array_equal(rgb, ds.pixel_array)
    image = render(ds)
    assert image.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(image), rgb)
    assert display_info(ds).kind == "rgb"


def test_ybr_full_422_native_is_converted_to_rgb() -> None:
    ds = read("SC_ybr_full_422_uncompressed.dcm")
    reference = rgb_frame(read("SC_rgb_rle.dcm"), 0)  # the same picture, lossless RGB
    rgb = rgb_frame(ds, 0)
    np.testing.assert_array_equal(rgb, ds.pixel_array)
    assert mean_difference(rgb, reference) < 1.5


def test_ybr_full_native_built_from_rgb() -> None:
    original = read("examples_rgb_color.dcm")
    ybr = convert_color_space(original.pixel_array, "RGB", "YBR_FULL")
    ds = native(ybr, "YBR_FULL", 8)
    assert display_info(ds).photometric == "YBR_FULL"
    rgb = rgb_frame(ds, 0)
    assert int(np.abs(rgb.astype(int) - original.pixel_array.astype(int)).max()) <= 3


def test_palette_color_bundled_16_bit_entries() -> None:
    ds = read("examples_palette.dcm")  # PALETTE COLOR, 256 entries of 16 bits
    assert ds.RedPaletteColorLookupTableDescriptor[2] == 16
    rgb = rgb_frame(ds, 0)
    expected = (apply_color_lut(ds.pixel_array, ds) >> 8).astype(np.uint8)
    np.testing.assert_array_equal(rgb, expected)
    assert render(ds).mode == "RGB"


def palette_dataset(descriptor_bits: int, dtype: str, scale: int) -> Dataset:
    indices = np.array([[0, 1], [128, 255]], dtype=np.uint8)
    ds = native(indices, "PALETTE COLOR", 8)
    ramp = np.arange(256)
    for colour, values in (("Red", ramp), ("Green", 255 - ramp), ("Blue", ramp // 2)):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, descriptor_bits])
        table = (values * scale).astype(dtype)
        setattr(ds, f"{colour}PaletteColorLookupTableData", table.tobytes())
    return ds


@pytest.mark.parametrize(
    ("descriptor_bits", "dtype", "scale"),
    [(16, "<u2", 257), (8, "u1", 1), (16, "<u2", 1)],
    ids=["16-bit entries", "8-bit entries", "8-bit values in 16-bit entries"],
)
def test_palette_color_built(descriptor_bits: int, dtype: str, scale: int) -> None:
    rgb = rgb_frame(palette_dataset(descriptor_bits, dtype, scale), 0)
    assert rgb[0, 0].tolist() == [0, 255, 0]
    assert rgb[1, 0].tolist() == [128, 127, 64]
    assert rgb[1, 1].tolist() == [255, 0, 127]


def test_palette_color_lut_data_as_us_values() -> None:
    ds = palette_dataset(16, "<u2", 257)
    for colour in ("Red", "Green", "Blue"):
        element = ds[f"{colour}PaletteColorLookupTableData"]
        element.VR, element.value = "US", np.frombuffer(element.value, "<u2").tolist()
    assert rgb_frame(ds, 0)[1, 0].tolist() == [128, 127, 64]


@pytest.mark.parametrize("name", ["SC_rgb_rle_16bit.dcm", "SC_rgb_rle_32bit.dcm"])
def test_rgb_more_than_8_bits_keeps_the_top_8(name: str) -> None:
    np.testing.assert_array_equal(rgb_frame(read(name), 0), rgb_frame(read("SC_rgb_rle.dcm"), 0))


# --- compressed transfer syntaxes -----------------------------------------------------------

COMPRESSED = [
    ("SC_rgb_jpeg_dcmtk.dcm", JPEGBaseline8Bit),  # YBR_FULL
    ("SC_rgb_dcmtk_+eb+cy+np.dcm", JPEGBaseline8Bit),  # YBR_FULL_422
    ("SC_rgb_dcmtk_+eb+cr.dcm", JPEGBaseline8Bit),  # RGB
    ("JPGExtended.dcm", JPEGExtended12Bit),  # 12-bit grey
    ("SC_rgb_jpeg_gdcm.dcm", JPEGLosslessSV1),
    ("MR_small_jpeg_ls_lossless.dcm", JPEGLSLossless),
    ("JPEGLSNearLossless_16.dcm", JPEGLSNearLossless),
    ("SC_rgb_jls_lossy_line.dcm", JPEGLSNearLossless),
    ("MR_small_jp2klossless.dcm", JPEG2000Lossless),
    ("examples_jpeg2k.dcm", JPEG2000Lossless),  # YBR_RCT
    ("GDCMJ2K_TextGBR.dcm", JPEG2000Lossless),  # YBR_RCT
    ("JPEG2000.dcm", JPEG2000),
    ("693_J2KI.dcm", JPEG2000),  # signed CT, 14 bits stored
    ("SC_rgb_gdcm_KY.dcm", JPEG2000),  # RGB
    ("MR_small_RLE.dcm", RLELossless),
    ("SC_rgb_rle.dcm", RLELossless),
    ("image_dfl.dcm", DeflatedExplicitVRLittleEndian),
    ("MR_small_bigendian.dcm", ExplicitVRBigEndian),
    ("MR_small_implicit.dcm", ImplicitVRLittleEndian),
]


@pytest.mark.parametrize(("name", "syntax"), COMPRESSED, ids=[n for n, _ in COMPRESSED])
def test_transfer_syntax_decodes_as_pydicom_does(name: str, syntax: UID) -> None:
    ds = read(name)
    assert ds.file_meta.TransferSyntaxUID == syntax
    assert can_decode(syntax)
    info = display_info(ds)
    expected = pydicom_frames(ds)[0]
    if info.kind == "grey":
        np.testing.assert_allclose(
            grey_frame(ds, 0), apply_modality_lut(expected, ds).astype(np.float32), rtol=1e-6
        )
    else:
        np.testing.assert_array_equal(rgb_frame(ds, 0), expected)
    assert render(ds).size == (ds.Columns, ds.Rows)


@pytest.mark.parametrize(
    "name",
    ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
     "MR_small_bigendian.dcm", "MR_small_implicit.dcm"],
)
def test_lossless_grey_equals_the_native_original(name: str) -> None:
    np.testing.assert_array_equal(grey_frame(read(name), 0), grey_frame(read("MR_small.dcm"), 0))


@pytest.mark.parametrize("name", ["SC_rgb_gdcm_KY.dcm", "SC_rgb_jpeg_gdcm.dcm"])
def test_lossless_colour_equals_the_rle_original(name: str) -> None:
    np.testing.assert_array_equal(rgb_frame(read(name), 0), rgb_frame(read("SC_rgb_rle.dcm"), 0))


@pytest.mark.parametrize(
    "name",
    ["SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm", "SC_rgb_dcmtk_+eb+cy+n1.dcm",
     "SC_rgb_dcmtk_+eb+cr.dcm", "SC_rgb_jpeg_lossy_gdcm.dcm", "SC_rgb_jls_lossy_line.dcm"],
)
def test_lossy_colour_is_close_to_the_original(name: str) -> None:
    # YBR converted twice or not at all would be off by ~90 on average
    assert mean_difference(rgb_frame(read(name), 0), rgb_frame(read("SC_rgb_rle.dcm"), 0)) < 4


def test_jpeg_ybr_of_an_odd_sized_image_matches_its_native_original() -> None:
    jpeg, original = read("SC_rgb_small_odd_jpeg.dcm"), read("SC_rgb_small_odd.dcm")
    assert jpeg.PhotometricInterpretation == "YBR_FULL"
    assert mean_difference(rgb_frame(jpeg, 0), rgb_frame(original, 0)) < 4


# --- multi-frame ----------------------------------------------------------------------------


def test_multi_frame_jpeg_cine() -> None:
    ds = read("examples_ybr_color.dcm")  # US, 30 frames JPEG baseline YBR_FULL_422
    info = display_info(ds)
    assert (info.kind, info.frames, info.frame_time_ms) == ("rgb", 30, pytest.approx(33.333))
    frames = pydicom_frames(ds)
    first, last = rgb_frame(ds, 0), rgb_frame(ds, 29)
    np.testing.assert_array_equal(first, frames[0])
    np.testing.assert_array_equal(last, frames[29])
    assert not np.array_equal(first, last)


@pytest.mark.parametrize("name", ["rtdose.dcm", "rtdose_rle.dcm"])
def test_multi_frame_grey(name: str) -> None:
    ds = read(name)  # RT Dose, 15 frames of 32 bits, no timing
    info = display_info(ds)
    assert (info.kind, info.frames, info.frame_time_ms) == ("grey", 15, None)
    frames = pydicom_frames(ds)
    for index in (0, 7, 14):
        np.testing.assert_array_equal(grey_frame(ds, index), frames[index].astype(np.float32))
    assert not np.array_equal(grey_frame(ds, 0), grey_frame(ds, 14))
    # every frame gets the first frame's default window: frames are comparable in cine
    assert render(ds, 14).tobytes() == render(ds, 14, center=info.window_center,
                                              width=info.window_width).tobytes()


def test_only_the_requested_frame_is_decoded() -> None:
    ds = read("SC_rgb_rle_2frame.dcm")
    good, _ = generate_frames(ds.PixelData, number_of_frames=2)
    ds.PixelData = encapsulate([good, b"\x00" * 64])  # frame 1 is garbage
    info = display_info(ds)
    assert info.frames == 2
    np.testing.assert_array_equal(rgb_frame(ds, 0), rgb_frame(read("SC_rgb_rle.dcm"), 0))
    with pytest.raises(ImagingError, match="frame 1"):
        rgb_frame(ds, 1)


def test_enhanced_multi_frame_functional_groups() -> None:
    ds = native(np.array([[[0, 10]], [[20, 30]]], dtype=np.uint16), "MONOCHROME2", 16)
    ds.NumberOfFrames = 2

    def group(**sequences: Dataset) -> Dataset:
        item = Dataset()
        for keyword, value in sequences.items():
            setattr(item, keyword, Sequence([value]))
        return item

    transform, measures = Dataset(), Dataset()
    transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = 2, -100, "HU"
    measures.PixelSpacing = [0.5, 0.25]
    ds.SharedFunctionalGroupsSequence = Sequence([
        group(PixelValueTransformationSequence=transform, PixelMeasuresSequence=measures)
    ])
    windows = []
    for center in (-50, 0):
        voi = Dataset()
        voi.WindowCenter, voi.WindowWidth = center, 100
        windows.append(group(FrameVOILUTSequence=voi))
    ds.PerFrameFunctionalGroupsSequence = Sequence(windows)

    assert grey_frame(ds, 1).tolist() == [[-60.0, -40.0]]
    info = display_info(ds)
    assert (info.window_center, info.window_width) == (-50.0, 100.0)
    assert info.pixel_spacing == (0.5, 0.25)
    assert [name for name, _, _ in info.presets][1:] == [name for name, _, _ in CT_PRESETS]
    assert render(ds, 1).tobytes() == render(ds, 1, center=0, width=100).tobytes()


def test_frame_time_sources() -> None:
    ds = Dataset()
    assert frame_time_ms(ds) is None
    ds.RecommendedDisplayFrameRate = 25
    assert frame_time_ms(ds) == 40.0
    ds.FrameTimeVector = [0, 20, 30]
    assert frame_time_ms(ds) == 25.0
    ds.CineRate = 50
    assert frame_time_ms(ds) == 20.0
    ds.FrameTime = 33.3
    assert frame_time_ms(ds) == 33.3


# --- window / level -------------------------------------------------------------------------


def linear_reference(x: float, c: float, w: float) -> float:
    """PS3.3 C.11.2.1.2.1, written as in the standard."""
    if x <= c - 0.5 - (w - 1) / 2:
        return 0.0
    if x > c - 0.5 + (w - 1) / 2:
        return 255.0
    return ((x - (c - 0.5)) / (w - 1) + 0.5) * 255.0


@pytest.mark.parametrize(("center", "width"), [(40.0, 400.0), (-600.0, 1500.0), (0.5, 2.0)])
def test_linear_window_follows_the_standard(center: float, width: float) -> None:
    x = np.linspace(center - width, center + width, 1001, dtype=np.float32)
    expected = np.array([linear_reference(float(v), center, width) for v in x])
    shown = apply_window(x, center, width).astype(np.float64)
    assert np.abs(shown - expected).max() <= 0.5 + 1e-3  # rounded, float32 arithmetic


def test_window_arithmetic_on_a_rendered_image() -> None:
    values = np.array([[-1024, -201, 40], [281, 3000, 0]], dtype=np.int16)
    ds = native(values, "MONOCHROME2", 16, RescaleSlope=1, RescaleIntercept=0)
    shown = np.asarray(render(ds, center=40, width=400))
    assert shown[0, 2] == 128  # at the center
    assert shown[0, 0] == shown[0, 1] == 0  # below center - width/2
    assert shown[1, 0] == shown[1, 1] == 255  # above center + width/2
    assert shown[1, 2] == round(linear_reference(0, 40, 400))


def test_voi_lut_functions_from_the_file() -> None:
    values = np.array([[-100, 0, 100]], dtype=np.int16)
    ds = native(values, "MONOCHROME2", 16, WindowCenter=0, WindowWidth=100)
    ds.VOILUTFunction = "SIGMOID"
    assert display_info(ds).voi_lut_function == "SIGMOID"
    assert np.asarray(render(ds)).tolist() == [[5, 128, 250]]  # 255 / (1 + e^4) = 4.6
    ds.VOILUTFunction = "LINEAR_EXACT"
    assert np.asarray(render(ds, width=200)).tolist() == [[0, 128, 255]]


def test_narrow_window_is_a_threshold() -> None:
    assert apply_window(np.array([9.0, 10.0, 11.0]), 10.5, 1).tolist() == [0, 0, 255]
    assert apply_window(np.array([9.0, 10.0, 11.0]), 10.5, 0).tolist() == [0, 0, 255]


def test_default_window_from_the_file() -> None:
    ds = read("MR_small.dcm")
    info = display_info(ds)
    assert (info.window_center, info.window_width) == (600.0, 1600.0)
    assert info.presets == (("Default", 600.0, 1600.0),)  # MR: no CT presets
    assert render(ds).tobytes() == render(ds, center=600, width=1600).tobytes()


def test_multi_valued_windows_with_explanations() -> None:
    info = display_info(read("examples_overlay.dcm"))
    assert (info.window_center, info.window_width) == (450.0, 790.0)  # the first
    assert info.presets == (("WINDOW1", 450.0, 790.0), ("WINDOW2", 200.0, 443.0))


def test_default_window_from_the_range() -> None:
    ds = read("CT_small.dcm")  # no Window Center/Width
    assert "WindowCenter" not in ds
    info = display_info(ds)
    assert (info.window_center, info.window_width) == window_from_range(
        info.min_value, info.max_value
    )
    shown = np.asarray(render(ds))
    values = grey_frame(ds, 0)
    assert shown[values == info.min_value].max() == 0
    assert shown[values == info.max_value].min() == 255


def test_ct_presets() -> None:
    info = display_info(read("CT_small.dcm"))
    assert info.presets == CT_PRESETS
    assert {n: (c, w) for n, c, w in info.presets} == {
        "Soft tissue": (40, 400), "Lung": (-600, 1500), "Bone": (400, 1800), "Brain": (40, 80)
    }
    hu = native(np.zeros((2, 2), np.int16), "MONOCHROME2", 16, Modality="OT", RescaleType="HU",
                WindowCenter=40, WindowWidth=400)
    # a file window equal to a preset is listed once, under the file's name
    assert [name for name, _, _ in display_info(hu).presets] == [
        "Default", "Lung", "Bone", "Brain"
    ]


# --- not images, errors ---------------------------------------------------------------------


def encapsulated_pdf() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.104.1"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = b"%PDF-1.4\n%%EOF\n"
    return ds


@pytest.mark.parametrize(
    "source",
    ["reportsi.dcm", "test-SR.dcm", "waveform_ecg.dcm", "rtplan.dcm", "empty", "pdf"],
)
def test_non_images(source: str) -> None:
    ds = Dataset() if source == "empty" else encapsulated_pdf() if source == "pdf" else read(source)
    assert not is_image(ds)
    info = display_info(ds)
    assert info.kind == "none" and info.frames == 0
    with pytest.raises(ImagingError, match="not an image"):
        render(ds)
    with pytest.raises(ImagingError):
        grey_frame(ds, 0)
    with pytest.raises(ImagingError):
        rgb_frame(ds, 0)


def test_wrong_kind_of_frame() -> None:
    with pytest.raises(ImagingError, match="RGB"):
        grey_frame(read("SC_rgb_rle.dcm"), 0)
    with pytest.raises(ImagingError, match="MONOCHROME2"):
        rgb_frame(read("CT_small.dcm"), 0)


@pytest.mark.parametrize(("name", "index"), [("CT_small.dcm", 1), ("CT_small.dcm", -1),
                                             ("examples_ybr_color.dcm", 30)])
def test_frame_index_out_of_range(name: str, index: int) -> None:
    with pytest.raises(ImagingError, match="does not exist"):
        render(read(name), index)


def garbled_jpeg() -> Dataset:
    ds = read("SC_rgb_jpeg_gdcm.dcm")
    (frame,) = generate_frames(ds.PixelData, number_of_frames=1)
    ds.PixelData = encapsulate([frame[:20] + bytes(range(256)) * 4])
    return ds


@pytest.mark.parametrize(
    "source", ["MR_truncated.dcm", "JPEG2000-embedded-sequence-delimiter.dcm", "garbled"]
)
def test_corrupt_pixel_data(source: str) -> None:
    ds = garbled_jpeg() if source == "garbled" else read(source)
    assert is_image(ds)
    with pytest.raises(ImagingError, match="cannot decode frame 0") as caught:
        display_info(ds)
    assert isinstance(caught.value, PacslinkError)
    with pytest.raises(ImagingError):
        render(ds)


def test_missing_decoder() -> None:
    ds = read("SC_rgb_rle.dcm")
    ds.file_meta.TransferSyntaxUID = MPEG2MPML
    assert not can_decode(MPEG2MPML)
    with pytest.raises(ImagingError, match="MPEG2"):
        render(ds)


def test_not_a_dicom_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not DICOM")
    with pytest.raises(ImagingError, match="notes.txt"):
        display_info(path)


# --- sources, output ------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Expected explicit VR")  # SC_rgb_jpeg.dcm is mis-encoded
@pytest.mark.parametrize(
    ("name", "index"),
    [("CT_small.dcm", 0), ("examples_ybr_color.dcm", 5), ("SC_rgb_jpeg.dcm", 0),
     ("image_dfl.dcm", 0), ("examples_palette.dcm", 0)],
)
def test_a_path_gives_what_the_data_set_gives(name: str, index: int) -> None:
    path, ds = bundled(name), read(name)
    assert display_info(path) == display_info(ds)
    assert render(path, index).tobytes() == render(ds, index).tobytes()


def test_data_set_without_file_meta() -> None:
    ds = Dataset()
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 1, 2, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = bytes([0, 255])
    assert grey_frame(ds, 0).tolist() == [[0.0, 255.0]]
    assert not hasattr(ds, "file_meta")  # the caller's data set is left alone


def test_thumbnails_keep_the_aspect_ratio() -> None:
    ds = read("examples_palette.dcm")  # 800 x 350
    assert render(ds, max_size=100).size == (100, 44)
    assert render(read("CT_small.dcm"), max_size=512).size == (128, 128)  # never enlarged
    with pytest.raises(ValueError):
        render(ds, max_size=0)


def test_png_bytes() -> None:
    image = render(read("CT_small.dcm"))
    data = png_bytes(image)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(image))


def test_no_patient_data_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    ds = read("CT_small.dcm")
    ds.PatientName, ds.PatientID = "Doe^Rex", "VET-SECRET-7"
    with caplog.at_level(logging.DEBUG, logger="pacslink.imaging"):
        display_info(ds)
        render(ds)
    assert caplog.records  # it does log
    assert "Rex" not in caplog.text and "VET-SECRET-7" not in caplog.text


# --- pacslink's sample library --------------------------------------------------------------


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("samples")
    generate_demo_library(folder, quick=True)
    return sorted(folder.rglob("*.dcm"))


def test_every_sample_renders(samples: list[Path]) -> None:
    by_modality: dict[str, DisplayInfo] = {}
    for path in samples:
        ds = pydicom.dcmread(path)
        info = display_info(ds)
        assert info.kind in {"grey", "rgb"}, path.name
        last = render(ds, info.frames - 1)
        assert last.size == (info.columns, info.rows)
        assert png_bytes(render(path, max_size=64)).startswith(b"\x89PNG")
        by_modality.setdefault(str(ds.Modality), info)
    assert set(by_modality) == {"CT", "DX", "US", "XC", "MR"}
    ct, dx, us, mr = (by_modality[m] for m in ("CT", "DX", "US", "MR"))
    assert (ct.kind, ct.window_center, ct.window_width) == ("grey", 40.0, 80.0)
    assert [name for name, _, _ in ct.presets][:2] == ["BRAIN", "BONE"]
    assert {"Soft tissue", "Lung"} <= {name for name, _, _ in ct.presets}
    assert (dx.photometric, dx.invert) == ("MONOCHROME1", True)
    assert (us.kind, us.frames, us.frame_time_ms) == ("rgb", 10, pytest.approx(33.3))
    assert mr.kind == "grey" and mr.max_value > mr.min_value


def test_sample_dx_is_shown_with_air_black(samples: list[Path]) -> None:
    ds = next(pydicom.dcmread(p) for p in samples if pydicom.dcmread(p).Modality == "DX")
    values, shown = grey_frame(ds, 0), np.asarray(render(ds))
    assert shown[values == values.max()].max() < 32  # most X-rays: air, shown dark
