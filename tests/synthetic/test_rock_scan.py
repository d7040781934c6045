"""Real pore geometry scanned as CT slices: truth aligned with the image, rings, Otsu on a real slice."""

import hashlib
import pathlib

import numpy as np
import pytest
from scipy import ndimage
from skimage.filters import threshold_otsu

from coretf.synthetic import ice_scan, rock_scan

REALDATA = pathlib.Path(__file__).resolve().parents[3] / "shared" / "realdata" / "porespy_fixtures"
CLEAN = dict(cupping=0.0, blur_px=0.01, noise_sd=0.0, rings=0.0, salt_pepper=0.0)


def _pores(shape=(120, 120), seed=0):
    field = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal(shape), 4.0)
    return field > np.quantile(field, 0.75)  # 25 % pore, blobs ~10 px across


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.mark.parametrize("factor", [0.5, 1.0, 1.5])
def test_truth_is_aligned_with_the_image(factor):
    pores = _pores()
    image, truth = rock_scan.scan_pores(pores, rock_scan.RockScanner(factor=factor, **CLEAN))
    assert image.shape == truth.shape == (round(120 * factor),) * 2
    assert truth.mean() == pytest.approx(pores.mean(), abs=0.02)
    dark = image < 255 * (0.25 + 0.62) / 2  # the midpoint of the two levels
    assert iou(dark, truth == 1) > 0.97
    shifted = np.roll(truth, 2, axis=1) == 1  # a 2 px misregistration is far worse
    assert iou(dark, shifted) < iou(dark, truth == 1) - 0.1


def test_shrinking_averages_whole_voxels():
    pores = np.zeros((8, 8), bool)  # output pixel (i, j) covers voxels [2i:2i+2, 2j:2j+2]
    pores[:4, :4] = True            # output pixels (0..1, 0..1): all pore
    pores[4, 4] = True              # (2, 2): a quarter pore, solid by truth
    pores[6:8, 2] = True            # (3, 1): half pore, solid by truth (pore needs more than half)
    pores[4:6, 0] = pores[5, 1] = True  # (2, 0): three quarters pore, pore
    fraction, truth = rock_scan.resample_pores(pores, 0.5)
    assert fraction.shape == (4, 4)
    assert fraction[0, 0] == fraction[1, 1] == 0.0 and fraction[2, 2] == 0.75
    assert fraction[3, 1] == 0.5 and fraction[2, 0] == 0.25 and fraction[0, 3] == 1.0
    assert truth.sum() == 5 and truth[:2, :2].all() and truth[2, 0]


def test_rings_are_concentric():
    flat = np.zeros((101, 101), bool)
    scanner = rock_scan.RockScanner(**{**CLEAN, "rings": 0.05})
    image, _ = rock_scan.scan_pores(flat, scanner, seed=3)
    rows, cols = np.indices(image.shape)
    radius = np.hypot(rows + 0.5 - 50.5, cols + 0.5 - 50.5).astype(int)
    values = image.astype(float)
    along = np.mean([values[radius == k].std() for k in range(5, 50)])
    across = np.std([values[radius == k].mean() for k in range(5, 50)])
    assert across > 4 and along < 0.3 * across
    assert rock_scan.RockScanner(**CLEAN).settings().rings == 0  # rings are optional


def test_ice_scans_without_rings_are_unchanged():
    mask = np.zeros((64, 64), bool)
    mask[10:40, 20:50] = True
    image = ice_scan.scan_slice(mask, (32.0, 32.0), 30.0, ice_scan.ScanSettings(ring_width=4, margin=2), 1)
    assert hashlib.sha256(image.tobytes()).hexdigest()[:16] == "98512105d516bddc"


@pytest.mark.skipif(not (REALDATA / "bentheimer.npz").exists(), reason="shared/realdata is absent")
def test_otsu_on_a_scanned_real_slice():
    """A real Bentheimer slice at half resolution: Otsu finds the pores, but not exactly (noise,
    cupping, rings), and the truth keeps the real porosity (~20 %)."""
    pores = np.load(REALDATA / "bentheimer.npz")["arr_0"][300]
    image, truth = rock_scan.scan_pores(pores, rock_scan.RockScanner(factor=0.5), seed=0)
    assert image.shape == (250, 250) and 0.17 < truth.mean() < 0.24
    otsu = image <= threshold_otsu(image)
    assert 0.55 < iou(otsu, truth == 1) < 0.9
    clean, _ = rock_scan.scan_pores(pores, rock_scan.RockScanner(factor=0.5, **CLEAN))
    # without the faults Otsu's threshold falls on the half-pore pixels' grey (solid by truth)
    assert iou(clean < threshold_otsu(clean), truth == 1) > 0.9
