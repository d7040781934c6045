"""coretf's TFDS builders as the jobs use them: prepare a config, name it, count a split.

One place for what every job does with a builder before its own tf.data pipeline
(`coretf.data.sediment_cores`, `sediment_grains`, `ice_ct`, `rock_ct`):

    builder = builders.get_builder("sediment_cores", "synthetic_tiny", data_dir)
    builders.dataset_name(builder)  # "sediment_cores/synthetic_tiny:1.1.0", into metrics and exports
    builders.split_size(builder, "train")
    ds = builders.read_split(builder, "train", shuffle_files=True, seed=0)  # examples, seeded

k-fold cross-validation (`--folds`) re-splits a builder without rebuilding it: `Folds` wraps a
prepared builder so that its "train", "validation" and "test" are the folds of one run, whole
groups at a time (a section, a stage position, a block of a specimen's slices), and the data
modules read it as they read any builder.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

SPLITS = ("train", "validation", "test")


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


def split_size(builder, split: str) -> int:
    """Number of examples in a split (of a builder or of `Folds`)."""
    if isinstance(builder, Folds):
        return builder.sizes[split]
    return builder.info.splits[split].num_examples


def fold_of_groups(groups: Sequence[tuple], folds: int, fold: int, by: str = "item") -> dict[tuple, str]:
    """The split of each group in fold `fold` of `folds`: test = the fold, validation = the next one,
    train = the rest.

    Args:
        groups: group keys, e.g. ("S0001",) per section or ("snow", 12) per slice.
        by: "item": whole items in turn (sorted; item i is in fold i % folds); "depth": each item's
            slices (key (item, index)) cut into `folds` contiguous blocks by index, fold k = block k
            of every item (the ice paper's rule, lowest block test, generalised to k folds).
    """
    if folds < 3:
        raise ValueError(f"--folds={folds}: k-fold cross-validation needs at least 3 folds "
                         "(test, validation and training parts)")
    if not 0 <= fold < folds:
        raise ValueError(f"--fold={fold}: must be in [0, {folds})")

    def split(index):
        return "test" if index == fold else "validation" if index == (fold + 1) % folds else "train"

    if by == "item":
        ordered = sorted(set(groups))
        if len(ordered) < folds:
            raise ValueError(f"--folds={folds}: the data has only {len(ordered)} items to share out")
        return {group: split(i % folds) for i, group in enumerate(ordered)}
    per_item: dict = {}
    for item, index in set(groups):
        per_item.setdefault(item, []).append(index)
    assignment = {}
    for item, indices in per_item.items():
        indices = sorted(indices)
        if len(indices) < folds:
            raise ValueError(f"--folds={folds}: {item} has only {len(indices)} slices")
        for position, index in enumerate(indices):
            assignment[(item, index)] = split(position * folds // len(indices))
    return assignment


class Folds:
    """A prepared builder re-split into the folds of k-fold cross-validation.

    All the builder's examples (every split) are pooled; each example's group is the tuple of its
    `keys` features, and `fold_of_groups` decides the group's split. `as_dataset(split=...)`,
    `builder_config`, `info`, `name` and `version` behave as the builder's, so the data modules
    need no change; `builders.split_size` counts the folds' examples.

    Args:
        builder: a prepared builder.
        folds, fold: the k of k-fold and this run's fold (0-based).
        keys: the example features that name a group, e.g. ("section_id",) or
            ("specimen_id", "slice_index").
        by: "item" or "depth" (see `fold_of_groups`).
    """

    def __init__(self, builder, folds: int, fold: int, keys: Sequence[str], by: str = "item"):
        self.builder, self.folds, self.fold, self.keys = builder, folds, fold, tuple(keys)
        decoders = {name: tfds.decode.SkipDecoding() for name in builder.info.features if name not in self.keys}
        pooled = builder.as_dataset(split="+".join(SPLITS), decoders=decoders)
        groups = [tuple(_plain(example[k]) for k in self.keys) for example in tfds.as_numpy(pooled)]
        self.assignment = fold_of_groups(groups, folds, fold, by)
        self.sizes = {s: sum(self.assignment[g] == s for g in groups) for s in SPLITS}
        keys_text = ["/".join(str(v) for v in group) for group in self.assignment]
        values = [SPLITS.index(self.assignment[g]) for g in self.assignment]
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(keys_text), tf.constant(values, tf.int64)), -1)

    def __getattr__(self, name):  # name, version, info, builder_config, ... of the builder
        return getattr(self.builder, name)

    def groups(self, split: str) -> list[tuple]:
        """The groups of one split of this fold, sorted."""
        return sorted(g for g, s in self.assignment.items() if s == split)

    def as_dataset(self, split: str, **kwargs) -> tf.data.Dataset:
        """The examples of `split` ("train", "validation" or "test") of this fold."""
        wanted = SPLITS.index(split)
        ds = self.builder.as_dataset(split="+".join(SPLITS), **kwargs)

        def keep(example):
            parts = [example[k] if example[k].dtype == tf.string else tf.strings.as_string(example[k])
                     for k in self.keys]
            return tf.equal(self._table.lookup(tf.strings.join(parts, "/")), wanted)

        # The filter's count is known: said, so Keras' progress bar and validation loop know it
        # too (an unknown count ends validation "out of data", with a warning, every epoch).
        return ds.filter(keep).apply(tf.data.experimental.assert_cardinality(self.sizes[split]))


def _plain(value):
    value = value.item() if isinstance(value, np.generic) else value
    return value.decode() if isinstance(value, bytes) else value


def folded(builder, folds: int, fold: int, keys: Sequence[str], by: str = "item"):
    """`Folds` of the builder for fold `fold` of `folds`, or the builder itself without folds."""
    return Folds(builder, folds, fold, keys, by) if folds > 1 else builder
