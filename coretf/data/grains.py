"""tf.data pipelines over the sediment_grains builder (Golikov et al. 2022).

Particles come out as (6, S, S, 3) float32 focal stacks in [0, 1]; training pipelines shuffle
(seeded), repeat, batch and prefetch. `load_split` reads a split into NumPy for encoding and
clustering.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from coretf.data.cores import dataset_name, split_size  # builder-generic helpers

__all__ = ["dataset_name", "get_builder", "load_split", "make_dataset", "split_size"]

NAME = "sediment_grains"


def get_builder(config: str, data_dir: str, manual_dir: str | None = None) -> tfds.core.DatasetBuilder:
    """Builds (if needed) and returns the sediment_grains builder of a config.

    Raises:
        ValueError: a manual config without `manual_dir`.
    """
    import coretf_datasets.sediment_grains  # noqa: F401  (registers the builder)

    builder = tfds.builder(f"{NAME}/{config}", data_dir=data_dir)
    if builder.builder_config.source == "manual" and not manual_dir and not builder.is_prepared():
        raise ValueError(f"config {config!r} reads a lab's photo sets: pass --manual_dir")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return builder


def make_dataset(builder: tfds.core.DatasetBuilder, split: str, *, batch_size: int, training: bool,
                 seed: int = 0) -> tf.data.Dataset:
    """Batches of (batch, 6, S, S, 3) float32 in [0, 1]; shuffled and repeated when training."""
    ds = builder.as_dataset(split=split, shuffle_files=training,
                            read_config=tfds.ReadConfig(shuffle_seed=seed))
    ds = ds.map(lambda e: tf.cast(e["layers"], tf.float32) / 255.0, num_parallel_calls=tf.data.AUTOTUNE)
    if training:
        ds = ds.cache().shuffle(2048, seed=seed, reshuffle_each_iteration=True).repeat()
    return ds.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


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

