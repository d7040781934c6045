"""CrossEntropyLogIoU (Lavrukhin et al., eq. 1) in its per-pixel and per-patch forms."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from coretf import losses
from coretf.losses import CrossEntropyLogIoU

# One 2x2 patch: the top-left pixel is pore; P(pore) = 0.8, 0.1 / 0.2, 0.1.
LABELS = np.array([[[1, 0], [0, 0]]])
P_PORE = np.array([[[0.8, 0.1], [0.2, 0.1]]])
LOGITS = np.stack([np.zeros_like(P_PORE), np.log(P_PORE / (1 - P_PORE))], -1).astype("float32")
CROSS_ENTROPY = -np.mean(np.log([0.8, 0.9, 0.8, 0.9]))


def test_pixel_form_golden_value():
    eps = 1e-5
    iou_terms = np.log([(0.8 + eps) / (1 + eps), eps / (0.1 + eps), eps / (0.2 + eps), eps / (0.1 + eps)])
    expected = CROSS_ENTROPY - 0.5 * iou_terms.mean()
    assert float(CrossEntropyLogIoU(alpha=0.5, form="pixel")(LABELS, LOGITS)) == pytest.approx(expected, rel=1e-5)


def test_patch_form_golden_value():
    # soft IoU = 0.8 / (1 + 0.1 + 0.2 + 0.1)
    expected = CROSS_ENTROPY - 2.0 * np.log((0.8 + 1e-5) / (1.4 + 1e-5))
    loss = CrossEntropyLogIoU(alpha=2.0, form="patch")
    assert float(loss(LABELS, LOGITS)) == pytest.approx(expected, rel=1e-5)
    assert float(loss(LABELS[..., None], LOGITS)) == pytest.approx(expected, rel=1e-5)  # (B, H, W, 1)


def test_alpha_zero_is_cross_entropy_and_perfect_prediction_is_near_zero():
    for form in ("pixel", "patch"):
        assert float(CrossEntropyLogIoU(alpha=0.0, form=form)(LABELS, LOGITS)) == pytest.approx(CROSS_ENTROPY, rel=1e-5)
        confident = np.stack([np.where(LABELS == 1, -20.0, 20.0), np.where(LABELS == 1, 20.0, -20.0)], -1)
        assert float(CrossEntropyLogIoU(form=form)(LABELS, confident.astype("float32"))) < 1e-4


def test_gradient_is_finite_and_config_round_trips():
    logits = tf.Variable(LOGITS)
    for form in ("pixel", "patch"):
        loss = CrossEntropyLogIoU(alpha=1.0, form=form)
        with tf.GradientTape() as tape:
            value = loss(LABELS, logits)
        gradient = tape.gradient(value, logits).numpy()
        assert np.all(np.isfinite(gradient))
        assert gradient[0, 0, 0, 1] < 0  # more pore logit on the pore pixel lowers the loss
        restored = keras.losses.deserialize(keras.losses.serialize(loss))
        assert (restored.alpha, restored.form, restored.eps) == (1.0, form, 1e-5)
    with pytest.raises(ValueError, match="pixel"):
        CrossEntropyLogIoU(form="voxel")


@pytest.mark.parametrize("loss", [losses.WeightedSparseCrossEntropy(), losses.WeightedSparseCrossEntropy((2.0, 1.0)),
                                  losses.CrossEntropyLogIoU(form="pixel"), losses.CrossEntropyLogIoU(form="patch")],
                         ids=["ce", "weighted_ce", "pixel_iou", "patch_iou"])
def test_ignored_pixels_add_nothing_to_the_loss(loss):
    """The loss over a patch with IGNORE pixels equals the loss over its other pixels alone."""
    from coretf.labels import IGNORE

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 6, 2)).astype(np.float32)
    true = rng.integers(0, 2, (2, 4, 6)).astype(np.int32)
    ignored = true.copy()
    ignored[:, :, 3:] = IGNORE  # the right half of every patch
    kept = float(loss(true[:, :, :3], logits[:, :, :3]))
    assert float(loss(ignored, logits)) == pytest.approx(kept, rel=1e-5)
    assert float(loss(true, logits)) != pytest.approx(kept, rel=1e-3)  # the right half does count without IGNORE
