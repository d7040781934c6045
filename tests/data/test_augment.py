"""Tests for coretf.data.augment: Hutton (2025) GN, CS and RF augmentations."""

import json

import numpy as np
import pytest
import tensorflow as tf

from coretf.data.augment import (
    ColourStats,
    augment,
    cluster_switch,
    flip_across_core,
    gaussian_shift,
)
from coretf.data.colour import lab_to_rgb, rgb_to_lab

CLUSTER_A = np.array([50.0, 5.0, 10.0])
CLUSTER_B = np.array([45.0, 12.0, 15.0])
STATS = ColourStats(
    section_sd=np.array([2.0, 1.0, 1.5]), cluster_means=np.stack([CLUSTER_A, CLUSTER_B])
)


def _seed(i: int, j: int = 0) -> tf.Tensor:
    return tf.constant([i, j], tf.int64)


def _lab_patch(
    centre: np.ndarray, shape=(6, 8), spread: float = 2.0, seed: int = 0
) -> np.ndarray:
    """Lab colours scattered around `centre`, well inside the sRGB gamut."""
    rng = np.random.default_rng(seed)
    return (centre + rng.normal(0.0, spread, shape + (3,))).astype(np.float32)


def _image(centre=CLUSTER_A, **kwargs) -> tf.Tensor:
    return lab_to_rgb(_lab_patch(centre, **kwargs))


def _mask(shape=(6, 8), value: int = 1) -> tf.Tensor:
    return tf.fill(shape + (1,), tf.constant(value, tf.int32))


# GN ---------------------------------------------------------------------------------------------


def test_gn_shifts_every_pixel_by_one_vector():
    image = _image()
    out = gaussian_shift(image, _seed(1), STATS, fraction=1.0, p=1.0)
    diff = (rgb_to_lab(out) - rgb_to_lab(image)).numpy().reshape(-1, 3)
    assert np.abs(diff.mean(axis=0)).max() > 0.1  # it did shift
    np.testing.assert_allclose(diff, np.broadcast_to(diff.mean(axis=0), diff.shape), atol=2e-3)


def test_gn_shift_sd_is_fraction_of_section_sd():
    image = _image(shape=(1, 1))
    fraction = 0.5
    shifts = (
        tf.data.Dataset.range(400)
        .map(lambda i: gaussian_shift(image, tf.stack([i, 3]), STATS, fraction, p=1.0))
        .map(lambda out: rgb_to_lab(out)[0, 0] - rgb_to_lab(image)[0, 0])
        .batch(400)
        .get_single_element()
        .numpy()
    )
    expected = fraction * STATS.section_sd
    np.testing.assert_allclose(shifts.std(axis=0), expected, rtol=0.15)
    assert np.all(np.abs(shifts.mean(axis=0)) < 3 * expected / np.sqrt(400))


# CS ---------------------------------------------------------------------------------------------


def _undisturbed_mean(image: tf.Tensor, mask: np.ndarray) -> np.ndarray:
    return rgb_to_lab(image).numpy()[mask[..., 0] == 1].mean(axis=0)


def test_cs_moves_undisturbed_mean_from_a_to_b():
    # Undisturbed third sits near cluster A; the disturbed two thirds sit near B. An all-pixel
    # mean would pick B as nearest and shift the wrong way.
    lab = _lab_patch(CLUSTER_A + [1.0, -0.5, 0.5], spread=0.5)
    lab[2:] = _lab_patch(CLUSTER_B, shape=(4, 8), spread=0.5, seed=1)
    mask = np.zeros((6, 8, 1), np.int32)
    mask[:2] = 1
    image = lab_to_rgb(lab)
    out = cluster_switch(image, tf.constant(mask), _seed(0), STATS, p=1.0)
    before = _undisturbed_mean(image, mask)
    after = _undisturbed_mean(out, mask)
    np.testing.assert_allclose(after - before, CLUSTER_B - CLUSTER_A, atol=1e-2)
    np.testing.assert_allclose(after - CLUSTER_B, before - CLUSTER_A, atol=1e-2)


def test_cs_without_undisturbed_pixels_uses_all_pixels():
    image = _image(CLUSTER_B, spread=0.5)
    out = cluster_switch(image, _mask(value=0), _seed(0), STATS, p=1.0)
    shift = (rgb_to_lab(out) - rgb_to_lab(image)).numpy().reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(shift, CLUSTER_A - CLUSTER_B, atol=1e-2)


# RF ---------------------------------------------------------------------------------------------


def test_rf_flips_rows_of_image_and_mask_never_columns():
    image = tf.reshape(tf.range(4 * 5 * 3, dtype=tf.float32), (4, 5, 3)) / 60.0
    mask = tf.reshape(tf.range(4 * 5, dtype=tf.int32), (4, 5, 1))
    flipped = (image[::-1], mask[::-1])
    outcomes = set()
    for i in range(20):
        out_image, out_mask = flip_across_core(image, mask, _seed(i))
        did_flip = bool(tf.reduce_all(out_image == flipped[0]))
        expected = flipped if did_flip else (image, mask)
        np.testing.assert_array_equal(out_image, expected[0])
        np.testing.assert_array_equal(out_mask, expected[1])  # same decision as the image
        outcomes.add(did_flip)
    assert outcomes == {True, False}


# augment: probabilities, seeds, graph mode ------------------------------------------------------


@pytest.mark.parametrize("name", ["gn", "cs", "rf"])
def test_p0_is_identity_and_p1_always_applies(name):
    image, mask = _image(), tf.constant(np.arange(48).reshape(6, 8, 1) % 2, tf.int32)
    for i in range(8):
        same = augment(image, mask, _seed(i), augmentations=[name], stats=STATS, p=0.0)
        np.testing.assert_array_equal(same[0], image)
        np.testing.assert_array_equal(same[1], mask)
        changed = augment(
            image, mask, _seed(i), augmentations=[name], stats=STATS, gn_fraction=1.0, p=1.0
        )
        assert np.abs(changed[0] - image).max() > 1e-3
    if name == "rf":
        np.testing.assert_array_equal(changed[1], mask[::-1])


def test_same_seed_same_output_different_seed_different():
    image, mask = _image(), _mask()
    kwargs = dict(augmentations=("gn", "cs", "rf"), stats=STATS, p=1.0)
    first = augment(image, mask, _seed(5, 9), **kwargs)
    again = augment(image, mask, _seed(5, 9), **kwargs)
    other = augment(image, mask, _seed(6, 9), **kwargs)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert np.abs(first[0] - other[0]).max() > 1e-3


def test_about_half_applied_at_p_half_and_streams_independent():
    image = tf.constant([[[0.2, 0.3, 0.4]], [[0.6, 0.5, 0.4]]])  # (2, 1, 3)
    mask = tf.constant([[[1]], [[0]]])

    def flags(i):
        seed = tf.stack([i, 11])
        rf_only, _ = augment(image, mask, seed, augmentations=["rf"])
        both, _ = augment(image, mask, seed, augmentations=["gn", "rf"], stats=STATS)
        flipped = tf.reduce_all(rf_only == image[::-1])
        # GN was applied iff `both` is neither `image` nor its flip, bit for bit.
        gn_applied = tf.logical_not(
            tf.reduce_all(both == image) | tf.reduce_all(both == image[::-1])
        )
        flipped_with_gn = tf.reduce_all(tf.abs(both - image[::-1]) < 0.05)
        return flipped, gn_applied, flipped_with_gn

    rf, gn, rf_with_gn = (
        t.numpy() for t in tf.data.Dataset.range(400).map(flags).batch(400).get_single_element()
    )
    assert 0.42 < rf.mean() < 0.58
    assert 0.42 < gn.mean() < 0.58
    assert 0.17 < (rf & gn).mean() < 0.33  # independent coins
    # RF's decision for a seed does not change when GN is also selected.
    np.testing.assert_array_equal(rf, rf_with_gn)


def test_inside_dataset_map_matches_eager():
    images = tf.stack([_image(seed=k) for k in range(3)])
    masks = tf.constant(np.random.default_rng(0).integers(0, 2, (3, 6, 8, 1)), tf.int32)
    kwargs = dict(augmentations=("cs", "gn", "rf"), stats=STATS)

    def train_map(index, example):
        return augment(*example, tf.stack([index, 42]), **kwargs)

    ds = tf.data.Dataset.from_tensor_slices((images, masks)).enumerate().map(train_map)
    for k, (image, mask) in enumerate(ds):
        want = augment(images[k], masks[k], _seed(k, 42), **kwargs)
        assert image.shape == (6, 8, 3) and image.dtype == tf.float32
        assert mask.shape == (6, 8, 1) and mask.dtype == tf.int32
        np.testing.assert_allclose(image, want[0], atol=1e-6)
        np.testing.assert_array_equal(mask, want[1])


# Errors -----------------------------------------------------------------------------------------


def test_bad_arguments_raise():
    image, mask = _image(), _mask()
    with pytest.raises(ValueError, match=r"'hf'.*gn, cs, rf"):
        augment(image, mask, _seed(0), augmentations=["rf", "hf"])
    for name in ("gn", "cs"):
        with pytest.raises(ValueError, match="stats"):
            augment(image, mask, _seed(0), augmentations=[name])
    with pytest.raises(ValueError, match="twice"):
        augment(image, mask, _seed(0), augmentations=["rf", "rf"])
    with pytest.raises(TypeError, match="sequence"):
        augment(image, mask, _seed(0), augmentations="rf")
    with pytest.raises(ValueError, match="probability"):
        augment(image, mask, _seed(0), augmentations=["rf"], p=1.5)
    with pytest.raises(ValueError, match="cluster means"):
        cluster_switch(image, mask, _seed(0), ColourStats.paper())
    with pytest.raises(ValueError, match=r"\(H, W, 1\)"):
        cluster_switch(image, mask[..., 0], _seed(0), STATS)
    with pytest.raises(ValueError, match="fraction"):
        gaussian_shift(image, _seed(0), STATS, fraction=-0.1)


# ColourStats ------------------------------------------------------------------------------------


def test_colour_stats_recovers_two_clusters_and_round_trips():
    rng = np.random.default_rng(0)
    red = rng.normal([45.0, 12.0, 15.0], 0.5, (15, 3))
    grey = rng.normal([60.0, 2.0, 8.0], 0.5, (25, 3))
    means = np.concatenate([red, grey])
    stats = ColourStats.from_section_means(means)
    # Sorted by a*: the grey cluster first.
    np.testing.assert_allclose(stats.cluster_means, [grey.mean(0), red.mean(0)], atol=1e-9)
    np.testing.assert_allclose(stats.section_sd, means.std(axis=0, ddof=1))
    restored = ColourStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    assert restored == stats
    with pytest.raises(ValueError):  # read-only: model directories must not drift
        stats.section_sd[0] = 1.0


def test_colour_stats_paper_and_invalid_input():
    paper = ColourStats.paper()
    np.testing.assert_array_equal(paper.section_sd, [2.38, 0.76, 1.37])
    assert not paper.has_clusters
    assert paper.to_dict()["cluster_means"] is None
    assert ColourStats.from_dict(json.loads(json.dumps(paper.to_dict()))) == paper
    with pytest.raises(ValueError, match="at least 2"):
        ColourStats.from_section_means(np.array([[50.0, 5.0, 10.0]]))
    with pytest.raises(ValueError, match="distinct"):
        ColourStats.from_section_means(np.tile([50.0, 5.0, 10.0], (4, 1)))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        ColourStats.from_section_means(np.zeros((5, 2)))
