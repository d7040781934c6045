"""Tests of the synthetic split-core generator (coretf.synthetic): layout, determinism, exact labels,
disturbed fraction, colour clusters and resolution independence."""

import cv2
import numpy as np
import pytest

from coretf import synthetic
from coretf.synthetic import cores
from coretf.synthetic import disturbances
from coretf.synthetic import raster
from coretf.synthetic import scene

SMALL = {"length_cm": 30.0, "px_per_cm": 20.0}


@pytest.fixture(scope="module")
def sections() -> list[synthetic.SyntheticSection]:
    return [synthetic.make_section(i, seed=0, **SMALL) for i in range(10)]


def _core(section, array):
    x0, y0, x1, y1 = section.core_box
    return array[y0:y1, x0:x1]


def test_shapes_dtypes_and_layout(sections):
    s = sections[7]
    # 20 px/cm: 2.0 cm above the 6.8 cm core and 1.2 cm below; 7.2 cm of card to its left.
    assert s.image.shape == (200, 764, 3) and s.image.dtype == np.uint8
    assert s.mask.shape == s.disturbance.shape == (200, 764)
    assert s.mask.dtype == s.disturbance.dtype == np.uint8
    assert s.core_box == (144, 40, 744, 176)
    assert s.card_box == (8, 10, 128, 190)
    assert s.cluster.shape == (600,) and s.cluster.dtype == np.int8
    assert set(np.unique(s.cluster)) <= {0, 1}
    assert s.section_id == "S0007"
    assert s.length_cm == 30.0 and s.px_per_cm == 20.0 and s.top_depth_cm == 210.0
    assert synthetic.make_section(2, top_depth_cm=55.5, **SMALL).top_depth_cm == 55.5
    assert set(np.unique(s.mask)) <= {0, 1}
    assert set(np.unique(s.disturbance)) <= set(synthetic.DISTURBANCE_CODES.values())


def test_codes_table_is_one_code_per_type():
    codes = synthetic.DISTURBANCE_CODES
    assert codes["none"] == 0
    assert sorted(codes.values()) == list(range(len(codes)))
    assert cores.APPEARANCE_KEEP.shape == (len(codes), 3)


def test_deterministic_in_seed_and_index():
    a = synthetic.make_section(3, seed=5, **SMALL)
    b = synthetic.make_section(3, seed=5, **SMALL)
    for field in ("image", "mask", "disturbance", "cluster"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.image, synthetic.make_section(4, seed=5, **SMALL).image)
    assert not np.array_equal(a.image, synthetic.make_section(3, seed=6, **SMALL).image)


def test_tiling_does_not_change_the_image(monkeypatch):
    whole = synthetic.make_section(2, **SMALL)  # 764 columns: one tile
    monkeypatch.setattr(scene, "_TILE_PIXELS", 1)  # the smallest tile, 512 columns
    tiled = synthetic.make_section(2, **SMALL)
    np.testing.assert_array_equal(tiled.image, whole.image)
    np.testing.assert_array_equal(tiled.mask, whole.mask)


def test_nothing_labelled_outside_the_core(sections):
    for s in sections:
        outside = np.ones(s.mask.shape, bool)
        outside[s.core_box[1]:s.core_box[3], s.core_box[0]:s.core_box[2]] = False
        assert not s.mask[outside].any()
        assert not s.disturbance[outside].any()


def test_codes_exactly_where_the_mask_is_zero_in_the_core(sections):
    for s in sections:
        np.testing.assert_array_equal(_core(s, s.disturbance) > 0, _core(s, s.mask) == 0)


def test_disturbed_fraction_is_plausible_and_varied(sections):
    fractions = np.array([1 - _core(s, s.mask).mean() for s in sections])
    # The paper's model discards 26.6 % of the core; sections range from clean to ruined.
    assert 0.12 < fractions.mean() < 0.38
    assert fractions.min() < 0.08 and fractions.max() > 0.3


def test_colour_clusters_recovered_from_undisturbed_pixels(sections):
    per_cluster = {0: [], 1: []}
    for s in sections:
        keep = _core(s, s.mask).astype(bool)
        lab = cv2.cvtColor(_core(s, s.image).astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
        count = keep.sum(0)
        column_mean = (lab * keep[..., None]).sum(0) / np.maximum(count, 1)[:, None]
        mostly_kept = count >= 0.5 * keep.shape[0]
        for k in (0, 1):
            per_cluster[k].append(column_mean[mostly_kept & (s.cluster == k)])
    means = np.array([np.concatenate(per_cluster[k]).mean(0) for k in (0, 1)])
    np.testing.assert_allclose(means, synthetic.CLUSTER_MEANS_LAB, atol=2.5)
    assert means[1, 1] - means[0, 1] > 3.0  # the clusters differ by redness


def test_section_mean_lab_lies_between_the_clusters(sections):
    lo, hi = synthetic.CLUSTER_MEANS_LAB.min(0) - 2, synthetic.CLUSTER_MEANS_LAB.max(0) + 2
    for s in sections[:3]:
        mean = synthetic.section_mean_lab(s)
        assert mean.shape == (3,) and np.all(mean > lo) and np.all(mean < hi)


def test_card_left_of_the_core_and_white(sections):
    s = sections[0]
    assert s.card_box[2] <= s.core_box[0]
    x0, y0, x1, y1 = s.card_box
    lightness = cv2.cvtColor(s.image[y0:y1, x0:x1].astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[..., 0]
    assert (lightness > 85).mean() > 0.2  # the paper's card check: a fifth of it white


def test_same_section_at_two_resolutions():
    low = synthetic.make_section(1, seed=2, length_cm=30.0, px_per_cm=10.0)
    high = synthetic.make_section(1, seed=2, length_cm=30.0, px_per_cm=20.0)
    assert high.image.shape[1] == 2 * low.image.shape[1]
    assert np.array_equal(np.array(high.core_box), 2 * np.array(low.core_box))
    # Geometry is drawn in cm, so the labels agree up to boundary pixels.
    down = cv2.resize(_core(high, high.mask), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_NEAREST)
    assert (down == _core(low, low.mask)).mean() > 0.95
    assert (high.cluster[1::2] == low.cluster).mean() > 0.98


def test_rasterize_keeps_appearance_inside_the_label():
    rng = np.random.default_rng(0)
    zones, stamps = disturbances.generate(rng, 30.0, 6.8)
    code = np.zeros((136, 600), np.uint8)
    delta = np.zeros((136, 600, 3), np.int8)
    raster.rasterize(stamps, zones, code, delta, 20.0)
    assert code.any()
    assert not delta[code == 0].any()


def test_rasterize_square_in_cm():
    square = np.array([[1.0, 1.0], [2.0, 1.0], [2.0, 2.0], [1.0, 2.0]])
    stamp = disturbances.Stamp(3, (disturbances.Layer("poly", square, np.zeros(0), (-9, 0, 0)),))
    code = np.zeros((160, 160), np.uint8)
    delta = np.zeros((160, 160, 3), np.int8)
    raster.rasterize([stamp], [], code, delta, 40.0)
    rows, cols = np.nonzero(code)
    # Pixels 40..79 lie inside [1, 2) cm; OpenCV also fills the closing boundary pixel.
    assert rows.min() == cols.min() == 40 and rows.max() in (79, 80) and cols.max() in (79, 80)
    assert set(np.unique(delta[code == 3][:, 0])) == {-9}


def test_zone_weight_of_an_edge_zone():
    t = np.array([0.0, 1.0, 9.0, 10.0])
    zone = disturbances.Zone(9, "x", t, np.full(4, -1.0), np.array([0.0, 1.0, 1.0, 0.0]), 0.5)
    w = disturbances.zone_weight(zone, np.array([5.0, 20.0], np.float32),
                                 np.array([0.25, 0.75, 1.5], np.float32))
    np.testing.assert_allclose(w, [[1.0, 0.0], [0.5, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize("kwargs", [{"index": -1}, {"index": 0, "px_per_cm": 0.0},
                                    {"index": 0, "length_cm": 1.0}])
def test_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        synthetic.make_section(**kwargs)
