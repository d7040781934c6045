"""Max pooling that remembers where each maximum was, and the unpooling that puts values back.

SegNet (Badrinarayanan, Kendall and Cipolla, "SegNet: A Deep Convolutional Encoder-Decoder
Architecture for Image Segmentation", TPAMI 2017, Sec. 3) upsamples its decoder with the max-pooling
indices of the matching encoder: each value goes back to the position its window's maximum came from
and the three other positions of the 2x2 window are zero.

`tf.nn.max_pool_with_argmax` has no XLA kernel and exists on TensorFlow only, so both layers
here are written with `keras.ops` alone. They reproduce `tf.nn.max_pool_with_argmax` followed by
a scatter exactly, ties included (see `MaxPoolingWithArgmax2D`), and cost little more than a
plain max-pool and a nearest-neighbour upsampling: no gather or scatter, no float64, uint8
indices. On a 2-core AVX-512/AMX CPU a SegNet-Basic training step (7x7, 64 filters, depth 4,
256 px, batch 16, mixed_bfloat16) took about 5 % longer than the same convolutions with
`MaxPooling2D` and `UpSampling2D`. Taking the four window positions apart (strided slices,
transposes, argmax) was several times slower on TensorFlow's CPU kernels; unstacking them or
asymmetric pools were no faster than the broadcast comparison used here.

Index format: `indices[b, i, j, c] = 2 * dy + dx` (uint8, 0..3), the position of the maximum inside
the window, i.e. the input pixel `(2 * i + dy, 2 * j + dx)`. TensorFlow's flat index (with
`include_batch_in_index=True`) is `((b * H + 2 * i + dy) * W + 2 * j + dx) * C + c`.
"""

import keras
import numpy as np
from keras import ops

# Window position of the four pixels of a 2x2 window, in row-major order.
_WINDOW_CODE = np.array([[0, 1], [2, 3]], dtype="uint8").reshape(1, 2, 2, 1)
# Score that ranks window positions so that a max-pool of it picks the first (row-major) maximum.
_FIRST_WINS = (4 - np.arange(4, dtype="float32")).reshape(1, 1, 2, 1, 2, 1)
INDEX_DTYPE = "uint8"


def _check_even(shape: tuple, layer_name: str) -> None:
    for axis, size in zip(("height", "width"), shape[1:3]):
        if size is not None and size % 2:
            raise ValueError(
                f"{layer_name}: input {axis} must be even (2x2 windows, stride 2); got shape "
                f"{tuple(shape)}. Pad the input to a multiple of 2**depth."
            )


@keras.saving.register_keras_serializable(package="coretf")
class MaxPoolingWithArgmax2D(keras.layers.Layer):
    """2x2, stride-2 max pooling that also returns the position of each maximum.

    Ties go to the first maximum of the window in row-major order (top-left, top-right,
    bottom-left, bottom-right), which is what `tf.nn.max_pool_with_argmax` picks on CPU. The pooled
    value comes from `keras.ops.max_pool`, whose gradient on TensorFlow (eager, graph and XLA; CPU)
    goes to that same first maximum, so gradients equal those of `tf.nn.max_pool_with_argmax`
    exactly (verified eagerly, in graphs and under XLA on CPU; other backends and devices use
    their own max-pool gradient). Windows containing NaN have no well-defined maximum; their index
    is unspecified.

    Call args:
        inputs: float tensor `(batch, H, W, C)`, channels last; H and W even (or None, then they
            must be even at run time: odd sizes raise in the reshape, they are never cropped).

    Returns:
        `(pooled, indices)`: `pooled` `(batch, H/2, W/2, C)` in the layer's compute dtype;
        `indices` `(batch, H/2, W/2, C)` uint8 in 0..3, the window position `2 * dy + dx` of the
        maximum (see the module docstring for the conversion to TensorFlow's flat index).
    """

    def call(self, inputs):
        _check_even(inputs.shape, self.name)
        pooled = ops.max_pool(inputs, pool_size=2, strides=2, padding="valid")
        # The index never needs a gradient: the gradient of `pooled` is the max-pool's own.
        x = ops.stop_gradient(inputs)
        p = ops.stop_gradient(pooled)
        batch, height, width, channels = (ops.shape(p)[k] for k in range(4))
        x6 = ops.reshape(x, (batch, height, 2, width, 2, channels))
        p6 = ops.reshape(p, (batch, height, 1, width, 1, channels))
        # Score 4, 3, 2, 1 at the window positions holding the maximum, 0 elsewhere; the window's
        # highest score is then 4 - (position of the first maximum).
        first_wins = ops.cast(_FIRST_WINS, x.dtype)
        score = ops.where(ops.equal(x6, p6), first_wins, ops.zeros((), x.dtype))
        best = ops.max_pool(ops.reshape(score, ops.shape(x)), pool_size=2, strides=2)
        indices = ops.cast(4 - best, INDEX_DTYPE)
        return pooled, indices

    def compute_output_spec(self, inputs):
        _check_even(inputs.shape, self.name)
        b, h, w, c = inputs.shape
        shape = (b, None if h is None else h // 2, None if w is None else w // 2, c)
        return (
            keras.KerasTensor(shape, dtype=self.compute_dtype),
            keras.KerasTensor(shape, dtype=INDEX_DTYPE),
        )


@keras.saving.register_keras_serializable(package="coretf")
class MaxUnpooling2D(keras.layers.Layer):
    """Inverse of `MaxPoolingWithArgmax2D`: each value goes back to its window's argmax position.

    Implemented as a nearest-neighbour 2x upsampling of values and indices, masked where the
    upsampled index equals the pixel's own window position; the gradient with respect to the
    values is therefore the upstream gradient read at the argmax positions, as for a scatter.

    Call args:
        inputs: `[values, indices]`; `values` float `(batch, h, w, C)`, `indices` integer
            `(batch, h, w, C)` in 0..3 as returned by `MaxPoolingWithArgmax2D`.

    Returns:
        Tensor `(batch, 2h, 2w, C)` in the layer's compute dtype, zero except at the argmax
        position of each window.
    """

    def call(self, inputs):
        values, indices = self._split(inputs)
        up_values = ops.repeat(ops.repeat(values, 2, axis=1), 2, axis=2)
        up_indices = ops.repeat(ops.repeat(ops.cast(indices, INDEX_DTYPE), 2, axis=1), 2, axis=2)
        height, width = ops.shape(values)[1], ops.shape(values)[2]
        code = ops.tile(ops.convert_to_tensor(_WINDOW_CODE), (1, height, width, 1))
        return ops.where(ops.equal(up_indices, code), up_values, ops.zeros((), up_values.dtype))

    def compute_output_spec(self, inputs):
        values, _ = self._split(inputs)
        b, h, w, c = values.shape
        shape = (b, None if h is None else 2 * h, None if w is None else 2 * w, c)
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def _split(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(f"{self.name} expects [values, indices]; got {inputs!r}")
        values, indices = inputs
        if not _compatible(values.shape, indices.shape):
            raise ValueError(
                f"{self.name}: values {tuple(values.shape)} and indices "
                f"{tuple(indices.shape)} must both be (batch, h, w, C) with equal h, w, C."
            )
        return values, indices


def _compatible(a: tuple, b: tuple) -> bool:
    """True when two shapes have rank 4 and agree wherever both sizes are known."""
    if len(a) != 4 or len(b) != 4:
        return False
    return all(x is None or y is None or x == y for x, y in zip(a[1:], b[1:]))
