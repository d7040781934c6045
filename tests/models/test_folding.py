"""Tests of BatchNorm folding on the three models and on hand-built edge cases."""

import keras
import numpy as np
import pytest

from coretf.models import build_fcn8, build_segnet, build_unet, fold_batchnorm

BUILDERS = {
    "segnet": lambda: build_segnet(kernel_size=3, filters=(4, 8), depth=2),
    "unet": lambda: build_unet(depth=2, filters=4),
    "fcn8": lambda: build_fcn8(filters=(4, 4, 8, 8, 8), fc_filters=8, fc6_kernel=1, batchnorm=True),
}


def _randomize_batchnorm(model, seed=0):
    """Give every BatchNorm statistics and an affine map far from the identity."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            if layer.scale:
                layer.gamma.assign(rng.uniform(0.5, 2.0, n))
            if layer.center:
                layer.beta.assign(rng.normal(size=n))
            layer.moving_mean.assign(rng.normal(size=n))
            layer.moving_variance.assign(rng.uniform(0.2, 3.0, n))


def _batchnorms(model):
    return sum(isinstance(l, keras.layers.BatchNormalization) for l in model.layers)


def _images(shape, seed=1):
    return np.random.default_rng(seed).uniform(size=shape).astype("float32")


def _conv_bn_pairs(model, folded):
    """(original conv, its BatchNorm, folded conv) for every BatchNorm that folding removed."""
    pairs = []
    for bn in model.layers:
        if isinstance(bn, keras.layers.BatchNormalization):
            conv = bn._inbound_nodes[0].parent_nodes[0].operation
            pairs.append((conv, bn, folded.get_layer(conv.name)))
    return pairs


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_each_folded_conv_equals_conv_then_batchnorm(name):
    keras.utils.set_random_seed(0)
    model = BUILDERS[name]()
    _randomize_batchnorm(model)
    folded = fold_batchnorm(model)
    x = _images((2, 64, 64, 3))
    pairs = _conv_bn_pairs(model, folded)
    assert pairs and len(pairs) == _batchnorms(model)
    # Every conv sees the trained model's own input, so the check is local to the fold.
    probe = keras.Model(model.input, [conv.input for conv, _, _ in pairs])
    for (conv, bn, folded_conv), inputs in zip(pairs, probe(x)):
        expected = bn(conv(inputs), training=False)
        np.testing.assert_allclose(folded_conv(inputs), expected, rtol=1e-4, atol=1e-4,
                                   err_msg=conv.name)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_folded_model_matches_inference(name):
    keras.utils.set_random_seed(0)
    model = BUILDERS[name]()
    _randomize_batchnorm(model)
    folded = fold_batchnorm(model)
    x = _images((2, 64, 64, 3))
    got, expected = np.asarray(folded(x)), np.asarray(model(x, training=False))
    if name == "segnet":
        # Folding changes float rounding, and a window whose two largest values are within
        # rounding of each other (ReLU zeros next to tiny positives) may then pool from another
        # position, which moves that unpooled value and everything decoded from it. Which
        # windows flip depends on the CPU's kernels; their share of the output stays tiny.
        close = np.isclose(got, expected, rtol=1e-4, atol=1e-4)
        assert close.mean() > 0.99 and np.median(np.abs(got - expected)) < 1e-5
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert _batchnorms(model) > 0 and _batchnorms(folded) == 0
    assert len(folded.layers) == len(model.layers) - _batchnorms(model)
    assert folded.count_params() < model.count_params()
    assert folded.name == model.name
    # The original is untouched.
    assert _batchnorms(model) > 0 and model.get_layer(model.layers[1].name) is model.layers[1]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_fold_into_mixed_bfloat16(name):
    keras.utils.set_random_seed(0)
    model = BUILDERS[name]()
    _randomize_batchnorm(model)
    folded = fold_batchnorm(model, dtype_policy="mixed_bfloat16")
    x = _images((2, 32, 64, 3))
    expected = np.asarray(model(x, training=False))
    got = np.asarray(folded(x))
    assert folded.output.dtype == "float32" and got.dtype == np.float32
    assert folded.layers[1].compute_dtype == "bfloat16"
    assert folded.layers[-1].dtype_policy.name == "float32"
    scale = np.abs(expected).max()
    error = np.abs(got - expected)
    # bfloat16 keeps 8 bits of mantissa: typical errors are a fraction of a percent of the scale.
    assert np.median(error) < 0.005 * scale
    assert (got.argmax(-1) == expected.argmax(-1)).mean() > 0.95
    if name != "segnet":
        np.testing.assert_allclose(got, expected, atol=0.05 * scale)
    # SegNet is excluded from the elementwise bound: bfloat16 rounding flips the argmax of
    # near-tied pooling windows, which moves whole unpooled values to another pixel.


def test_conv_transpose_and_conv_with_bias_fold():
    keras.utils.set_random_seed(4)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2DTranspose(5, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", use_bias=True)(x)
    x = keras.layers.BatchNormalization(center=False)(x)
    model = keras.Model(inputs, x)
    _randomize_batchnorm(model)
    folded = fold_batchnorm(model)
    assert _batchnorms(folded) == 0
    x = _images((2, 8, 12, 3))
    np.testing.assert_allclose(folded(x), model(x, training=False), rtol=1e-5, atol=1e-5)


def test_unfoldable_batchnorms_are_kept():
    keras.utils.set_random_seed(5)
    inputs = keras.Input((None, None, 3))
    # A conv with a built-in ReLU, and a conv whose output also feeds another branch.
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    a = keras.layers.BatchNormalization()(a)
    b = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    c = keras.layers.BatchNormalization()(b)
    model = keras.Model(inputs, keras.layers.Concatenate()([a, b, c]))
    _randomize_batchnorm(model)
    folded = fold_batchnorm(model)
    assert _batchnorms(folded) == 2
    x = _images((2, 8, 8, 3))
    np.testing.assert_allclose(folded(x), model(x, training=False), rtol=1e-6, atol=1e-6)


def test_rejects_subclassed_model():
    class Tiny(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError):
        fold_batchnorm(Tiny())
