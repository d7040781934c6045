"""coretf's TFDS builders as the jobs use them: prepare a config, name it, count a split.

One place for what every job does with a builder before its own tf.data pipeline
(`coretf.data.sediment_cores`, `sediment_grains`, `ice_ct`, `rock_ct`):

    builder = builders.get_builder("sediment_cores", "synthetic_tiny", data_dir)
    builders.dataset_name(builder)  # "sediment_cores/synthetic_tiny:1.1.0", into metrics and exports
    builders.split_size(builder, "train")
    ds = builders.read_split(builder, "train", shuffle_files=True, seed=0)  # examples, seeded
"""

from __future__ import annotations

import importlib
import pkgutil

import tensorflow as tf
import tensorflow_datasets as tfds


def dataset_names() -> list[str]:
    """The builders coretf installs (`coretf_datasets.<name>`), e.g. ["ice_ct", "rock_ct", ...]."""
    import coretf_datasets

    return sorted(m.name for m in pkgutil.iter_modules(coretf_datasets.__path__) if m.ispkg)


def get_builder(name: str, config: str, data_dir: str,
                manual_dir: str | None = None) -> tfds.core.DatasetBuilder:
    """Builds (if needed) and returns the builder of one of coretf's datasets.

    Importing `coretf_datasets.<name>` registers the builder with TFDS. A manual config reads a
    lab's folder, so it needs `manual_dir` unless it was prepared before.

    Args:
        name: a coretf dataset, e.g. "sediment_cores" (see `dataset_names`).
        config: builder config name, e.g. "synthetic" or "manual_256".
        data_dir: TFDS data directory.
        manual_dir: a lab's folder for the manual configs.

    Raises:
        ValueError: an unknown dataset, or a manual config without `manual_dir` that is not yet
            prepared (the message says what the builder reads, e.g. "a lab's sections").
    """
    try:
        importlib.import_module(f"coretf_datasets.{name}")  # registers the builder
    except ModuleNotFoundError as error:
        if error.name != f"coretf_datasets.{name}":
            raise
        raise ValueError(f"unknown dataset {name!r}; coretf has {', '.join(dataset_names())}") from None
    builder = tfds.builder(f"{name}/{config}", data_dir=data_dir)
    if builder.builder_config.source == "manual" and not manual_dir and not builder.is_prepared():
        raise ValueError(f"config {config!r} reads a lab's {builder.MANUAL_ITEMS}: pass --manual_dir")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return builder


def dataset_name(builder: tfds.core.DatasetBuilder) -> str:
    """`name/config:version`, a string `tfds.builder` accepts back."""
    return f"{builder.name}/{builder.builder_config.name}:{builder.version}"


def read_split(builder: tfds.core.DatasetBuilder, split: str, *, shuffle_files: bool = False,
               seed: int = 0, autocache: bool = True) -> tf.data.Dataset:
    """A split's examples in a reproducible order: the file order is seeded when shuffled, and
    parallel maps downstream keep their order (`deterministic`).

    Args:
        shuffle_files: read the split's files in a `seed`ed random order (training).
        autocache: let TFDS cache a small split in memory. Pipelines that are also read in part
            (a sample batch) turn it off: a partial read makes the next full pass discard the
            cache and read the split twice.
    """
    ds = builder.as_dataset(split=split, shuffle_files=shuffle_files,
                            read_config=tfds.ReadConfig(shuffle_seed=seed, try_autocache=autocache))
    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options)


def split_size(builder: tfds.core.DatasetBuilder, split: str) -> int:
    """Number of examples in a split."""
    return builder.info.splits[split].num_examples
