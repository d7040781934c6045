"""Tests for coretf.data.colour against OpenCV's cvtColor."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from coretf.data.colour import lab_to_rgb, rgb_to_lab

# sRGB 8-bit values of colour-card patches: white, black, primaries, secondaries, greys, and
# X-Rite ColorChecker patches (dark skin, light skin, blue sky, foliage, orange, dark grey).
_CARD = np.array(
    [
        [255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255],
        [0, 255, 255], [255, 0, 255], [255, 255, 0], [128, 128, 128], [10, 10, 10],
        [115, 82, 68], [194, 150, 130], [98, 122, 157], [87, 108, 67], [214, 126, 44],
        [52, 52, 52],
    ],
    dtype=np.float32,
) / 255.0

# One OpenCV output step: L* in 100/16384, a* and b* in 1/64.
_OPENCV_STEP = np.array([100.0 / 16384, 1.0 / 64, 1.0 / 64])


def _images() -> np.ndarray:
    """A 16x16 random image with dark-heavy values, plus the colour card, as (N, 3)."""
    rng = np.random.default_rng(0)
    random = rng.random((256, 3), dtype=np.float32) ** 2  # squared: more dark colours
    return np.concatenate([random, _CARD]).reshape(1, -1, 3)


def _max_err(ours: tf.Tensor, reference: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(ours) - reference).reshape(-1, 3).max(axis=0)


def test_white_and_black_golden():
    lab = rgb_to_lab(tf.constant([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])).numpy()
    # OpenCV's white point is the row sum of its matrix, so white is exactly neutral.
    np.testing.assert_allclose(lab, [[100.0, 0.0, 0.0], [0.0, 0.0, 0.0]], atol=1e-4)
    red = rgb_to_lab(tf.constant([1.0, 0.0, 0.0])).numpy()
    np.testing.assert_allclose(red, [53.2406, 80.0942, 67.2015], atol=2e-3)


def test_exact_formula_against_opencv_srgb():
    img = _images()
    err = _max_err(rgb_to_lab(img), cv2.cvtColor(img, cv2.COLOR_RGB2Lab))
    # cv2 interpolates sRGB in a 33^3 table, which lies off the formula by up to 0.24 L*, 0.64
    # a*, 0.51 b* over 65k random colours (0.20, 0.26, 0.37 on this set).
    assert np.all(err < [0.25, 0.65, 0.65]), err
    assert err.max() > 0.1  # the difference is real, so match_opencv exists


def test_match_opencv_reproduces_cv2_table_to_one_step():
    img = _images()
    reference = cv2.cvtColor(img, cv2.COLOR_RGB2Lab)
    ours = rgb_to_lab(img, match_opencv=True).numpy()
    err = np.abs(ours - reference).reshape(-1, 3)
    assert np.all(err.max(axis=0) <= _OPENCV_STEP + 1e-6), err.max(axis=0)
    assert np.mean(err > 1e-6) < 0.01  # off by one step only where rounding ties nearly


def test_exact_formula_against_opencv_linear():
    img = _images()
    err = _max_err(rgb_to_lab(img, srgb=False), cv2.cvtColor(img, cv2.COLOR_LRGB2Lab))
    # cv2's spline cube root: 0.001, 0.013, 0.007 on this set, 0.030 in a* at worst over 65k
    # dark colours.
    assert np.all(err < [0.002, 0.015, 0.008]), err
    # match_opencv only changes the sRGB path.
    np.testing.assert_array_equal(
        rgb_to_lab(img, srgb=False, match_opencv=True), rgb_to_lab(img, srgb=False)
    )


@pytest.mark.parametrize("srgb", [True, False])
def test_round_trip(srgb):
    img = _images()
    back = lab_to_rgb(rgb_to_lab(img, srgb=srgb), srgb=srgb).numpy()
    # Measured 4e-6 (float32 rounding).
    np.testing.assert_allclose(back, img, atol=2e-5, rtol=0)


@pytest.mark.parametrize(
    "srgb,code", [(True, cv2.COLOR_Lab2RGB), (False, cv2.COLOR_Lab2LRGB)]
)
def test_lab_to_rgb_against_opencv(srgb, code):
    lab = rgb_to_lab(_images(), srgb=srgb).numpy()
    reference = cv2.cvtColor(lab, code)
    # cv2 uses a 1024-node spline for the inverse gamma; measured 8e-5 (sRGB), 1.2e-6 (linear).
    np.testing.assert_allclose(lab_to_rgb(lab, srgb=srgb), reference, atol=1e-4, rtol=0)


def test_out_of_gamut_lab_is_clipped():
    rgb = lab_to_rgb(tf.constant([[50.0, 120.0, -120.0], [120.0, 0.0, 0.0]])).numpy()
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    np.testing.assert_allclose(rgb[1], [1.0, 1.0, 1.0])


def test_input_clipped_like_opencv():
    img = np.array([[[1.2, -0.1, 0.5]]], np.float32)
    clipped = rgb_to_lab(np.clip(img, 0, 1)).numpy()
    np.testing.assert_array_equal(rgb_to_lab(img).numpy(), clipped)
    reference = cv2.cvtColor(img, cv2.COLOR_RGB2Lab)
    assert np.all(_max_err(rgb_to_lab(img, match_opencv=True), reference) <= _OPENCV_STEP)


def test_uint8_convention():
    img8 = (_images() * 255).round().astype(np.uint8)
    cv8 = cv2.cvtColor(img8, cv2.COLOR_RGB2Lab).astype(int)
    lab = rgb_to_lab(img8.astype(np.float32) / 255.0).numpy()
    # cv2's 8-bit Lab: L* scaled to 0..255, a* and b* offset by 128.
    ours8 = np.rint(
        np.stack([lab[..., 0] * 255 / 100, lab[..., 1] + 128, lab[..., 2] + 128], -1)
    ).astype(int)
    # cv2's 8-bit tables: at most 2, 3, 2 counts off over all 2^24 colours (1, 2, 1 here).
    assert np.all(np.abs(ours8 - cv8).reshape(-1, 3).max(axis=0) <= [2, 3, 2])
    np.testing.assert_array_equal(cv8[0, 256], [255, 128, 128])  # the card's white


def test_any_leading_shape_and_inside_dataset_map():
    batch = tf.random.stateless_uniform([2, 3, 4, 3], seed=[3, 4])
    expected = [rgb_to_lab(image).numpy() for image in batch]
    np.testing.assert_allclose(rgb_to_lab(batch), expected, atol=1e-4)
    mapped = tf.data.Dataset.from_tensor_slices(batch).map(
        lambda x: (rgb_to_lab(x), rgb_to_lab(x, match_opencv=True))
    )
    for (lab, lab_cv), image, want in zip(mapped, batch, expected):
        assert lab.dtype == tf.float32 and lab.shape == (3, 4, 3)
        np.testing.assert_allclose(lab, want, atol=1e-4)
        np.testing.assert_array_equal(lab_cv, rgb_to_lab(image, match_opencv=True))


def test_integer_input_rejected():
    with pytest.raises(TypeError, match="floating"):
        rgb_to_lab(tf.zeros([2, 2, 3], tf.uint8))
