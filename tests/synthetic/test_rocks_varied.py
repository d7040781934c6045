"""Domain-randomised rock stacks: draws inside their ranges, the porosity reached, varied scanners."""

import numpy as np
import pytest

from coretf.synthetic import rocks, rocks_varied


def test_stack_ids_per_type():
    ids = rocks_varied.stack_ids(2)
    assert ids == ["carbonate_v01", "carbonate_v02", "soil_v01", "soil_v02", "sandstone_v01", "sandstone_v02"]
    assert not set(ids) & set(rocks.stack_ids())


def test_draws_cover_their_ranges():
    draws = [rocks_varied.draw_settings(np.random.default_rng(i)) for i in range(400)]
    for name, (low, high) in rocks_varied.RANGES.items():
        values = np.array([getattr(d, name) for d in draws])
        assert values.min() >= low and values.max() <= high, name
        if name != "noise":  # noise is capped by the contrast, so its top is rarely reached
            assert values.min() < low + 0.15 * (high - low) and values.max() > high - 0.15 * (high - low), name
    for d in draws:  # every stack keeps pores visible: contrast-to-noise of at least MIN_CNR
        assert d.contrast / d.noise >= rocks_varied.MIN_CNR - 1e-9
    # the feature size is log-uniform: as many stacks below the base size x sqrt(0.7 * 3.5) as above
    scales = np.array([d.scale for d in draws])
    assert 0.4 < np.mean(scales < np.sqrt(0.7 * 3.5)) < 0.6


@pytest.fixture(scope="module")
def varied():
    return {sid: rocks_varied.make_varied_stack(sid, slices=4, size=64) for sid in rocks_varied.stack_ids(2)}


def test_shapes_determinism_and_porosity(varied):
    for sid, stack in varied.items():
        settings = rocks_varied.settings_of(sid)
        assert stack.image.shape == stack.pores.shape == (4, 64, 64) and stack.image.dtype == np.uint8
        assert set(np.unique(stack.pores)) <= {0, 1}
        assert stack.porosity == pytest.approx(settings.porosity, abs=0.002)  # set_porosity hits its target
    again = rocks_varied.make_varied_stack("soil_v02", slices=4, size=64)
    np.testing.assert_array_equal(again.image, varied["soil_v02"].image)
    np.testing.assert_array_equal(again.pores, varied["soil_v02"].pores)


def test_scanners_differ_and_pores_stay_darker(varied):
    pore_levels = [s.image[s.pores == 1].mean() for s in varied.values()]
    assert np.ptp(pore_levels) > 40  # pore grey differs by more than a base type's jitter
    for stack in varied.values():
        assert stack.image[stack.pores == 1].mean() + 15 < stack.image[stack.pores == 0].mean()


def test_feature_size_follows_scale():
    """Mean pore chord grows with the drawn scale (same type, same porosity)."""
    rng = np.random.default_rng(5)

    def chord(scale):
        phase, _ = rocks_varied.resized_geometry("sandstone", rng, (3, 96, 96), scale)
        pores = rocks_varied.set_porosity(phase, 0.3, rng) == 0
        row = pores.reshape(-1, 96)
        edges = np.abs(np.diff(row.astype(np.int8), axis=1)).sum()
        return pores.sum() / max(edges / 2, 1)

    assert chord(3.0) > 2.0 * chord(1.0)


def test_set_porosity_keeps_solid_phases():
    phase = np.ones((2, 32, 32), np.int8)
    phase[:, :, 16:] = 2
    phase[:, 12:20, 12:20] = 0
    out = rocks_varied.set_porosity(phase, 0.25, np.random.default_rng(0))
    assert (out == 0).mean() == pytest.approx(0.25, abs=0.002)
    assert set(np.unique(out[:, :, :8])) <= {0, 1} and set(np.unique(out[:, :, 24:])) <= {0, 2}
    with pytest.raises(ValueError, match="only one phase"):
        rocks_varied.set_porosity(np.ones((2, 8, 8), np.int8), 0.2, np.random.default_rng(0))


def test_unknown_rock_type():
    with pytest.raises(ValueError, match="rock type must be one of"):
        rocks_varied.make_varied_stack("granite_v01")
