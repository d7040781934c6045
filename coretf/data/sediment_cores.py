"""tf.data pipelines over the sediment_cores builder (Hutton 2025, §2.5).

Patches come out as float32 images in [0, 1] with integer masks (1 = undisturbed sediment,
0 = disturbed or background). Training pipelines shuffle, repeat, apply the paper's
augmentations (GN, CS, RF; each with p = 0.5) with per-example seeds drawn from one seeded
stream, so a run is reproducible for a seed, then batch and prefetch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from coretf.data import augment as augment_lib
from coretf.data import builders


def section_summary(builder: tfds.core.DatasetBuilder, split: str = "train") -> tuple[np.ndarray, float]:
    """Per-section mean L*a*b* of undisturbed pixels and the median scale of a split.

    Section means are kept-pixel-weighted means of the stored patch means, so no patch image is
    decoded.

    Returns:
        (section means, float64 (N, 3); median px/cm over the split's patches).
    """
    # The PNGs stay encoded; only the small metadata features are read.
    decoders = {"image": tfds.decode.SkipDecoding(), "mask": tfds.decode.SkipDecoding()}
    ds = builder.as_dataset(split=split, decoders=decoders)
    sums: dict[bytes, np.ndarray] = {}
    scales = []
    for example in tfds.as_numpy(ds):
        weight = float(example["kept_pixels"])
        total = sums.setdefault(example["section_id"], np.zeros(4))
        total[:3] += weight * example["lab_mean"]
        total[3] += weight
        scales.append(example["px_per_cm"])
    if not scales:
        raise ValueError(f"{builder.info.full_name}: split {split!r} is empty")
    means = np.array([t[:3] / t[3] for t in sums.values() if t[3] > 0]).reshape(-1, 3)
    return means, float(np.median(scales))


def colour_stats(builder: tfds.core.DatasetBuilder, split: str = "train") -> augment_lib.ColourStats:
    """GN/CS colour statistics from the training sections only, so test colours never leak in."""
    return augment_lib.ColourStats.from_section_means(section_summary(builder, split)[0])


def _to_model_inputs(example):
    return tf.cast(example["image"], tf.float32) / 255.0, tf.cast(example["mask"], tf.int32)


def make_dataset(
    builder: tfds.core.DatasetBuilder,
    split: str,
    *,
    batch_size: int,
    training: bool,
    seed: int = 0,
    augmentations: Sequence[str] = (),
    stats: augment_lib.ColourStats | None = None,
    gn_fraction: float = 0.1,
    augment_p: float = 0.5,
    shuffle_buffer: int = 2048,
) -> tf.data.Dataset:
    """(image, mask) batches of one split.

    Args:
        builder: a prepared sediment_cores builder.
        split: "train", "validation" or "test".
        batch_size: patches per batch.
        training: shuffle (seeded, reshuffled each epoch), repeat forever, augment and drop the
            last partial batch; otherwise one ordered pass.
        seed: seeds shuffling and augmentation.
        augmentations: subset of ("gn", "cs", "rf").
        stats: colour statistics for "gn"/"cs".
        gn_fraction: GN sigma as a fraction of the between-section SD.
        augment_p: probability of each augmentation.
        shuffle_buffer: shuffle buffer size in patches.

    Returns:
        Dataset of (float32 (B, P, P, 3) in [0, 1], int32 (B, P, P, 1)).
    """
    ds = builders.read_split(builder, split, shuffle_files=training, seed=seed)
    if not training:
        return ds.map(_to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(
            tf.data.AUTOTUNE)
    ds = ds.map(_to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    if augmentations:
        seeds = tf.data.Dataset.random(seed=seed).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds)).map(
            lambda inputs, example_seed: augment_lib.augment(
                inputs[0], inputs[1], example_seed, augmentations=tuple(augmentations), stats=stats,
                gn_fraction=gn_fraction, p=augment_p),
            num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def sample_batch(builder: tfds.core.DatasetBuilder, split: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` (image, mask) pairs of a split, in order, e.g. for image summaries.

    Read without TFDS's in-memory cache: a partial read of a cached split would make the next
    full pass (validation) discard the cache and read the split twice.

    Returns:
        (float32 (N, P, P, 3) in [0, 1], int32 (N, P, P, 1)) with N = min(count, split size).
    """
    ds = builders.read_split(builder, split, autocache=False)
    images, masks = next(iter(ds.map(_to_model_inputs).batch(max(1, count))))
    return images.numpy(), masks.numpy()
