"""rock_ct's stack inference at its default settings: overlapping, blended patches leave no seam."""

import keras
import numpy as np
import pytest

from coretf import tiling
from coretf.data import rock_ct as rock_data
from coretf.jobs import rock_ct
from coretf.jobs.rock_ct import RockConfig
from coretf.losses import CrossEntropyLogIoU
from coretf.synthetic import rocks


def test_default_overlap_is_a_quarter_of_the_patch():
    assert RockConfig().inference_overlap == 16 and RockConfig().rock_blend == "linear"
    assert RockConfig(rock_patch_size=32).inference_overlap == 8
    assert RockConfig(rock_overlap=0).inference_overlap == 0
    with pytest.raises(ValueError, match=r"--rock_overlap=64: must be in \[-1, rock_patch_size\)"):
        RockConfig(rock_overlap=64)
    with pytest.raises(ValueError, match="--rock_blend='cosine'"):
        RockConfig(rock_blend="cosine")


@pytest.fixture(scope="module")
def sandstone():
    """A tiny rock U-Net trained for 40 steps on one sandstone's first two 128 px slices (a
    random one predicts ~0.5 everywhere and shows no border effects), and the third slice."""
    keras.utils.set_random_seed(0)
    config = RockConfig(filters=(4,), depth=2, activation="elu", mixed_precision="float32")
    model, _ = rock_ct.build_network(config)
    stack = rocks.make_stack("sandstone_1", slices=3, size=128, seed=0)
    images, labels = rock_data.cut_patches(stack.image[:2], stack.pores[:2], 64)
    model.compile(keras.optimizers.Adam(3e-3), CrossEntropyLogIoU(1.0, "patch"))
    model.fit(images, labels, batch_size=8, epochs=40, verbose=0)
    return rock_ct.softmax_predictor(model), stack.image[2].astype(np.float32) / 255.0


def test_stack_inference_at_the_defaults_leaves_no_seam(sandstone):
    # Seam strength: the mean |jump| across the tile borders over that elsewhere, each border's
    # jump averaged along it, so content averages out and a seam (which runs the whole border)
    # stands out. The yardstick is the same U-Net over the whole slice in one pass, which has
    # no tile borders: its jumps at those places are the content's. Patches side by side (the
    # old default) jump about twice as much as that; the default overlap as little as it does.
    predict, image = sandstone
    untiled = predict(image[None, ..., None])[0, ..., rock_ct.PORE]
    defaults = RockConfig()
    tile = defaults.rock_patch_size

    def strength(probability, overlap):
        return tiling.seam_strength(probability, tile=tile, overlap=overlap)

    old = rock_ct.pore_probability(predict, image, tile=tile, overlap=0, blend=defaults.rock_blend)
    assert strength(old, 0) > 1.5 * strength(untiled, 0)
    new = rock_ct.pore_probability(predict, image, tile=tile, overlap=defaults.inference_overlap,
                                   blend=defaults.rock_blend)
    assert strength(new, defaults.inference_overlap) < 1.1 * strength(untiled, defaults.inference_overlap)
    assert np.abs(new - untiled).mean() < np.abs(old - untiled).mean()
