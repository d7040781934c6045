"""The field of view of ice-core CT slices: the checked ring search, the data extent, `none`,
given circles, and the real SnowEx snow slice in ../shared/realdata (skipped when absent)."""

import pathlib

import numpy as np
import pytest
from scipy import ndimage

from coretf import io as coretf_io
from coretf.preprocess import ice_fov, ice_slices, ice_stack
from coretf.synthetic import ice, ice_scan

REALDATA = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata"
SNOWEX = REALDATA / "snowex_microct_slice" / "2n13_139-137cm_20um_redo_rec_voi_0253.png"
needs_snowex = pytest.mark.skipif(not SNOWEX.is_file(), reason="../shared/realdata is absent")


def _snow(size: int, fraction: float = 0.3, seed: int = 0) -> np.ndarray:
    """A snow-like binary mask: thresholded smoothed noise, (size, size) bool."""
    field = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal((size, size)), 3.0)
    return field > np.quantile(field, 1.0 - fraction)


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.fixture(scope="module")
def snowex():
    return ice_stack.read_slice(str(SNOWEX))


@needs_snowex
def test_real_snowex_slice_falls_back_to_its_disc_of_data(snowex, caplog):
    truth = snowex > 0
    with caplog.at_level("WARNING", logger="coretf"):
        ice_stack.read_slice(str(SNOWEX))  # a palette PNG: read as grey, with a note naming it
        labels = ice_slices.label_slice(snowex, SNOWEX.name)
    assert f"{SNOWEX.name}: read as grey" in caplog.text
    # The ring search alone latches onto a 47 px cluster of grains (96 % of the ice outside it);
    # checked, it reports that and takes the 267 px disc the data fill.
    alone = ice_slices.find_field_of_view(ice_slices.denoise(snowex))
    assert alone.radius < 60
    assert labels.fov.source == "data disc"
    np.testing.assert_allclose(labels.fov.centre, (267.5, 267.5), atol=1.0)
    assert labels.fov.radius == pytest.approx(267.5, abs=2.0)
    assert labels.fov_warning.startswith(f"{SNOWEX.name}: the ring search found a 47.5 px circle")
    assert labels.fov_warning in caplog.text
    assert not (truth & ~labels.fov_mask).any()  # no ice left out
    assert _iou(labels.gmm, truth) >= 0.98  # the lab's mask, less what the 3x3 median removes
    # The ice fraction of the disc is 0.285; 0.224 is that of the whole image, corners included.
    assert labels.gmm[labels.fov_mask].mean() == pytest.approx(truth[labels.fov_mask].mean(), abs=0.005)
    assert labels.gmm[labels.fov_mask].mean() == pytest.approx(0.285, abs=0.01)
    whole = ice_slices.label_slice(snowex, SNOWEX.name, fov_mode="none")
    assert whole.fov_mask.all() and whole.fov_warning is None
    assert whole.gmm.mean() == pytest.approx(0.224, abs=0.02)


@needs_snowex
def test_real_snowex_mask_scanned_with_and_without_a_tube(snowex):
    truth = np.pad(snowex > 0, 24)
    centre = (291.5, 291.5)
    for settings, source in ((ice_scan.ScanSettings(), "data disc"),
                             (ice_scan.ScanSettings(ring_width=10, margin=8), "ring")):
        labels = ice_slices.label_slice(ice_scan.scan_slice(truth, centre, 267.5, settings), "s.png")
        assert labels.fov.source == source
        assert (labels.fov_warning is None) == (source == "ring")
        # the disc (267.5 px), plus at most the 2 px air gap inside the tube's wall (269.5 px)
        assert 267.0 <= labels.fov.radius <= 269.5
        assert _iou(labels.gmm, truth) > 0.9
        assert labels.gmm[labels.fov_mask].mean() == pytest.approx(0.286, abs=0.01)


@pytest.mark.parametrize("bits", [8, 16])
def test_slice_without_a_ring_falls_back_to_the_disc_of_data(caplog, bits):
    truth = _snow(192)
    image = ice_scan.scan_slice(truth, (96.0, 95.0), 90.0, ice_scan.ScanSettings(bits=bits))
    with caplog.at_level("WARNING", logger="coretf"):
        labels = ice_slices.label_slice(image, "no_ring.png")
    assert labels.fov.source == "data disc"
    np.testing.assert_allclose(labels.fov.centre, (96.0, 95.0), atol=1.0)
    assert labels.fov.radius == pytest.approx(90.0, abs=1.5)
    assert "no_ring.png: " in caplog.text and "field of view = the data extent (circle" in caplog.text
    disc = ice_fov.FieldOfView((96.0, 95.0), 90.0).mask(truth.shape)
    assert _iou(labels.gmm, truth & disc) > 0.85


def test_slice_filled_with_data_falls_back_to_the_whole_rectangle():
    truth = _snow(160)[:, :128]  # a crop inside the specimen: data everywhere
    image = ice_scan.scan_slice(truth, (80.0, 64.0), 500.0)
    labels = ice_slices.label_slice(image, "crop.png")
    assert labels.fov.source == "data rectangle" and labels.fov.box == (0, 0, 160, 128)
    assert labels.fov_mask.all()
    assert labels.fov_warning.startswith("crop.png: ")
    assert _iou(labels.gmm, truth) > 0.85


def test_the_check_does_not_fire_on_specimens_with_rings():
    for size, slices in ((64, 4), (128, 8), (384, 2)):
        for kind in range(3):
            specimen = ice.make_specimen(kind, size=size, slices=slices)
            for z in range(slices):
                clean = ice_slices.denoise(specimen.high_slice(z))
                fov, warning = ice_fov.auto_field_of_view(clean, "s.png")
                assert warning is None, (size, kind, z, warning)
                assert fov == ice_fov.find_field_of_view(clean)


def test_tube_with_air_around_it_keeps_the_wall_out():
    """The blurred fall at the wall's outside is not taken for its inside (the ring search
    before kept 7 px of a 10 px wall here)."""
    truth = _snow(200)
    image = ice_scan.scan_slice(truth, (100.0, 100.0), 80.0,
                                ice_scan.ScanSettings(ring_width=10, margin=8))
    fov, warning = ice_fov.auto_field_of_view(ice_slices.denoise(image), "s.png")
    assert warning is None and fov.source == "ring"
    assert 80.0 <= fov.radius <= 82.0  # the wall starts at 82 px


def test_fov_none_and_given_circles():
    image = ice.make_specimen(1, size=64, slices=2).high_slice(0)
    whole = ice_slices.label_slice(image, "s.png", fov_mode="none")
    assert whole.fov.source == "image" and whole.fov_mask.all()
    circle = ice_fov.parse_fov(" 30, 34.5 ,20 ")
    assert circle == ice_fov.FieldOfView((34.5, 30.0), 20.0, source="given")
    given = ice_slices.label_slice(image, "s.png", fov=circle)
    assert given.fov is circle and given.fov_warning is None
    rows, cols = np.nonzero(given.fov_mask)
    assert np.hypot(rows + 0.5 - 34.5, cols + 0.5 - 30.0).max() < 20.5  # OpenCV draws to 1/16 px
    assert given.fov_mask.sum() == pytest.approx(np.pi * 20.0**2, rel=0.01)
    assert not given.image[~given.fov_mask].any()
    with pytest.raises(coretf_io.ImageError, match=r"s.png: the field of view's centre x=70, y=34.5 "
                                                   r"is outside the 64x64 px slice"):
        ice_slices.label_slice(image, "s.png", fov=ice_fov.parse_fov("70,34.5,20"))
    with pytest.raises(coretf_io.ImageError, match="radius 500 px does not fit a 64x64 px slice"):
        ice_slices.label_slice(image, "s.png", fov=ice_fov.parse_fov("30,30,500"))
    for text in ("ring", "1,2", "1,2,x", "1,2,3,4"):
        with pytest.raises(ValueError, match=rf"^--fov={text}: expected auto, none or x,y,r"):
            ice_fov.parse_fov(text)
    with pytest.raises(ValueError, match="radius must be a positive number"):
        ice_fov.parse_fov("1,2,-3")
    with pytest.raises(coretf_io.ImageError, match="unknown field-of-view mode 'ring'"):
        ice_slices.label_slice(image, "s.png", fov_mode="ring")


def test_rectangles_scale_and_pair():
    box = ice_fov.whole_image((65, 64))
    low = box.scaled(0.5)
    assert low.box == (0, 0, 32.5, 32) and low.mask((32, 32)).all()
    circle = ice_fov.FieldOfView((32.0, 32.0), 20.0)
    assert box.narrower(circle, (65, 64)) is circle and circle.narrower(box, (65, 64)) is circle
    pair = circle.narrower(ice_fov.FieldOfView((33.0, 31.0), 19.0), (64, 64))
    assert pair == ice_fov.FieldOfView((32.0, 32.0), 19.0)  # the first's centre, the smaller radius
    assert box.record() == {"fov_source": "image", "fov_x": 32.0, "fov_y": 32.5, "fov_r": None,
                            "fov_width": 64.0, "fov_height": 65.0}
    assert circle.describe() == "circle x=32.0, y=32.0, r=20.0 px"
