"""Tests of the FCN-8s builder and its VGG16 weight loading."""

import keras
import numpy as np
import pytest

from coretf.models import MODELS, build_fcn8
from coretf.models.fcn8 import BilinearUpsampling

SMALL = dict(filters=(4, 4, 8, 8, 8), fc_filters=16, fc6_kernel=3)


@pytest.fixture
def no_downloads(monkeypatch):
    """Make any attempt to fetch weights fail loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"download attempted: {args} {kwargs}")

    monkeypatch.setattr(keras.src.utils.file_utils, "get_file", refuse)
    monkeypatch.setattr(keras.utils, "get_file", refuse)


def _images(shape, seed=0):
    return np.random.default_rng(seed).uniform(size=shape).astype("float32")


@pytest.mark.parametrize("size", [(64, 64), (32, 96)])
def test_output_shape(size):
    keras.utils.set_random_seed(1)
    model = build_fcn8(num_classes=3, **SMALL)
    assert tuple(model(_images((2, *size, 3))).shape) == (2, *size, 3)


def test_pinned_parameter_count():
    assert build_fcn8(**SMALL).count_params() == 8_186
    assert MODELS["fcn8"] is build_fcn8


def test_upsampling_starts_bilinear_and_the_8x_is_fixed():
    model = build_fcn8(**SMALL)
    up8 = model.get_layer("upscore8")
    assert not up8.trainable and up8.dtype_policy.name == "float32"
    assert model.get_layer("upscore_pool4").trainable
    # Bilinear interpolation of a constant map is the same constant away from the borders.
    layer = keras.layers.Conv2DTranspose(
        2, 16, strides=8, padding="same", use_bias=False, kernel_initializer=BilinearUpsampling()
    )
    out = np.asarray(layer(np.full((1, 4, 4, 2), 3.0, "float32")))
    assert out.shape == (1, 32, 32, 2)
    np.testing.assert_allclose(out[:, 4:-4, 4:-4], 3.0, rtol=1e-6)
    # 2x case, 1-D profile of one input pixel: the triangle filter (0.25, 0.75, 0.75, 0.25).
    kernel = np.asarray(BilinearUpsampling()((4, 4, 1, 1)))[:, :, 0, 0]
    np.testing.assert_allclose(kernel, np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25]))


def test_save_load_round_trip(tmp_path):
    keras.utils.set_random_seed(2)
    model = build_fcn8(**SMALL)
    x = _images((2, 64, 32, 3))
    model.save(tmp_path / "m.keras")
    restored = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )


def test_logits_float32_under_mixed_precision(mixed_bfloat16):
    model = build_fcn8(**SMALL)
    assert model.get_layer("block1_conv1").compute_dtype == "bfloat16"
    assert model(_images((2, 64, 64, 3))).dtype == "float32"


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_vgg16_weights_from_local_file(tmp_path, no_downloads, suffix):
    keras.utils.set_random_seed(3)
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(None, None, 3))
    path = str(tmp_path / f"vgg16_notop{suffix}")
    if suffix == ".weights.h5":
        vgg.save_weights(path)
    else:  # the legacy HDF5 layout of Keras' published ImageNet file
        vgg.save(path)
    model = build_fcn8(fc_filters=8, fc6_kernel=1, vgg16_weights=path)
    for name in ("block1_conv1", "block3_conv3", "block5_conv3"):
        theirs = vgg.get_layer(name).get_weights()
        for ours, expected in zip(model.get_layer(name).get_weights(), theirs, strict=True):
            np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(kernel_size=5, vgg16_weights="vgg.h5"), ValueError, "kernel_size=5"),
        (dict(batchnorm=True, vgg16_weights="vgg.h5"), ValueError, "batchnorm"),
        (dict(vgg16_weights="imagenet"), FileNotFoundError, "nothing is downloaded"),
        (dict(filters=(8, 8, 8)), ValueError, "filters"),
        (dict(kernel_size=2), ValueError, "kernel_size"),
    ],
)
def test_bad_arguments(no_downloads, kwargs, error, match):
    with pytest.raises(error, match=match):
        build_fcn8(**kwargs)
