"""Segmentation losses, computed in float32 whatever the compute dtype.

Hutton 2025 trains with a 2-class softmax cross-entropy; class weights are optional here because
disturbance is the minority class on cropped sections.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="coretf")
class WeightedSparseCrossEntropy(keras.losses.Loss):
    """Per-pixel softmax (C >= 2) or sigmoid (C = 1) cross-entropy from logits, class-weighted.

    Args:
        class_weights: one weight per class (length C, or 2 for a single logit), or None.

    Call args:
        y_true: (B, H, W[, 1]) integer labels.
        y_pred: (B, H, W, C) logits.
    """

    def __init__(self, class_weights: Sequence[float] | None = None, name: str = "cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        if len(y_true.shape) == 4:
            y_true = y_true[..., 0]
        y_pred = ops.cast(y_pred, "float32")
        if y_pred.shape[-1] == 1:
            loss = ops.binary_crossentropy(ops.cast(y_true, "float32"), y_pred[..., 0], from_logits=True)
        else:
            loss = ops.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        if self.class_weights is not None:
            loss = loss * ops.take(ops.convert_to_tensor(self.class_weights, "float32"), y_true)
        return loss

    def get_config(self):
        return {**super().get_config(), "class_weights": self.class_weights}
