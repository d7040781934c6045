"""Golden values for the segmentation metrics and the loss on hand-drawn masks."""

import numpy as np
import pytest

from coretf import losses, metrics


def _logits(labels):
    """(B, H, W) labels -> (B, H, W, 2) logits that argmax back to them."""
    labels = np.asarray(labels)
    return np.stack([labels == 0, labels == 1], -1).astype(np.float32) * 4.0 - 2.0


TRUE = np.array([
    [[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]],  # 4 disturbed pixels
    [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]],  # clean patch
])
PRED = np.array([
    [[0, 0, 0, 1], [0, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]],  # I = 3, U = 5
    [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]],  # I = U = 0 -> IoU 1 by smoothing
])


def test_patch_iou_matches_hand_count():
    metric = metrics.PatchIoU()
    metric.update_state(TRUE[..., None], _logits(PRED))
    assert float(metric.result()) == pytest.approx((3 / 5 + 1.0) / 2, abs=1e-6)


def test_pooled_iou_and_empty_patches():
    pooled, empty = metrics.PooledIoU(), metrics.EmptyPatches()
    for metric in (pooled, empty):
        metric.update_state(TRUE, _logits(PRED))
    assert float(pooled.result()) == pytest.approx(3 / 5)
    assert float(empty.result()) == 1.0


def test_accuracy_and_state_accumulates_over_batches():
    accuracy = metrics.PixelAccuracy()
    accuracy.update_state(TRUE, _logits(PRED))
    assert float(accuracy.result()) == pytest.approx(30 / 32)
    iou = metrics.PatchIoU()
    iou.update_state(TRUE[:1], _logits(PRED[:1]))
    iou.update_state(TRUE[1:], _logits(PRED[1:]))
    assert float(iou.result()) == pytest.approx(0.8)
    iou.reset_state()
    assert float(iou.result()) == 0.0


def test_single_logit_predictions():
    logit = np.where(PRED == 1, 3.0, -3.0)[..., None].astype(np.float32)
    metric = metrics.PatchIoU()
    metric.update_state(TRUE, logit)
    assert float(metric.result()) == pytest.approx(0.8, abs=1e-6)


def test_iou_of_other_class():
    metric = metrics.PooledIoU(class_id=1)
    metric.update_state(TRUE, _logits(PRED))
    # class 1: 28 true px, 28 predicted px, 27 in both -> union 29
    assert float(metric.result()) == pytest.approx(27 / 29)


def test_cross_entropy_value_and_class_weights():
    logits = np.zeros((1, 1, 2, 2), np.float32)  # p = 0.5 everywhere
    labels = np.array([[[0, 1]]])
    plain = losses.WeightedSparseCrossEntropy()(labels, logits)
    assert float(plain) == pytest.approx(np.log(2.0), rel=1e-5)
    weighted = losses.WeightedSparseCrossEntropy([3.0, 1.0])(labels, logits)
    assert float(weighted) == pytest.approx(2.0 * np.log(2.0), rel=1e-5)
    single = losses.WeightedSparseCrossEntropy()(labels, np.zeros((1, 1, 2, 1), np.float32))
    assert float(single) == pytest.approx(np.log(2.0), rel=1e-5)


def test_ignored_pixels_count_nowhere():
    """IGNORE pixels: not in accuracy or either IoU; a patch with nothing else counts in no patch figure."""
    from coretf.labels import IGNORE

    true = np.array([[[0, 0], [1, IGNORE]], [[IGNORE, IGNORE], [IGNORE, IGNORE]]], np.int32)
    logits = np.zeros((2, 2, 2, 2), np.float32)
    logits[0, 0, 0, 0] = logits[0, 0, 1, 1] = logits[0, 1, 0, 1] = 1.0  # predicts 0, 1, 1, (1 ignored)
    logits[1, ..., 0] = 1.0  # the all-ignored patch predicts class 0 everywhere
    figures = {}
    for metric in metrics.segmentation_metrics(0):
        metric.update_state(true, logits)
        figures[metric.name] = float(metric.result())
    assert figures["accuracy"] == pytest.approx(2 / 3)
    assert figures["pooled_iou"] == pytest.approx(1 / 2)  # class 0: 1 common pixel, union 2
    assert figures["patch_iou"] == pytest.approx((1 + 1e-6) / (2 + 1e-6))  # the first patch only
    assert figures["empty_patches"] == 0
