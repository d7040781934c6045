"""Ensembles of segmentation networks (`python -m coretf.train --seeds=0,1,2`, or the k models of
`--folds`): one Keras model whose output every job evaluates as it evaluates logits.

`ensemble_network(members)` runs every member on the same images and returns the log of their
mean class probabilities (softmax of it is the mean); for one-logit (sigmoid) members, the
logit of their mean probability. The members' own outputs are unchanged, so a job's metrics,
pictures and calibration of the ensemble are those of its mean prediction. The export holds the
members themselves (`coretf.export.segmentation_serve`: mean, spread and entropy in one graph).
"""

from __future__ import annotations

import keras
from keras import ops

_EPSILON = 1e-7


class MeanProbabilityLogits(keras.layers.Layer):
    """images -> (B, H, W, C) log of the members' mean softmax probabilities, or for C = 1 the
    logit of their mean sigmoid probability. The members are this layer's own (so that members
    built alike, with the same layer names, can stand side by side); it is never saved."""

    def __init__(self, members: list[keras.Model], **kwargs):
        super().__init__(**kwargs)
        self.members = list(members)

    def call(self, images):
        stacked = ops.stack([ops.cast(m(images, training=False), "float32") for m in self.members], axis=0)
        if stacked.shape[-1] == 1:
            mean = ops.clip(ops.mean(ops.sigmoid(stacked), axis=0), _EPSILON, 1.0 - _EPSILON)
            return ops.log(mean) - ops.log(1.0 - mean)
        mean = ops.mean(ops.softmax(stacked, axis=-1), axis=0)
        return ops.log(ops.maximum(mean, _EPSILON))

    def compute_output_shape(self, input_shape):
        return self.members[0].compute_output_shape(input_shape)


def ensemble_network(members: list[keras.Model], name: str = "ensemble") -> keras.Model:
    """The members as one model (see the module docstring); they must take the same inputs."""
    shapes = {tuple(m.inputs[0].shape[1:]) for m in members}
    if len(shapes) != 1:
        raise ValueError(f"ensemble: the members take different inputs {sorted(shapes)}")
    inputs = keras.Input(members[0].inputs[0].shape[1:])
    return keras.Model(inputs, MeanProbabilityLogits(members, name="mean_probability")(inputs), name=name)
