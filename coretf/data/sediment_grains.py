"""tf.data pipelines over the sediment_grains builder (Golikov et al. 2022).

Particles come out as (6, S, S, 3) float32 focal stacks in [0, 1]; training pipelines shuffle
(seeded), repeat, optionally turn each particle into a random one of its eight dihedral views
(rotations by 90 degrees and mirror images: a grain's orientation on the plate means nothing),
batch and prefetch. `load_split` reads a split into NumPy for encoding and clustering.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from coretf.data import builders


def make_dataset(builder: tfds.core.DatasetBuilder, split: str, *, batch_size: int, training: bool,
                 seed: int = 0, dihedral: bool = False) -> tf.data.Dataset:
    """Batches of (batch, 6, S, S, 3) float32 in [0, 1].

    Args:
        training: shuffle (seeded, reshuffled each epoch), repeat forever and drop the last partial
            batch; otherwise one ordered pass.
        dihedral: training only: each particle drawn as a random one of its eight dihedral views.
    """
    ds = builders.read_split(builder, split, shuffle_files=training, seed=seed)
    ds = ds.map(lambda e: tf.cast(e["layers"], tf.float32) / 255.0, num_parallel_calls=tf.data.AUTOTUNE)
    if training:
        ds = ds.cache().shuffle(2048, seed=seed, reshuffle_each_iteration=True).repeat()
        if dihedral:
            seeds = tf.data.Dataset.random(seed=seed).batch(2)
            ds = tf.data.Dataset.zip((ds, seeds)).map(random_dihedral, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def random_dihedral(layers: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """One of the eight dihedral views of a (6, S, S, 3) stack, the same for all six layers.

    Args:
        layers: (6, S, S, 3) tensor.
        seed: (2,) int64 stateless seed.
    """
    return dihedral_view(layers, tf.random.stateless_uniform([], seed=seed, maxval=8, dtype=tf.int32))


def dihedral_view(layers: tf.Tensor, view: tf.Tensor) -> tf.Tensor:
    """View 0-7 of (..., S, S, 3) images: rotated by (view % 4) x 90 degrees anticlockwise, then
    mirrored left-right for views 4-7 (the order of `coretf.analysis.grain_clustering.dihedral_views`)."""
    turned = tf.image.rot90(layers, k=view % 4)
    return tf.cond(view >= 4, lambda: tf.image.flip_left_right(turned), lambda: turned)


def load_split(builder: tfds.core.DatasetBuilder, split: str) -> dict[str, np.ndarray]:
    """A whole split in memory: "layers" (N, 6, S, S, 3) uint8 and the per-particle features."""
    columns: dict[str, list] = {}
    for example in tfds.as_numpy(builder.as_dataset(split=split)):
        for key, value in example.items():
            columns.setdefault(key, []).append(value.decode() if isinstance(value, bytes) else value)
    if not columns:
        raise ValueError(f"{builder.info.full_name}: split {split!r} is empty")
    return {key: np.stack(values) if key != "sample_id" and key != "position_id" else np.array(values)
            for key, values in columns.items()}
