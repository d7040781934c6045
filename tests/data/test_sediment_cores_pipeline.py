"""tf.data pipeline over sediment_cores: shapes, determinism under a seed, colour statistics."""

import numpy as np
import pytest

from coretf.data import augment, builders, sediment_cores


@pytest.fixture(scope="module")
def builder(tmp_path_factory):
    return builders.get_builder("sediment_cores", "synthetic_tiny", str(tmp_path_factory.mktemp("tfds")))


def _first_batches(builder, n=3, **kwargs):
    ds = sediment_cores.make_dataset(builder, "train", batch_size=2, training=True, **kwargs)
    return [tuple(t.numpy() for t in batch) for batch in ds.take(n)]


def test_batches_are_float_images_and_integer_masks(builder):
    images, masks = _first_batches(builder, 1)[0]
    assert images.shape == (2, 64, 64, 3) and images.dtype == np.float32
    assert masks.shape == (2, 64, 64, 1) and masks.dtype == np.int32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert set(np.unique(masks)) <= {0, 1}


def test_same_seed_same_batches_with_augmentation(builder):
    stats = augment.ColourStats.paper()  # the tiny config has one training section: no spread
    kwargs = dict(seed=3, augmentations=("gn", "rf"), stats=stats, gn_fraction=1.0)
    first, second = _first_batches(builder, **kwargs), _first_batches(builder, **kwargs)
    for (a_img, a_mask), (b_img, b_mask) in zip(first, second):
        np.testing.assert_array_equal(a_img, b_img)
        np.testing.assert_array_equal(a_mask, b_mask)
    other = _first_batches(builder, **{**kwargs, "seed": 4})
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(first, other))


def test_evaluation_pipeline_is_one_ordered_pass(builder):
    ds = sediment_cores.make_dataset(builder, "test", batch_size=3, training=False)
    sizes = [int(images.shape[0]) for images, _ in ds]
    assert sum(sizes) == builders.split_size(builder, "test")
    again = [images.numpy() for images, _ in ds]
    np.testing.assert_array_equal(np.concatenate(again), np.concatenate([i.numpy() for i, _ in ds]))


def test_sample_batch_is_the_head_of_the_evaluation_pass(builder):
    images, masks = sediment_cores.sample_batch(builder, "validation", 3)
    head_images, head_masks = next(iter(
        sediment_cores.make_dataset(builder, "validation", batch_size=3, training=False)))
    np.testing.assert_array_equal(images, head_images.numpy())
    np.testing.assert_array_equal(masks, head_masks.numpy())
    size = builders.split_size(builder, "validation")
    assert sediment_cores.sample_batch(builder, "validation", size + 5)[0].shape[0] == size


def test_section_summary_matches_the_generator(builder):
    means, px_per_cm = sediment_cores.section_summary(builder, "train")
    assert px_per_cm == pytest.approx(12.0)
    assert means.shape == (1, 3)
    assert 30 < means[0, 0] < 70  # L* of mud
    assert builders.dataset_name(builder) == "sediment_cores/synthetic_tiny:1.2.0"


def test_manual_config_without_folder_is_named(tmp_path):
    with pytest.raises(ValueError, match="--manual_dir"):
        builders.get_builder("sediment_cores", "manual", str(tmp_path))
