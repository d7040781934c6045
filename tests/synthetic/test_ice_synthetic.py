"""Synthetic ice-core specimens: Table I's ice fractions, aligned resolutions, exact weight."""

import numpy as np
import pytest

from coretf.synthetic import ice


@pytest.fixture(scope="module")
def specimens():
    return [ice.make_specimen(i, size=192, slices=24) for i in range(3)]


def test_ice_fractions_like_table_one(specimens):
    for specimen, target in zip(specimens, (0.37, 0.79, 0.96)):
        inside = (ice._radius_map(192, specimen.centre, 1.0) < specimen.radius)[None]
        fraction = specimen.ice[np.broadcast_to(inside, specimen.ice.shape)].mean()
        assert fraction == pytest.approx(target, abs=0.03), specimen.kind
    assert [s.specimen_id for s in specimens] == ["snow", "firn", "ice"]
    # air reads 15 % brighter in bubbly ice than in snow
    assert specimens[2].air_level / specimens[0].air_level == pytest.approx(1.15, abs=1e-6)


def test_low_resolution_is_the_same_volume(specimens):
    firn = specimens[1]
    k = 2
    block = firn.ice[4:6].astype(np.float32)
    expected = block.reshape(2, 96, 2, 96, 2).mean(axis=(0, 2, 4))
    np.testing.assert_allclose(firn.low_fraction(k), expected)
    np.testing.assert_array_equal(firn.low_truth(k), expected >= 0.5)
    assert firn.low_slice(k).shape == (96, 96) and firn.high_slice(2 * k).shape == (192, 192)
    # the scans are deterministic for a seed, and differ between the two high-res slices
    np.testing.assert_array_equal(firn.low_slice(k), firn.low_slice(k))
    assert not np.array_equal(firn.high_slice(0), firn.high_slice(1))


def test_weight_is_ice_voxels_times_density(specimens):
    snow = specimens[0]
    assert snow.weight_g == pytest.approx(snow.ice.sum() * 0.917 * (30e-4) ** 3)
    assert snow.height_mm == pytest.approx(24 * 0.03)
    with pytest.raises(ValueError, match="must be even"):
        ice.make_specimen(0, size=95, slices=4)
