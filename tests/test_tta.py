"""Test-time augmentation: every view's inverse undoes it, the core views never reverse depth,
and the average is that of the views' own predictions."""

import numpy as np
import pytest

from coretf import tta


@pytest.mark.parametrize("kind, count", [(tta.ACROSS_CORE, 2), (tta.DIHEDRAL, 8)])
def test_every_inverse_undoes_its_view_and_the_views_differ(kind, count):
    batch = np.random.default_rng(0).random((2, 6, 6, 3))
    chosen = tta.views(kind)
    assert len(chosen) == count
    seen = set()
    for forward, inverse in chosen:
        np.testing.assert_array_equal(inverse(forward(batch)), batch)
        seen.add(forward(batch).tobytes())
    assert len(seen) == count  # no view repeated
    # Non-square tiles too (the rotations swap the sides and the inverse swaps them back).
    tall = np.random.default_rng(1).random((1, 4, 7, 2))
    for forward, inverse in chosen:
        np.testing.assert_array_equal(inverse(forward(tall)), tall)


def test_core_views_flip_across_the_core_only():
    """Depth runs along the width in the model's frame: a model that reads depth in order (a
    running sum along x) gives the same answer under the core's views, and would not if any
    view reversed depth."""
    batch = np.random.default_rng(2).random((2, 5, 9, 1))
    depth_ordered = lambda x: np.cumsum(x, axis=2)  # noqa: E731
    averaged = tta.augmented(depth_ordered, tta.ACROSS_CORE)(batch)
    np.testing.assert_allclose(averaged, depth_ordered(batch), rtol=1e-6)
    reversed_depth = np.cumsum(batch[:, :, ::-1], axis=2)[:, :, ::-1]
    assert not np.allclose(depth_ordered(batch), reversed_depth)
    for forward, _ in tta.views(tta.ACROSS_CORE):
        np.testing.assert_allclose(forward(batch).sum(axis=1), batch.sum(axis=1), rtol=1e-12)  # same depth lines


def test_the_average_is_the_mean_of_the_views_predictions():
    batch = np.random.default_rng(3).random((1, 4, 4, 1))
    weights = np.arange(16, dtype=np.float64).reshape(1, 4, 4, 1)
    position_dependent = lambda x: x * weights  # noqa: E731  (not equivariant: the views disagree)
    expected = np.mean([inverse(position_dependent(forward(batch))) for forward, inverse in tta.views(tta.DIHEDRAL)],
                       axis=0)
    np.testing.assert_allclose(tta.augmented(position_dependent, tta.DIHEDRAL)(batch), expected, rtol=1e-6)
    # An equivariant model (per pixel) is unchanged by any view.
    per_pixel = lambda x: x ** 2  # noqa: E731
    np.testing.assert_allclose(tta.augmented(per_pixel, tta.DIHEDRAL)(batch), batch ** 2, rtol=1e-6)


def test_views_per_job():
    assert tta.views_for_job("sediment_cores") == tta.ACROSS_CORE
    assert tta.views_for_job("rock_ct") == tta.views_for_job("ice_ct") == tta.DIHEDRAL
    with pytest.raises(ValueError, match="no test-time augmentation is defined for a 'other' model"):
        tta.views_for_job("other")
