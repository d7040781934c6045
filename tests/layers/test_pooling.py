"""Tests of the argmax pooling and index unpooling layers against tf.nn.max_pool_with_argmax."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from coretf.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D

# Hand-worked 4x4 example: windows hold a clear maximum, a tie in the top row (6, 6) and a tie on
# the diagonal (8, 8); ties go to the first position in row-major order.
GOLDEN_X = np.array(
    [[1, 2, 6, 6],
     [4, 3, 1, 2],
     [0, 0, 7, 8],
     [9, 0, 8, 1]], dtype="float32")
GOLDEN_POOLED = np.array([[4, 6], [9, 8]], dtype="float32")
GOLDEN_INDICES = np.array([[2, 0], [2, 1]], dtype="uint8")
GOLDEN_VALUES = np.array([[10, 20], [30, 40]], dtype="float32")
GOLDEN_UNPOOLED = np.array(
    [[0, 0, 20, 0],
     [10, 0, 0, 0],
     [0, 0, 0, 40],
     [30, 0, 0, 0]], dtype="float32")


def _as_nhwc(a):
    return a[None, :, :, None]


def _reference(x, w):
    """Pool, scatter-unpool and d(sum(w * unpooled))/dx with TensorFlow's own argmax op."""
    x = tf.convert_to_tensor(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        pooled, flat = tf.nn.max_pool_with_argmax(x, 2, 2, "VALID", include_batch_in_index=True)
        size = tf.reshape(tf.size(x, out_type=tf.int64), (1,))
        unpooled = tf.scatter_nd(tf.reshape(flat, (-1, 1)), tf.reshape(pooled, (-1,)), size)
        unpooled = tf.reshape(unpooled, tf.shape(x))
        loss = tf.reduce_sum(w * unpooled)
    return pooled.numpy(), flat.numpy(), unpooled.numpy(), tape.gradient(loss, x).numpy()


def _ours(pool, unpool, x, w):
    with tf.GradientTape() as tape:
        tape.watch(x)
        pooled, indices = pool(x)
        unpooled = unpool([pooled, indices])
        loss = tf.reduce_sum(tf.cast(w, unpooled.dtype) * unpooled)
    return pooled, indices, unpooled, tape.gradient(loss, x)


def _flat_to_window(flat, shape):
    """TensorFlow's flat (batch-inclusive) argmax -> our window position 2 * dy + dx."""
    _, height, width, channels = shape
    y = (flat // (width * channels)) % height
    x = (flat // channels) % width
    return (2 * (y % 2) + x % 2).astype("uint8")


def test_golden_4x4():
    pooled, indices = MaxPoolingWithArgmax2D()(_as_nhwc(GOLDEN_X))
    np.testing.assert_array_equal(pooled, _as_nhwc(GOLDEN_POOLED))
    np.testing.assert_array_equal(indices, _as_nhwc(GOLDEN_INDICES))
    assert keras.backend.standardize_dtype(indices.dtype) == "uint8"
    unpooled = MaxUnpooling2D()([_as_nhwc(GOLDEN_VALUES), _as_nhwc(GOLDEN_INDICES)])
    np.testing.assert_array_equal(unpooled, _as_nhwc(GOLDEN_UNPOOLED))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("jit_compile", [None, False, True])  # None: eager
@pytest.mark.parametrize("ties", [True, False])
def test_matches_tf_max_pool_with_argmax(dtype, jit_compile, ties):
    rng = np.random.default_rng(7)
    shape = (2, 8, 12, 3)
    if ties:
        # Small integers: most windows hold several equal maxima; exact in bfloat16 too.
        x = rng.integers(0, 3, shape).astype("float32")
    else:
        x = rng.normal(size=shape).astype(np.float32)
        if dtype == "bfloat16":  # compare on values that bfloat16 represents exactly
            x = tf.cast(tf.cast(x, tf.bfloat16), tf.float32).numpy()
    w = rng.integers(-4, 5, shape).astype("float32")
    ref_pooled, ref_flat, ref_unpooled, ref_grad = _reference(x, w)

    pool, unpool = MaxPoolingWithArgmax2D(dtype=dtype), MaxUnpooling2D(dtype=dtype)
    fn = lambda x, w: _ours(pool, unpool, x, w)  # noqa: E731
    if jit_compile is not None:
        fn = tf.function(fn, jit_compile=jit_compile)
    pooled, indices, unpooled, grad = fn(tf.cast(x, dtype), tf.constant(w))

    np.testing.assert_array_equal(tf.cast(pooled, tf.float32), ref_pooled)
    np.testing.assert_array_equal(indices, _flat_to_window(ref_flat, shape))
    np.testing.assert_array_equal(tf.cast(unpooled, tf.float32), ref_unpooled)
    # One gradient entry per window, at the position TF picks: w there, 0 at the other three.
    np.testing.assert_array_equal(tf.cast(grad, tf.float32), ref_grad)


def test_first_maximum_wins_on_ties():
    # TensorFlow on CPU picks the first maximum in row-major window order.
    cases = [([1, 1, 1, 1], 0), ([0, 1, 1, 0], 1), ([0, 0, 1, 1], 2), ([0, 0, 0, 1], 3)]
    for pattern, expected in cases:
        x = np.array(pattern, "float32").reshape(1, 2, 2, 1)
        _, flat = tf.nn.max_pool_with_argmax(x, 2, 2, "VALID", include_batch_in_index=True)
        _, indices = MaxPoolingWithArgmax2D()(x)
        assert int(flat.numpy().ravel()[0]) == expected == int(np.asarray(indices).ravel()[0])


def test_dynamic_height_width_in_a_model():
    inputs = keras.Input((None, None, 2))
    pooled, indices = MaxPoolingWithArgmax2D()(inputs)
    assert tuple(pooled.shape) == (None, None, None, 2) and indices.dtype == "uint8"
    model = keras.Model(inputs, MaxUnpooling2D()([pooled, indices]))
    x = np.random.default_rng(0).normal(size=(2, 6, 10, 2)).astype("float32")
    _, _, ref_unpooled, _ = _reference(x, np.ones_like(x))
    np.testing.assert_array_equal(model(x), ref_unpooled)
    static = MaxPoolingWithArgmax2D()(keras.Input((32, 96, 4)))
    assert tuple(static[0].shape) == (None, 16, 48, 4) == tuple(static[1].shape)


def test_odd_size_is_rejected():
    with pytest.raises(ValueError, match="even"):
        MaxPoolingWithArgmax2D()(keras.Input((7, 8, 1)))
    # In a graph traced for any size, an odd input fails at run time instead of being cropped.
    pool = MaxPoolingWithArgmax2D()
    fn = tf.function(pool, input_signature=[tf.TensorSpec((None, None, None, 1), tf.float32)])
    assert tuple(fn(np.zeros((1, 6, 8, 1), "float32"))[1].shape) == (1, 3, 4, 1)
    with pytest.raises(tf.errors.InvalidArgumentError):
        fn(np.zeros((1, 7, 8, 1), "float32"))


def test_unpool_rejects_mismatched_indices():
    with pytest.raises(ValueError, match="values"):
        MaxUnpooling2D()([keras.Input((4, 4, 3)), keras.Input((4, 4, 2), dtype="uint8")])


@pytest.mark.parametrize("cls", [MaxPoolingWithArgmax2D, MaxUnpooling2D])
def test_config_round_trip(cls):
    layer = cls(name="p", dtype="mixed_bfloat16")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is cls
    assert restored.get_config() == layer.get_config()
    assert keras.saving.get_registered_name(cls) == f"coretf>{cls.__name__}"
