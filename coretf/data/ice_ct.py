"""tf.data pipelines over the ice_ct builder (Bagherzadeh et al. 2023, §III-B).

The network sees the normalised low-res slice as float32 in [0, 1] (one channel) and learns the
weak label (1 = ice). Training takes random square crops of the slices (the paper trained on
whole 2048^2 slices at batch 1 on a GPU; crops keep memory and batch size sensible on a CPU);
evaluation cuts every slice into a fixed grid of crops, the last row and column shifted inwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from coretf.data import builders


def _inputs(example):
    return tf.cast(example["image"], tf.float32) / 255.0, tf.cast(example["weak_label"], tf.int32)


def _grid_crops(image, label, size: int):
    """All crops of a fixed grid covering the slice (last row/column shifted inwards)."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]

    def starts(length):
        count = (length + size - 1) // size
        return tf.minimum(tf.range(count) * size, length - size)

    rows, cols = tf.meshgrid(starts(height), starts(width), indexing="ij")
    origins = tf.stack([tf.reshape(rows, [-1]), tf.reshape(cols, [-1])], axis=1)
    crop = lambda o: (image[o[0]:o[0] + size, o[1]:o[1] + size],  # noqa: E731
                      label[o[0]:o[0] + size, o[1]:o[1] + size])
    return tf.data.Dataset.from_tensor_slices(origins).map(crop)


def make_dataset(builder: tfds.core.DatasetBuilder, split: str, *, batch_size: int, patch_size: int,
                 training: bool, seed: int = 0, shuffle_buffer: int = 256) -> tf.data.Dataset:
    """(image, weak label) crop batches of one split.

    Args:
        builder: a prepared ice_ct builder.
        split: "train", "validation" or "test".
        batch_size: crops per batch.
        patch_size: crop side in low-res px (slices must be at least this large).
        training: shuffled random crops, repeated forever, last partial batch dropped; otherwise
            one ordered pass over the grid crops of every slice.
        seed: seeds shuffling and crop positions.

    Returns:
        Dataset of (float32 (B, P, P, 1) in [0, 1], int32 (B, P, P, 1)).
    """
    # no auto-cache: a partial read (sample_batch) would discard it
    ds = builders.read_split(builder, split, shuffle_files=training, seed=seed, autocache=False)
    ds = ds.map(_inputs, num_parallel_calls=tf.data.AUTOTUNE)
    if not training:
        return ds.flat_map(lambda x, y: _grid_crops(x, y, patch_size)).batch(batch_size).prefetch(
            tf.data.AUTOTUNE)
    ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    seeds = tf.data.Dataset.random(seed=seed).batch(2)

    def random_crop(inputs, crop_seed):
        stacked = tf.concat([inputs[0], tf.cast(inputs[1], tf.float32)], axis=-1)
        crop = tf.image.stateless_random_crop(stacked, [patch_size, patch_size, 2], crop_seed)
        return crop[..., :1], tf.cast(crop[..., 1:], tf.int32)

    ds = tf.data.Dataset.zip((ds, seeds)).map(random_crop, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def crops_per_epoch(builder: tfds.core.DatasetBuilder, split: str, patch_size: int) -> int:
    """Grid crops in a split (one pass of `make_dataset(..., training=False)`)."""
    count = 0
    decoders = {k: tfds.decode.SkipDecoding() for k in
                ("weak_label", "fov", "gmm_low", "otsu_low", "truth")}
    for example in tfds.as_numpy(builder.as_dataset(split=split, decoders=decoders)):
        height, width = example["image"].shape[:2]
        count += -(-height // patch_size) * -(-width // patch_size)
    return count


def sample_batch(builder: tfds.core.DatasetBuilder, split: str, count: int,
                 patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` grid crops of a split: (float32 (N, P, P, 1), int32 (N, P, P, 1))."""
    ds = make_dataset(builder, split, batch_size=max(1, count), patch_size=patch_size, training=False)
    images, labels = next(iter(ds))
    return images.numpy(), labels.numpy()


def iter_slices(builder: tfds.core.DatasetBuilder,
                splits: Sequence[str] = ("train", "validation", "test")) -> Iterator[tuple[dict, str]]:
    """Every slice of the given splits as (numpy features, split), ordered by specimen and index."""
    for split in splits:
        for example in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
            yield example, split
