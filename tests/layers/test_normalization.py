"""coretf's BatchNormalization (TensorFlow's fused kernel) against Keras' own layer."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from coretf.layers import BatchNormalization


def _pair(**kwargs):
    """A fused layer and a Keras layer with identical, non-trivial weights."""
    fused, plain = BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    fused.build((None, None, None, 5))
    plain.build((None, None, None, 5))
    rng = np.random.default_rng(0)
    weights = [rng.uniform(0.5, 2.0, 5), rng.normal(size=5), rng.normal(size=5),
               rng.uniform(0.2, 3.0, 5)]
    if not kwargs.get("scale", True):
        weights.pop(0)
    if not kwargs.get("center", True):
        weights.pop(1 if kwargs.get("scale", True) else 0)
    fused.set_weights(weights)
    plain.set_weights(weights)
    return fused, plain


def _inputs(shape=(3, 6, 7, 5), seed=1):
    return tf.constant(np.random.default_rng(seed).normal(2.0, 3.0, shape).astype("float32"))


@pytest.mark.parametrize("kwargs", [{}, {"center": False}, {"scale": False},
                                    {"momentum": 0.9, "epsilon": 1e-5}])
def test_training_step_matches_keras(kwargs):
    fused, plain = _pair(**kwargs)
    x = _inputs()
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y_fused = fused(x, training=True)
        y_plain = plain(x, training=True)
        # A loss that weighs channels and pixels differently, so every gradient term matters.
        w = tf.constant(np.random.default_rng(2).normal(size=x.shape).astype("float32"))
        loss_fused, loss_plain = tf.reduce_sum(w * y_fused), tf.reduce_sum(w * y_plain)
    np.testing.assert_allclose(y_fused, y_plain, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fused.moving_mean, plain.moving_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fused.moving_variance, plain.moving_variance, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tape.gradient(loss_fused, x), tape.gradient(loss_plain, x),
                               rtol=1e-3, atol=1e-4)
    for a, b in zip(fused.trainable_weights, plain.trainable_weights):
        np.testing.assert_allclose(tape.gradient(loss_fused, a), tape.gradient(loss_plain, b),
                                   rtol=1e-4, atol=1e-3)


def test_moving_variance_is_the_biased_batch_variance():
    layer = BatchNormalization(momentum=0.0)
    x = _inputs((2, 3, 4, 5))
    layer(x, training=True)
    np.testing.assert_allclose(layer.moving_variance, np.var(x.numpy(), axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(layer.moving_mean, np.mean(x.numpy(), axis=(0, 1, 2)), rtol=1e-5)


def test_inference_matches_keras_and_formula():
    fused, plain = _pair()
    x = _inputs()
    expected = (x.numpy() - fused.moving_mean.numpy()) / np.sqrt(
        fused.moving_variance.numpy() + fused.epsilon) * fused.gamma.numpy() + fused.beta.numpy()
    np.testing.assert_allclose(fused(x, training=False), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fused(x, training=False), plain(x, training=False), rtol=1e-5,
                               atol=1e-5)


def test_mixed_bfloat16_keeps_float32_statistics(mixed_bfloat16):
    fused, plain = _pair()
    x = tf.cast(_inputs(), "bfloat16")
    y = fused(x, training=True)
    assert y.dtype == tf.bfloat16 and fused.moving_mean.dtype == "float32"
    y_plain = plain(x, training=True)
    np.testing.assert_allclose(tf.cast(y, "float32"), tf.cast(y_plain, "float32"), atol=0.05)
    np.testing.assert_allclose(fused.moving_mean, plain.moving_mean, rtol=1e-3, atol=1e-3)


def test_under_xla_and_inside_a_model_round_trip(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 5))
    model = keras.Model(inputs, BatchNormalization(name="bn")(inputs))
    fused, _ = _pair()
    model.get_layer("bn").set_weights(fused.get_weights())
    x = _inputs()
    eager = model(x, training=False)
    compiled = tf.function(lambda t: model(t, training=False), jit_compile=True)(x)
    np.testing.assert_allclose(compiled, eager, rtol=1e-5, atol=1e-5)
    model.save(tmp_path / "bn.keras")
    loaded = keras.models.load_model(tmp_path / "bn.keras")
    assert type(loaded.get_layer("bn")) is BatchNormalization
    np.testing.assert_allclose(loaded(x, training=False), eager, rtol=1e-6, atol=1e-6)


def test_falls_back_to_keras_where_the_kernel_does_not_apply():
    # 2-D inputs (a dense layer's output): Keras' implementation, same result.
    fused, plain = BatchNormalization(), keras.layers.BatchNormalization()
    x = _inputs((8, 5))
    np.testing.assert_allclose(fused(x, training=True), plain(x, training=True), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(fused.moving_variance, plain.moving_variance, rtol=1e-6)
    # Channels first (axis 1) on 4-D inputs.
    fused, plain = BatchNormalization(axis=1), keras.layers.BatchNormalization(axis=1)
    x = _inputs((2, 5, 3, 4))
    np.testing.assert_allclose(fused(x, training=True), plain(x, training=True), rtol=1e-5,
                               atol=1e-5)
