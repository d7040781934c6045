"""Reliability bins and ECE against hand-computed values, calibrated and overconfident samples,
ignored pixels, and the temperature that undoes a known overconfidence."""

import numpy as np
import pytest

from coretf import calibration
from coretf import labels as labels_lib


def test_ece_golden():
    reliability = calibration.Reliability(bins=10)
    # 100 pixels at confidence 0.95 of which 95 right (bin 9: no gap), 100 at 0.75 of which 55 right
    # (bin 7: gap 0.2): ECE = 0.5 * 0 + 0.5 * 0.2 = 0.1.
    probabilities = np.concatenate([np.full(100, 0.95), np.full(100, 0.75)])
    labels = np.concatenate([np.r_[np.ones(95), np.zeros(5)], np.r_[np.ones(55), np.zeros(45)]]).astype(int)
    reliability.update(probabilities, labels)
    assert reliability.pixels == 200
    assert reliability.ece() == pytest.approx(0.1)
    summary = reliability.summary()
    assert summary["bins"][9]["pixels"] == 100 and summary["bins"][9]["accuracy"] == pytest.approx(0.95)
    assert summary["bins"][7]["confidence"] == pytest.approx(0.75) and summary["bins"][0]["accuracy"] is None
    # Class 0 predicted at 1 - p: the same figures, whichever class is right.
    flipped = calibration.Reliability(bins=10)
    flipped.update(1.0 - probabilities, 1 - labels)
    assert flipped.ece() == pytest.approx(0.1)


def test_ignored_pixels_count_nowhere_and_accumulators_add():
    reliability = calibration.Reliability()
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    reliability.update(probabilities, np.array([0, labels_lib.IGNORE, 1]))
    assert reliability.pixels == 2
    other = calibration.Reliability()
    other.update(probabilities[1:2], np.array([1]))
    assert reliability.add(other).pixels == 3
    with pytest.raises(ValueError, match="do not fit"):
        reliability.update(probabilities, np.array([0, 1]))


def test_calibrated_samples_have_a_small_ece_and_overconfident_ones_a_large_one():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.5, 1.0, 200_000)
    right = rng.random(p.size) < p  # the predicted class (1) is right with probability p
    calibrated = calibration.Reliability()
    calibrated.update(p, right.astype(int))
    assert calibrated.ece() < 0.01
    overconfident = calibration.Reliability()
    overconfident.update(np.minimum(1.0, 0.5 + 1.8 * (p - 0.5)), right.astype(int))
    assert overconfident.ece() > 0.1


@pytest.mark.parametrize("classes", [1, 3])
def test_temperature_undoes_a_known_overconfidence(classes):
    rng = np.random.default_rng(1)
    true_logits = rng.normal(0, 1.5, (50_000, classes))
    probabilities = calibration.softmax(true_logits)
    labels = (rng.random(len(probabilities))[:, None] > probabilities.cumsum(-1)).sum(-1)
    labels[:100] = labels_lib.IGNORE  # left out of the fit
    temperature = calibration.fit_temperature(3.0 * true_logits, labels)
    assert temperature == pytest.approx(3.0, rel=0.05)
    before, after = calibration.Reliability(), calibration.Reliability()
    before.update(calibration.softmax(3.0 * true_logits), labels)
    after.update(calibration.softmax(3.0 * true_logits, temperature), labels)
    assert after.ece() < 0.01 < before.ece()
    np.testing.assert_array_equal(calibration.softmax(3 * true_logits, temperature).argmax(-1),
                                  calibration.softmax(3 * true_logits).argmax(-1))  # no prediction changes


def test_reliability_diagram_is_written(tmp_path):
    reliability = calibration.Reliability()
    reliability.update(np.random.default_rng(2).uniform(0, 1, 1000), np.random.default_rng(3).integers(0, 2, 1000))
    calibration.save_reliability_diagram(str(tmp_path / "calibration.png"), reliability, title="test")
    assert (tmp_path / "calibration.png").stat().st_size > 1000
