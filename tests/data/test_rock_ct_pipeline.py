"""rock_ct input pipeline: equal training shares, patch grid, default training stacks."""

import numpy as np
import pytest

from coretf.data import rock_ct


def _stacks(depths):
    return {name: rock_ct.Stack(name, name.rsplit("_", 1)[0], np.zeros((d, 70, 64), np.uint8),
                                np.zeros((d, 70, 64), np.uint8)) for name, d in depths.items()}


def test_equal_training_set_sizes():
    stacks = _stacks({"carbonate_1": 30, "soil_1": 30, "sandstone_1": 24, "soil_2": 30})
    assert rock_ct.training_slices(stacks, ["carbonate_1"]) == {"carbonate_1": 30}
    assert rock_ct.training_slices(stacks, ["carbonate_1", "soil_1"], 24) == {"carbonate_1": 12, "soil_1": 12}
    assert rock_ct.training_slices(stacks, ["carbonate_1", "soil_1", "sandstone_1"]) == {
        "carbonate_1": 8, "soil_1": 8, "sandstone_1": 8}
    with pytest.raises(ValueError, match="cannot give 30"):
        rock_ct.training_slices(stacks, ["sandstone_1"], 30)
    with pytest.raises(ValueError, match="unknown"):
        rock_ct.training_slices(stacks, ["granite_1"])


def test_default_training_stacks_are_the_first_of_each_type():
    stacks = _stacks({"soil_2": 3, "soil_1": 3, "carbonate_4": 3, "carbonate_3": 3})
    assert rock_ct.default_training_stacks(stacks) == ("carbonate_3", "soil_1")


def test_patches_cover_every_slice_evenly_spaced_to_the_border():
    image = np.arange(2 * 70 * 64, dtype=np.uint32).reshape(2, 70, 64).astype(np.uint8)
    pores = (image % 2).astype(np.uint8)
    patches, labels = rock_ct.cut_patches(image, pores, 32)
    assert patches.shape == (2 * 3 * 2, 32, 32, 1) and labels.shape == patches.shape
    assert patches.dtype == np.float32 and patches.max() <= 1.0
    # rows start at 0, 19, 38 (evenly spaced, the last ends at the border); columns at 0, 32
    np.testing.assert_array_equal(patches[2, ..., 0], image[0, 19:51, 0:32].astype(np.float32) / 255.0)
    np.testing.assert_array_equal(labels[5, ..., 0], pores[0, 38:70, 32:64])
    with pytest.raises(ValueError, match="smaller than one 128 px patch"):
        rock_ct.cut_patches(image, pores, 128)
