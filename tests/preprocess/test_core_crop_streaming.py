"""Background removal read band by band (`background.find_core_box(band=...)`, `core_crop_batch`
on `coretf.image_source` sources): the boxes, checks, crops and review strips of the whole image
from tiled TIFF and PNG files, whatever the band; reads that never span more than a band; and
the band-by-band area reduction, which is cv2.resize's bit for bit."""

import cv2
import numpy as np
import pytest
import tifffile

from coretf import image_source
from coretf import io as coretf_io
from coretf.preprocess import background as cc
from coretf.preprocess import core_crop_batch as batch
from coretf.synthetic import cores

P = 20.0  # px/cm of the synthetic section


@pytest.fixture(scope="module")
def section():
    return cores.make_section(1, seed=0, length_cm=30.0, px_per_cm=P)


class Counting(image_source.ImageSource):
    """A source that records the longest extent of its reads along its long axis."""

    def __init__(self, source):
        self.source, self.longest = source, 0
        self.shape, self.channels, self.dtype, self.name = source.shape, source.channels, source.dtype, source.name

    def read(self, r0, r1, c0, c1):
        along = c1 - c0 if image_source.long_axis(self) == 1 else r1 - r0
        self.longest = max(self.longest, along)
        return self.source.read(r0, r1, c0, c1)


@pytest.mark.parametrize("shape, size, factors", [
    ((97, 301), None, (0.3, 0.3)),     # OpenCV's general area sums
    ((120, 251), None, (0.5, 0.5)),    # 2 x 2 blocks (ties rounded up), a partial last column
    ((99, 300), (100, 33), None),      # 3 x 3 blocks from a size
    ((101, 257), (13, 7), None),
    ((64, 80), (80, 64), None),        # its own size: a copy
])
def test_area_reducer_is_cv2_resize_bit_for_bit(shape, size, factors):
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 256, shape + (3,), dtype=np.uint8), (0, 0), 1.5)
    fx, fy = factors or (0.0, 0.0)
    expected = cv2.resize(image, size, fx=fx, fy=fy, interpolation=cv2.INTER_AREA)
    for axis in (0, 1):
        for band in (1, 7, 64, 1000):
            reducer = image_source.AreaReducer(shape, size, fx=fx, fy=fy, axis=axis)
            for _, region in image_source.iter_bands(image_source.ArraySource(image), band, axis):
                reducer.add(region)
            np.testing.assert_array_equal(reducer.result(), expected, err_msg=f"axis {axis}, band {band}")
    with pytest.raises(ValueError, match="only shrinks"):
        image_source.AreaReducer(shape, (shape[1] + 1, shape[0]))


def _write(path, image):
    if path.suffix == ".png":
        coretf_io.write_image(path, image)
    else:
        tifffile.imwrite(path, image, tile=(32, 48))


@pytest.mark.parametrize("method", cc.METHODS)
@pytest.mark.parametrize("name", ["S_tiled.tif", "S.png", "S_rgba16_tiled.tif", "S_down_tiled.tif"])
def test_a_streamed_crop_is_the_whole_image_crop(tmp_path, section, method, name):
    """crop_file reading 37 lines at a time gives the row, crop and review strip that the
    methods give on the whole image in one band."""
    image = section.image
    if "down" in name:  # depth down the height, found by the methods (depth_axis auto)
        image = np.ascontiguousarray(image.transpose(1, 0, 2))
    stored = image
    if "rgba16" in name:  # 16 bit with a label in alpha: the crop keeps 16 bit, drops alpha
        stored = np.dstack([image, section.mask * 255]).astype(np.uint16) * 257
        image = stored[..., :3]
    _write(tmp_path / name, stored)
    params = cc.CropParams(method=method, depth_axis="auto")
    whole = cc.find_core_box(image, params, band=max(image.shape))
    # 100 cm expected: the 30 cm crop is flagged, so its review strip is written too.
    check = cc.check_crop(image, whole, params, px_per_cm=P, expected_lengths_cm=(100.0,))
    row = batch.crop_file(str(tmp_path / name), str(tmp_path / "out"), params,
                          batch.SectionMeta(px_per_cm=P, expected_lengths_cm=(100.0,)), band=37)
    x0, y0, x1, y1 = whole.box
    assert (row["x0"], row["y0"], row["x1"], row["y1"], row["depth_axis"]) == (x0, y0, x1, y1, whole.depth_axis)
    assert (row["status"], row["length_px"], row["card_fraction"]) == (
        check.status, check.length_px, batch._fmt(check.card_fraction))
    assert row["lstar_thresholds"] == " ".join(f"{t:.1f}" for t in whole.thresholds)
    crop_path = tmp_path / "out" / row["output"]
    crop = coretf_io.read_image(crop_path)
    assert crop.dtype == image.dtype
    np.testing.assert_array_equal(crop, image[y0:y1, x0:x1])
    if crop_path.suffix == ".tif":  # tiles that span the crop across: read back tile by tile
        with tifffile.TiffFile(crop_path) as tiff:
            assert tiff.pages[0].is_tiled
    strip = coretf_io.read_image(tmp_path / "out" / "review" / f"{crop_path.stem}_review.png")
    expected = batch.review_strip(image, whole, f"{name}: {check.status}", band=max(image.shape))
    np.testing.assert_array_equal(strip, expected)


@pytest.mark.parametrize("method", cc.METHODS)
def test_reads_span_at_most_a_band(section, method):
    """The mechanism that keeps memory flat: no read spans more than a band along the section
    (the paper's opening adds its reach on either side), the checks read the crop's ends, the
    review strip a band at a time and the crop TIFF a tile."""
    params = cc.CropParams(method=method)
    source = Counting(image_source.ArraySource(section.image))
    result = cc.find_core_box(source, params, band=16)
    reach = params.erode_iterations * (params.erode_kernel - 1) + \
        params.dilate_iterations * (params.dilate_kernel - 1) + 1
    assert source.longest <= (16 if method == "robust" else 16 + 2 * reach)
    assert result == cc.find_core_box(section.image, params)
    source.longest = 0
    cc.check_crop(source, result, params)
    x0, y0, x1, y1 = result.box
    assert source.longest <= y1 - y0  # lines within one core width of either end
    source.longest = 0
    batch.review_strip(source, result, "S", band=16)
    assert source.longest <= 16


def test_a_grayscale_file_is_refused_by_name(tmp_path):
    tifffile.imwrite(tmp_path / "G.tif", np.zeros((40, 200), np.uint8), tile=(16, 16))
    row = batch.crop_file(str(tmp_path / "G.tif"), str(tmp_path / "out"), cc.CropParams(), batch.SectionMeta())
    assert row["status"] == "error" and "G.tif: expected an RGB or RGBA photograph" in row["message"]
