"""Segmentation metrics of Hutton 2025 (§2.6) as Keras metrics, written with `keras.ops`.

All metrics take integer labels `y_true` of shape (B, H, W) or (B, H, W, 1) and predictions
`y_pred` of shape (B, H, W, C): logits or probabilities for C >= 2 (argmax), or one logit for
C = 1 (positive = class 1). The IoU is that of one class, by default class 0, the disturbance
(disturbed sediment or background), as in the paper's code. Pixels labelled
`coretf.labels.IGNORE` (outside the sample, not labelled) count nowhere, and a patch with no
other pixel counts in no patch figure.
"""

from __future__ import annotations

import keras
from keras import ops

from coretf.labels import IGNORE

SMOOTH = 1e-6  # the paper's code: added to numerator and denominator of each patch's IoU


def predicted_labels(y_pred):
    """Class index per pixel from (B, H, W, C) logits/probabilities; one channel means a logit."""
    if y_pred.shape[-1] == 1:
        return ops.cast(y_pred[..., 0] > 0, "int32")
    return ops.cast(ops.argmax(y_pred, axis=-1), "int32")


def _true_labels(y_true):
    y_true = ops.cast(y_true, "int32")
    if len(y_true.shape) == 4:
        y_true = y_true[..., 0]
    return y_true


def valid_pixels(y_true):
    """(B, H, W) bool: the pixels that count (not labelled IGNORE)."""
    return ops.not_equal(_true_labels(y_true), IGNORE)


def has_valid_pixels(y_true):
    """(B,) bool: the patches with at least one pixel that counts."""
    return ops.any(valid_pixels(y_true), axis=(1, 2))


def patch_intersection_union(y_true, y_pred, class_id: int = 0):
    """Per-patch intersection and union of one class, over the pixels that count.

    Args:
        y_true: (B, H, W[, 1]) integer labels (IGNORE where a pixel does not count).
        y_pred: (B, H, W, C) logits or probabilities.
        class_id: the class whose IoU is measured.

    Returns:
        (intersection, union), each float32 of shape (B,).
    """
    true_c = ops.equal(_true_labels(y_true), class_id)
    pred_c = ops.logical_and(ops.equal(predicted_labels(y_pred), class_id), valid_pixels(y_true))
    intersection = ops.sum(ops.cast(ops.logical_and(true_c, pred_c), "float32"), axis=(1, 2))
    union = ops.sum(ops.cast(ops.logical_or(true_c, pred_c), "float32"), axis=(1, 2))
    return intersection, union


class _ClassMetric(keras.metrics.Metric):
    """Shared state handling: subclasses accumulate float32 totals in `self._totals`."""

    def __init__(self, totals: tuple[str, ...], class_id: int = 0, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_id = class_id
        self._totals = {t: self.add_variable(shape=(), initializer="zeros", name=t) for t in totals}

    def reset_state(self):
        for variable in self._totals.values():
            variable.assign(0.0)

    def _add(self, **values):
        for key, value in values.items():
            self._totals[key].assign_add(ops.cast(value, "float32"))

    def get_config(self):
        return {**super().get_config(), "class_id": self.class_id}


@keras.saving.register_keras_serializable(package="coretf")
class PatchIoU(_ClassMetric):
    """Mean over patches of (I + 1e-6) / (U + 1e-6): the paper's Patch-IoU.

    A patch where neither truth nor prediction contains the class scores 1, as in the code.
    """

    def __init__(self, class_id: int = 0, name: str = "patch_iou", **kwargs):
        super().__init__(("iou_sum", "patches"), class_id, name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        intersection, union = patch_intersection_union(y_true, y_pred, self.class_id)
        counted = ops.cast(has_valid_pixels(y_true), "float32")
        self._add(iou_sum=ops.sum(counted * (intersection + SMOOTH) / (union + SMOOTH)),
                  patches=ops.sum(counted))

    def result(self):
        return ops.divide_no_nan(self._totals["iou_sum"], self._totals["patches"])


@keras.saving.register_keras_serializable(package="coretf")
class PooledIoU(_ClassMetric):
    """IoU of one class over all pixels of all patches (intersections and unions summed)."""

    def __init__(self, class_id: int = 0, name: str = "pooled_iou", **kwargs):
        super().__init__(("intersection", "union"), class_id, name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        intersection, union = patch_intersection_union(y_true, y_pred, self.class_id)
        self._add(intersection=ops.sum(intersection), union=ops.sum(union))

    def result(self):
        return ops.divide_no_nan(self._totals["intersection"], self._totals["union"])


@keras.saving.register_keras_serializable(package="coretf")
class EmptyPatches(_ClassMetric):
    """Number of patches with the class in neither truth nor prediction (Patch-IoU 1 by fiat)."""

    def __init__(self, class_id: int = 0, name: str = "empty_patches", **kwargs):
        super().__init__(("empty",), class_id, name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        _, union = patch_intersection_union(y_true, y_pred, self.class_id)
        empty = ops.logical_and(ops.equal(union, 0.0), has_valid_pixels(y_true))
        self._add(empty=ops.sum(ops.cast(empty, "float32")))

    def result(self):
        return self._totals["empty"]


@keras.saving.register_keras_serializable(package="coretf")
class PixelAccuracy(_ClassMetric):
    """Share of the pixels that count whose predicted class equals the true class."""

    def __init__(self, name: str = "accuracy", **kwargs):
        kwargs.pop("class_id", None)
        super().__init__(("correct", "pixels"), 0, name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        valid = valid_pixels(y_true)
        correct = ops.logical_and(ops.equal(_true_labels(y_true), predicted_labels(y_pred)), valid)
        self._add(correct=ops.sum(ops.cast(correct, "float32")), pixels=ops.sum(ops.cast(valid, "float32")))

    def result(self):
        return ops.divide_no_nan(self._totals["correct"], self._totals["pixels"])


def segmentation_metrics(class_id: int = 0, class_name: str = "") -> list[keras.metrics.Metric]:
    """The metric set every segmentation trainer reports.

    With `class_name` the IoU metrics carry it ("pore_patch_iou", "pore_pooled_iou",
    "pore_empty_patches"), so TensorBoard and metrics.json say whose IoU it is; without it they
    keep the core paper's names ("patch_iou": the disturbance's Patch-IoU).
    """
    prefix = f"{class_name}_" if class_name else ""
    return [PixelAccuracy(), PatchIoU(class_id, name=f"{prefix}patch_iou"),
            PooledIoU(class_id, name=f"{prefix}pooled_iou"), EmptyPatches(class_id, name=f"{prefix}empty_patches")]
