"""Batch normalisation computed by TensorFlow's fused kernel where it applies.

Keras 3 normalises with separate ops (`tf.nn.moments`, then multiply and add, each a pass over
the activation, and the same again backwards) and, under mixed precision, first casts the whole
activation to float32. TensorFlow's `FusedBatchNormV3` (oneDNN's where oneDNN is on) does the same
maths in one pass forward and one backward, reading bfloat16/float16 directly and accumulating
in float32. On a 2-core CPU a SegNet-Basic training step (7x7, 64 filters, 256 px, batch 16,
float32) took about 6 % less time with it.

`BatchNormalization` here is Keras' layer (same weights, config, moving-statistics update and
inference maths; `coretf.models.fold_batchnorm` folds it like any other) with only the
computation swapped. Where the fused kernel does not apply (another Keras backend, a mask,
renorm, synchronized statistics, a normalised axis other than the last, inputs that are not
4-D or are float64) it falls back to Keras' own `keras.ops` implementation. The kernel has an XLA lowering, so
the layer compiles under `jit_compile` too.
"""

import keras

_FUSED_DTYPES = ("float16", "bfloat16", "float32")


@keras.saving.register_keras_serializable(package="coretf")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` on TensorFlow's fused kernel (see the module docstring).

    Takes exactly the arguments of `keras.layers.BatchNormalization`.

    Call args:
        inputs: `(batch, H, W, C)` tensor (the fused path); anything Keras' layer takes otherwise.
        training: batch statistics and a moving-statistics update when True, moving statistics
            when False.
        mask: optional; a mask falls back to Keras' implementation.

    Returns:
        The normalised tensor in the layer's compute dtype.
    """

    def call(self, inputs, training=None, mask=None):
        if not self._fused_applies(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # only on the TensorFlow backend

        channels = inputs.shape[-1]
        gamma = tf.cast(self.gamma, "float32") if self.scale else tf.ones([channels], "float32")
        beta = tf.cast(self.beta, "float32") if self.center else tf.zeros([channels], "float32")
        if training and self.trainable:
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                inputs, gamma, beta, epsilon=self.epsilon, is_training=True)
            # The kernel normalises with the biased batch variance but returns the unbiased one
            # (Bessel's correction); Keras' moving variance follows the biased one.
            count = tf.cast(tf.size(inputs, out_type=tf.int64) // channels, "float32")
            variance = variance * tf.maximum(count - 1.0, 0.0) / count
            momentum = self.momentum
            for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
                moving.assign(moving * momentum + tf.cast(batch, moving.dtype) * (1.0 - momentum))
        else:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                inputs, gamma, beta, mean=tf.cast(self.moving_mean, "float32"),
                variance=tf.cast(self.moving_variance, "float32"), epsilon=self.epsilon,
                is_training=False)
        return tf.cast(y, self.compute_dtype)

    def _fused_applies(self, inputs, mask) -> bool:
        rank = len(inputs.shape)
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and rank == 4
            and self.axis in (-1, rank - 1)
            and not self.renorm
            and not self.synchronized
            and inputs.shape[-1] is not None
            and keras.backend.standardize_dtype(inputs.dtype) in _FUSED_DTYPES
        )
