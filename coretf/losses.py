"""Segmentation losses, computed in float32 whatever the compute dtype.

Hutton 2025 trains with a 2-class softmax cross-entropy; class weights are optional here because
disturbance is the minority class on cropped sections. Pixels labelled `coretf.labels.IGNORE`
(outside the sample, not labelled) add nothing: the loss is the mean over the other pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from coretf.labels import IGNORE


def _labels(y_true):
    """(labels with IGNORE replaced by 0, float32 mask of the pixels that count), both (B, H, W)."""
    y_true = ops.cast(y_true, "int32")
    if len(y_true.shape) == 4:
        y_true = y_true[..., 0]
    valid = ops.not_equal(y_true, IGNORE)
    return ops.where(valid, y_true, 0), ops.cast(valid, "float32")


def _over_valid(losses, valid):
    """Per-element losses zeroed where nothing counts and scaled by all / counted elements, so that
    Keras' mean reduction gives the mean over the elements that count (exactly the plain mean when
    every element counts)."""
    scale = ops.cast(ops.size(valid), "float32") / ops.maximum(ops.sum(valid), 1.0)
    return losses * valid * scale


@keras.saving.register_keras_serializable(package="coretf")
class WeightedSparseCrossEntropy(keras.losses.Loss):
    """Per-pixel softmax (C >= 2) or sigmoid (C = 1) cross-entropy from logits, class-weighted.

    Args:
        class_weights: one weight per class (length C, or 2 for a single logit), or None.

    Call args:
        y_true: (B, H, W[, 1]) integer labels (IGNORE where a pixel does not count).
        y_pred: (B, H, W, C) logits.
    """

    def __init__(self, class_weights: Sequence[float] | None = None, name: str = "cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]

    def call(self, y_true, y_pred):
        y_true, valid = _labels(y_true)
        y_pred = ops.cast(y_pred, "float32")
        if y_pred.shape[-1] == 1:
            loss = ops.binary_crossentropy(ops.cast(y_true, "float32"), y_pred[..., 0], from_logits=True)
        else:
            loss = ops.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        if self.class_weights is not None:
            loss = loss * ops.take(ops.convert_to_tensor(self.class_weights, "float32"), y_true)
        return _over_valid(loss, valid)

    def get_config(self):
        return {**super().get_config(), "class_weights": self.class_weights}


IOU_FORMS = ("pixel", "patch")


@keras.saving.register_keras_serializable(package="coretf")
class CrossEntropyLogIoU(keras.losses.Loss):
    """Cross-entropy minus alpha * log smoothed IoU of one class (Lavrukhin et al., eq. 1).

    The paper writes eq. 1 as a quantity to maximise (y log p + alpha log IoU); its negative is
    the loss here. With p the softmax probability of `positive_class` and y its 0/1 label:

    - form "pixel" (eq. 1 as written): per pixel, CE - alpha * log((p y + eps) / (p + y - p y + eps)),
      averaged over pixels. For a negative pixel the IoU term is log(eps / (p + eps)): it punishes
      a confident false positive by up to alpha * log(1 / eps) = 11.5 alpha.
    - form "patch" (soft IoU): the CE averaged over a patch's pixels minus
      alpha * log((sum p y + eps) / (sum (p + y - p y) + eps)), sums over the patch.

    Args:
        alpha: weight of the IoU term (the paper gives none; 1 by default).
        form: "pixel" or "patch".
        eps: smoothing (the paper: 1e-5).
        positive_class: the class whose IoU is used (1 = pore in rock_ct).

    Call args:
        y_true: (B, H, W[, 1]) integer labels.
        y_pred: (B, H, W, C) logits, C >= 2.

    Returns:
        (B, H, W) per-pixel losses for "pixel", (B,) per-patch losses for "patch".
    """

    def __init__(self, alpha: float = 1.0, form: str = "pixel", eps: float = 1e-5,
                 positive_class: int = 1, name: str = "ce_log_iou", **kwargs):
        super().__init__(name=name, **kwargs)
        if form not in IOU_FORMS:
            raise ValueError(f"IoU loss form must be one of {IOU_FORMS}, got {form!r}")
        self.alpha, self.form, self.eps = float(alpha), form, float(eps)
        self.positive_class = int(positive_class)

    def call(self, y_true, y_pred):
        y_true, valid = _labels(y_true)
        y_pred = ops.cast(y_pred, "float32")
        cross_entropy = ops.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        p = ops.softmax(y_pred, axis=-1)[..., self.positive_class] * valid
        y = ops.cast(ops.equal(y_true, self.positive_class), "float32") * valid
        intersection, union = p * y, p + y - p * y
        if self.form == "pixel":
            losses = cross_entropy - self.alpha * ops.log((intersection + self.eps) / (union + self.eps))
            return _over_valid(losses, valid)
        iou = (ops.sum(intersection, axis=(1, 2)) + self.eps) / (ops.sum(union, axis=(1, 2)) + self.eps)
        counted = ops.sum(valid, axis=(1, 2))
        patch_ce = ops.sum(cross_entropy * valid, axis=(1, 2)) / ops.maximum(counted, 1.0)
        return _over_valid(patch_ce - self.alpha * ops.log(iou), ops.cast(counted > 0, "float32"))

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "form": self.form, "eps": self.eps,
                "positive_class": self.positive_class}
