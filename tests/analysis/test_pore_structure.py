"""Pore-space measurements (PoreSpy) on pore spaces with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from coretf.analysis import pore_structure


def stripes(width: int = 3, period: int = 8, shape=(4, 64, 64)) -> np.ndarray:
    """Pore stripes `width` px wide every `period` px along x, running the whole height (y)."""
    pores = np.zeros(shape, bool)
    for column in range(0, shape[-1], period):
        pores[..., column:column + width] = True
    return pores


def test_stripes_have_their_porosity_and_chord_length():
    m = pore_structure.measure(stripes())
    assert m["porosity"] == pytest.approx(3 / 8)
    assert m["chords"]["x"]["mean"] == 3 and m["chords"]["x"]["median"] == 3
    assert m["chords"]["y"]["count"] == 0  # every y chord runs edge to edge: its length is unknown
    assert m["two_point"]["s2"][0] == pytest.approx(3 / 8, abs=1e-6)  # S2(0) = porosity


def test_voxel_size_scales_lengths():
    m = pore_structure.measure(stripes(), voxel_size=2.5)
    assert m["chords"]["x"]["mean"] == pytest.approx(7.5)
    assert m["two_point"]["distance"][1] - m["two_point"]["distance"][0] == pytest.approx(2.5, rel=0.2)


def test_voxels_that_do_not_count_leave_the_porosity_and_cut_chords():
    pores = stripes()
    valid = np.ones_like(pores)
    valid[..., 17] = False  # beside the stripe at 16-18: its chords are of unknown length now
    valid[..., :, 40:] = False  # half the image outside the sample
    m = pore_structure.measure(pores, valid)
    assert m["porosity"] == pytest.approx(pores[valid].mean())
    assert m["chords"]["x"]["mean"] == 3  # the cut chords are dropped, not counted as shorter
    full = pore_structure.measure(pores)
    assert m["chords"]["x"]["count"] < full["chords"]["x"]["count"]


def test_random_field_s2_falls_to_porosity_squared_and_correlation_length_grows_with_grain():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(4, 160, 160))
    lengths = []
    for sigma in (2, 5):
        pores = ndimage.gaussian_filter(noise, (0, sigma, sigma)) > 0.1 * noise.std()
        m = pore_structure.measure(pores)
        phi = m["porosity"]
        assert abs(m["two_point"]["s2"][-1] - phi**2) < 0.05
        lengths.append(m["correlation_length"])
    assert lengths[1] > 1.8 * lengths[0]


def test_compare_gives_ratios():
    truth = stripes(width=3)
    predicted = stripes(width=4)
    result = pore_structure.compare(predicted, truth)
    assert result["predicted_over_true"]["porosity"] == pytest.approx(4 / 3)
    assert result["predicted_over_true"]["mean_chord_x"] == pytest.approx(4 / 3)
    summary = pore_structure.summary(result)
    assert summary["true"]["mean_chord_x"] == 3 and summary["predicted"]["porosity"] == pytest.approx(0.5)


def test_plot(tmp_path):
    comparison = pore_structure.compare(stripes(width=4), stripes(width=3))
    path = tmp_path / "pore_structure.png"
    pore_structure.save_plot(str(path), {"stack_1": comparison, "stack_2": comparison})
    assert path.stat().st_size > 10_000


def test_refuses_mismatched_or_empty_masks():
    with pytest.raises(ValueError, match="does not match"):
        pore_structure.measure(stripes(), np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="no voxel counts"):
        pore_structure.measure(stripes(), np.zeros((4, 64, 64), bool))
