"""CIELAB conversion in TensorFlow with OpenCV's constants.

Hutton (2025, §2.2, eqs. 1-5) measures core colour in CIELAB "as implemented in the openCV
library". The paper's equations leave out two things OpenCV does. It divides X and Z by its D65
white point (Xn = 0.950456, Zn = 1.088754), and `COLOR_RGB2Lab` applies the sRGB gamma (with its
linear toe) first, while `COLOR_LRGB2Lab` does not. This module uses OpenCV's constants:

    linear  = x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4     (sRGB only)
    [X/Xn, Y, Z/Zn] = diag(1/Xn, 1, 1/Zn) @ M_sRGB->XYZ @ linear
    f(t)    = t ** (1/3) if t > 0.008856 else 7.787 t + 16/116
    L*      = 116 f(Y) - 16 if Y > 0.008856 else 903.3 Y
    a*      = 500 (f(X/Xn) - f(Y)),   b* = 200 (f(Y) - f(Z/Zn))

The functions are pure TensorFlow ops, so they run on any leading shape and inside
`tf.data.Dataset.map`.

How close to OpenCV (measured against opencv-python 5.0 on float32 input)
    For float32 sRGB input, `cv2.cvtColor(img, cv2.COLOR_RGB2Lab)` does not evaluate the
    formula. It quantises each channel to 1/512, interpolates trilinearly in a 33^3 table and
    returns L* in steps of 100/16384 and a*, b* in steps of 1/64. That table lies up to about
    0.65 (a*, b*) and 0.25 (L*) away from the formula. So `rgb_to_lab` with the default
    `match_opencv=False` evaluates the exact formula, which `lab_to_rgb` inverts to 1e-4 and
    which the colour augmentations use. `match_opencv=True` rebuilds OpenCV's table and
    interpolation and matches cv2 to one output step (at most 0.0061 in L* and 0.0156 in a*,
    b*, on about 0.05 % of values). For linear input (`srgb=False`, `COLOR_LRGB2Lab`),
    OpenCV evaluates the formula with a spline cube root, and the two differ by at most 0.03.
    Both clip input to [0, 1] first, as OpenCV does.

OpenCV's float and 8-bit conventions differ; keep that in mind when you compare with cv2:
    float32 input in [0, 1]  ->  float32 L* in [0, 100], a* and b* unscaled (about -128..127).
    uint8 input in [0, 255]  ->  uint8 round(L* * 255 / 100), round(a* + 128), round(b* + 128),
                                 from coarse 8-bit tables: over all 2^24 colours they are up to
                                 2 counts (L*), 3 (a*) and 2 (b*) off the rounded formula.
    float input in [0, 255]  ->  silently wrong: cv2 clips float input to [0, 1] first.
    cv2.imread returns BGR: use COLOR_BGR2Lab on it, or convert to RGB first.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

# OpenCV's sRGB (D65) -> XYZ matrix and white point (color_lab.cpp, sRGB2XYZ_D65 and D65).
_RGB_TO_XYZ = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=np.float64,
)
_WHITE_D65 = np.array([0.950456, 1.0, 1.088754], dtype=np.float64)
# Dividing the rows by the white point lets f() take X/Xn, Y, Z/Zn straight from one matmul.
_RGB_TO_XYZN = _RGB_TO_XYZ / _WHITE_D65[:, None]
# OpenCV's Lab2RGB uses its own 6-digit XYZ->sRGB matrix. The exact inverse agrees with it to
# about 1e-6 and makes rgb -> lab -> rgb round trips exact up to float32 rounding.
_XYZN_TO_RGB = np.linalg.inv(_RGB_TO_XYZN)

_F_THRESHOLD = 0.008856  # (6/29)^3, as rounded in OpenCV's float path
_F_SLOPE = 7.787  # (29/3)^3 / 116, ditto
_F_BIAS = 16.0 / 116.0
_L_SLOPE = 903.3  # (29/3)^3
# The inverse switches branch where the forward does, not at OpenCV's rounded 8 and 6/29.
# Otherwise values in the sliver between the two thresholds would not round-trip.
_F_AT_THRESHOLD = _F_THRESHOLD ** (1.0 / 3.0)
_L_AT_THRESHOLD = 116.0 * _F_AT_THRESHOLD - 16.0

_GAMMA_THRESHOLD = 0.04045
_INV_GAMMA_THRESHOLD = 0.04045 / 12.92  # 0.0031308, where the linear toe meets the power law


def _as_float32(x: tf.Tensor, name: str) -> tf.Tensor:
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise TypeError(
            f"{name} must be a floating tensor with values in [0, 1] (RGB) or Lab units, got "
            f"dtype {x.dtype.name}; scale 8-bit images with tf.image.convert_image_dtype first"
        )
    return tf.cast(x, tf.float32)


def _matmul_last(x: tf.Tensor, matrix: np.ndarray) -> tf.Tensor:
    """Applies a 3x3 matrix to the last axis of x (..., 3)."""
    return tf.einsum("...i,ji->...j", x, tf.constant(matrix, tf.float32))


def srgb_to_linear(rgb: tf.Tensor) -> tf.Tensor:
    """The sRGB transfer function (decoding gamma) with its linear toe.

    Args:
      rgb: float tensor (..., C) of sRGB values in [0, 1].

    Returns:
      float32 tensor of the same shape with linear-light values in [0, 1].
    """
    rgb = _as_float32(rgb, "rgb")
    # maximum() keeps pow's gradient finite on the branch that tf.where discards.
    power = tf.pow((tf.maximum(rgb, _GAMMA_THRESHOLD) + 0.055) / 1.055, 2.4)
    return tf.where(rgb <= _GAMMA_THRESHOLD, rgb / 12.92, power)


def linear_to_srgb(linear: tf.Tensor) -> tf.Tensor:
    """The inverse of `srgb_to_linear`.

    Args:
      linear: float tensor (..., C) of linear-light values in [0, 1].

    Returns:
      float32 tensor of the same shape with sRGB values in [0, 1].
    """
    linear = _as_float32(linear, "linear")
    power = 1.055 * tf.pow(tf.maximum(linear, _INV_GAMMA_THRESHOLD), 1.0 / 2.4) - 0.055
    return tf.where(linear <= _INV_GAMMA_THRESHOLD, linear * 12.92, power)


def _lab_f(t: tf.Tensor) -> tf.Tensor:
    cube_root = tf.pow(tf.maximum(t, _F_THRESHOLD), 1.0 / 3.0)
    return tf.where(t > _F_THRESHOLD, cube_root, _F_SLOPE * t + _F_BIAS)


def _lab_f_inverse(f: tf.Tensor) -> tf.Tensor:
    return tf.where(f > _F_AT_THRESHOLD, f * f * f, (f - _F_BIAS) / _F_SLOPE)


def rgb_to_lab(
    rgb: tf.Tensor, *, srgb: bool = True, match_opencv: bool = False
) -> tf.Tensor:
    """Converts RGB in [0, 1] to CIELAB as OpenCV's float32 `cvtColor` does.

    Args:
      rgb: float tensor (..., 3), channels in R, G, B order, values in [0, 1]. Values outside
        are clipped, as OpenCV clips them.
      srgb: True for sRGB-encoded input (like `cv2.COLOR_RGB2Lab`). False for linear RGB
        (like `cv2.COLOR_LRGB2Lab`, no gamma).
      match_opencv: if True (sRGB input only), reproduce OpenCV's 33^3 lookup table and
        fixed-point trilinear interpolation, which agrees with cv2 to one output step but is
        not smooth and not exactly invertible. If False, evaluate the exact formula (see the
        module docstring). It has no effect when srgb is False, because OpenCV evaluates the
        formula there.

    Returns:
      float32 tensor (..., 3) holding L* in [0, 100], then a* and b*.

    Example:
      >>> rgb_to_lab(tf.constant([[1.0, 1.0, 1.0]]))  # white -> [[100., 0., 0.]]
    """
    rgb = tf.clip_by_value(_as_float32(rgb, "rgb"), 0.0, 1.0)
    if match_opencv and srgb:
        return _rgb_to_lab_opencv_table(rgb)
    linear = srgb_to_linear(rgb) if srgb else rgb
    xyz = _matmul_last(linear, _RGB_TO_XYZN)
    f = _lab_f(xyz)
    fx, fy, fz = tf.unstack(f, axis=-1)
    y = xyz[..., 1]
    lightness = tf.where(y > _F_THRESHOLD, 116.0 * fy - 16.0, _L_SLOPE * y)
    return tf.stack([lightness, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab: tf.Tensor, *, srgb: bool = True) -> tf.Tensor:
    """Converts CIELAB back to RGB in [0, 1]. This is the exact inverse of `rgb_to_lab`.

    Colours outside the RGB gamut are clipped to [0, 1] in linear light before the gamma is
    applied, as OpenCV's `COLOR_Lab2RGB` does.

    Args:
      lab: float tensor (..., 3) of L*, a*, b*.
      srgb: True to return sRGB-encoded values (like `cv2.COLOR_Lab2RGB`). False for linear
        RGB (like `cv2.COLOR_Lab2LRGB`).

    Returns:
      float32 tensor (..., 3) of R, G, B in [0, 1].
    """
    lab = _as_float32(lab, "lab")
    lightness, a, b = tf.unstack(lab, axis=-1)
    toe = lightness <= _L_AT_THRESHOLD
    y = tf.where(toe, lightness / _L_SLOPE, tf.pow((lightness + 16.0) / 116.0, 3.0))
    fy = tf.where(toe, _F_SLOPE * y + _F_BIAS, (lightness + 16.0) / 116.0)
    x = _lab_f_inverse(fy + a / 500.0)
    z = _lab_f_inverse(fy - b / 200.0)
    linear = _matmul_last(tf.stack([x, y, z], axis=-1), _XYZN_TO_RGB)
    linear = tf.clip_by_value(linear, 0.0, 1.0)
    return linear_to_srgb(linear) if srgb else linear


# OpenCV's interpolated sRGB path (color_lab.cpp: initLUTforLABLUVs16, trilinearInterpolate).
_LUT_SHIFT = 5  # 2^5 + 1 = 33 nodes per axis
_LUT_DIM = (1 << _LUT_SHIFT) + 1
_LAB_BASE_SHIFT = 14  # inputs and outputs in units of 1/16384
_TRILINEAR_SHIFT = 8 - _LUT_SHIFT + 1  # 16 interpolation steps per cell


@functools.lru_cache(maxsize=1)
def _opencv_lab_table() -> np.ndarray:
    """OpenCV's RGB->Lab table, (33**3, 3) int32, row index = (blue * 33 + green) * 33 + red.

    OpenCV computes the table in IEEE float32 ("softfloat"). This mimics each float32 rounding.
    Its cube root differs in the last bit now and then, which moves 61 of the 107,811 entries
    by one step (all within 0.003 of a rounding boundary).
    """
    f32 = np.float32
    nodes = np.arange(_LUT_DIM, dtype=f32) / f32(_LUT_DIM - 1)
    x = nodes.astype(np.float64)
    # OpenCV applies the gamma in double precision, then rounds to float32.
    gamma = np.where(
        x <= _GAMMA_THRESHOLD, x / 12.92, ((x + 0.055) / 1.055) ** 2.4
    ).astype(f32)
    coeffs = _RGB_TO_XYZN.astype(f32)
    # OpenCV lays the table out in BGR order: the outer axis is blue.
    blue, green, red = np.meshgrid(gamma, gamma, gamma, indexing="ij")
    threshold = f32(216) / f32(24389)
    slope = np.float64(f32(841) / f32(108))
    bias = np.float64(f32(16) / f32(116))
    f = []
    xyz = []
    for row in range(3):
        value = (blue * coeffs[row, 2]).astype(f32) + (green * coeffs[row, 1]).astype(f32)
        value = (value.astype(f32) + (red * coeffs[row, 0]).astype(f32)).astype(f32)
        xyz.append(value)
        # mulAdd is a fused multiply-add: one rounding, which float64 then float32 reproduces.
        toe = (value.astype(np.float64) * slope + bias).astype(f32)
        f.append(np.where(value > threshold, np.cbrt(value).astype(f32), toe))
    fx, fy, fz = f
    lightness = np.where(
        xyz[1] > threshold,
        (f32(116) * fy).astype(f32) - f32(16),
        (f32(24389) / f32(27)) * xyz[1],
    ).astype(f32)
    a = (f32(500) * (fx - fy).astype(f32)).astype(f32)
    b = (f32(200) * (fy - fz).astype(f32)).astype(f32)
    base = f32(1 << _LAB_BASE_SHIFT)
    table = np.stack(
        [
            np.rint((base * lightness).astype(f32) / f32(100)),
            np.rint((base * (a + f32(128)).astype(f32)).astype(f32) / f32(256)),
            np.rint((base * (b + f32(128)).astype(f32)).astype(f32) / f32(256)),
        ],
        axis=-1,
    )
    return table.reshape(-1, 3).astype(np.int32)


def _rgb_to_lab_opencv_table(rgb: tf.Tensor) -> tf.Tensor:
    """OpenCV's fixed-point trilinear interpolation. Takes rgb (..., 3) already in [0, 1]."""
    table = tf.constant(_opencv_lab_table())
    # cvRound rounds half to even, like tf.round. Scaling by 2^14 is exact in float32.
    fixed = tf.cast(tf.round(rgb * float(1 << _LAB_BASE_SHIFT)), tf.int32)
    red, green, blue = tf.unstack(fixed, axis=-1)
    cell_shift = _LAB_BASE_SHIFT - _LUT_SHIFT
    frac_shift = _LAB_BASE_SHIFT - 8 - 1
    steps = 1 << _TRILINEAR_SHIFT
    cells, fracs = [], []
    for channel in (blue, green, red):
        cells.append(tf.bitwise.right_shift(channel, cell_shift))
        fracs.append(tf.bitwise.bitwise_and(tf.bitwise.right_shift(channel, frac_shift), steps - 1))
    total = 0
    for corner in range(8):
        offsets = ((corner >> 2) & 1, (corner >> 1) & 1, corner & 1)
        index = 0
        weight = 1
        for cell, frac, offset in zip(cells, fracs, offsets):
            # Input 1.0 falls on the last node. OpenCV clamps the "+1" corner to the table.
            index = index * _LUT_DIM + tf.minimum(cell + offset, _LUT_DIM - 1)
            weight = weight * (frac if offset else steps - frac)
        total += tf.gather(table, index) * weight[..., None]
    descale = 3 * _TRILINEAR_SHIFT
    lab_fixed = tf.bitwise.right_shift(total + (1 << (descale - 1)), descale)
    lab_fixed = tf.cast(lab_fixed, tf.float32)
    step = 1.0 / float(1 << _LAB_BASE_SHIFT)
    lightness = lab_fixed[..., 0] * (100.0 * step)
    ab = lab_fixed[..., 1:] * (256.0 * step) - 128.0
    return tf.concat([lightness[..., None], ab], axis=-1)
