"""ice_ct: ice-core micro-CT slices at 60 um with GMM weak labels from 30 um (Bagherzadeh et al. 2023).

Each example is one low-resolution slice of a specimen with what the paper derives for it
(`coretf.preprocess.ice_stack.label_pair`): the denoised, normalised slice with the carbon-fibre
ring cropped away, the field-of-view mask, the weak label (two high-res GMM masks averaged
2x2x2, at least half ice), the GMM and Otsu baselines on the low-res slice itself, and for
synthetic specimens the exact truth. Splits follow the paper: the lowest 20 % of every specimen
is test; the 10 % just above it is validation; the rest is train.

Configs: `synthetic` (default; three specimens like the paper's, `coretf.synthetic.ice`, 384^2
high-res slices x 96, i.e. 192^2 x 48 at low res), `synthetic_tiny` (64^2 x 8: smoke tests) and
`manual` (a lab's stacks, see `manual_specimens.LAYOUT`). Given Beam options, `manual` runs on
Apache Beam, one specimen per work item, through the same `manual_specimen_examples`
(`coretf_datasets.beam_generation`; README: "Large manual folders").
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from coretf.preprocess import ice_slices, ice_stack
from coretf.synthetic import ice as synthetic_ice
from coretf_datasets import beam_generation
from coretf_datasets.ice_ct import manual_specimens
from coretf_datasets.splits import SPLITS, split_of


@dataclasses.dataclass
class IceCtConfig(tfds.core.BuilderConfig):
    """How specimens are made or read.

    Attributes:
        source: "synthetic" or "manual".
        size: synthetic only: high-res slice side in px.
        slices: synthetic only: high-res slices per specimen.
        num_specimens: synthetic only (kinds cycle snow, firn, bubbly ice).
        seed: synthetic only.
        test_fraction: the lowest share of each specimen's slices held out for test.
        validation_fraction: the share just above the test block used for validation.
    """

    source: str = "synthetic"
    size: int = 384
    slices: int = 96
    num_specimens: int = 3
    seed: int = 0
    test_fraction: float = 0.2
    validation_fraction: float = 0.1


def _image(doc: str) -> tfds.features.Image:
    return tfds.features.Image(shape=(None, None, 1), encoding_format="png", doc=doc)


class Builder(beam_generation.BeamWhenAsked, tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for low-res ice-core CT slices with weak labels (manual: on Beam when given
    Beam options)."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "Synthetic and manual configs; weak labels, baselines, exact truth.",
                     "1.1.0": "manual: a split column in specimens.csv puts a whole specimen in one split. "
                              "Synthetic data unchanged."}
    BUILDER_CONFIGS = [
        IceCtConfig(name="synthetic", description="Three synthetic specimens, 192^2 x 48 low-res slices."),
        IceCtConfig(name="synthetic_tiny", size=64, slices=8,
                    description="Three tiny synthetic specimens, 32^2 x 4 low-res slices: smoke tests."),
        IceCtConfig(name="manual", source="manual", description="A lab's specimens."),
    ]
    DEFAULT_CONFIG_NAME = "synthetic"
    MANUAL_DOWNLOAD_INSTRUCTIONS = manual_specimens.LAYOUT
    MANUAL_ITEMS = "specimens"  # in messages: "config 'manual' reads a lab's specimens"

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": _image("Low-res slice: 3x3 median, field-of-view 0.5/99.5 percentiles -> "
                                "0/255, 0 outside the field of view."),
                "weak_label": _image("1 = ice: two high-res GMM masks, 2x2x2 mean >= 0.5."),
                "fov": _image("1 = inside the carbon-fibre tube (field of view)."),
                "gmm_low": _image("1 = ice by the GMM on this low-res slice (baseline)."),
                "otsu_low": _image("1 = ice by Otsu on this low-res slice (baseline)."),
                "truth": _image("Exact 1 = ice (at least half the 2x2x2 block); zeros if unknown."),
                "has_truth": tfds.features.Scalar(np.bool_, doc="True for synthetic specimens."),
                "specimen_id": tfds.features.Text(),
                "slice_index": tfds.features.Scalar(np.int32, doc="Low-res slice, 0 = top."),
                "num_slices": tfds.features.Scalar(np.int32, doc="Low-res slices of the specimen."),
                "low_voxel_um": tfds.features.Scalar(np.float32),
                "high_voxel_um": tfds.features.Scalar(np.float32),
                "weight_g": tfds.features.Scalar(np.float32, doc="Measured (synthetic: exact) weight."),
                "height_mm": tfds.features.Scalar(np.float32),
                "diameter_mm": tfds.features.Scalar(np.float32),
            }),
            supervised_keys=("image", "weak_label"),
            homepage="https://github.com/Faramarz-bagherzadeh/Icecore_GMM_U-net",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        config = self.builder_config
        if config.source == "synthetic":
            specimens = [synthetic_ice.make_specimen(i, size=config.size, slices=config.slices,
                                                     seed=config.seed)
                         for i in range(config.num_specimens)]
            return {split: self._generate_examples(split, specimens=specimens) for split in SPLITS}
        if config.source == "manual":
            table = manual_specimens.read_table(dl_manager.manual_dir)
            return {split: self._generate_examples(split, manual_dir=dl_manager.manual_dir, table=table)
                    for split in SPLITS}
        raise ValueError(f"config {config.name}: unknown source {config.source!r}")

    def _generate_examples(self, split, *, specimens=None, manual_dir=None, table=None):
        if specimens is not None:
            # Made once in memory for the three splits: generated here, never sent to Beam.
            return self._synthetic_examples(specimens, split)
        config = self.builder_config
        return self.generate(list(table.values()), functools.partial(
            manual_specimen_examples, manual_dir=manual_dir, split=split,
            test_fraction=config.test_fraction, validation_fraction=config.validation_fraction))

    def _split(self, index: int, count: int) -> str:
        config = self.builder_config
        return split_of(index, count, config.test_fraction, config.validation_fraction)

    def _synthetic_examples(self, specimens, split):
        for specimen in specimens:
            count = specimen.num_low_slices
            meta = _metadata(specimen.specimen_id, count, specimen.high_voxel_um,
                             specimen.low_voxel_um, specimen.weight_g, specimen.height_mm,
                             specimen.diameter_mm)
            for k in range(count):
                if self._split(k, count) != split:
                    continue
                names = tuple(f"synthetic {specimen.specimen_id} {r} slice {i}" for r, i in
                              (("high", 2 * k), ("high", 2 * k + 1), ("low", k)))
                labels = ice_stack.label_pair(specimen.high_slice(2 * k), specimen.high_slice(2 * k + 1),
                                              specimen.low_slice(k), names, k)
                truth = specimen.low_truth(k) & labels.fov
                yield f"{specimen.specimen_id}/{k:05d}", _example(labels, meta, truth)


def manual_specimen_examples(row: manual_specimens.SpecimenRow, *, manual_dir, split: str,
                             test_fraction: float, validation_fraction: float):
    """Yields (key, example) for the low-res slices of one lab specimen that fall in `split`, the
    manual config's unit of work: the specimen's slices are labelled by `ice_stack.label_stack`,
    whose threads and one-size-per-stack checks work over the whole stack.

    Args:
        row: the specimen's row of specimens.csv.
        manual_dir: the lab's folder.
        split: "train", "validation" or "test".
        test_fraction, validation_fraction: the depth blocks of `splits.split_of`.

    Raises:
        ValueError: a slice that cannot be labelled or stacks that do not pair, naming the file.
    """
    high_dir, low_dir = manual_specimens.stack_dirs(manual_dir, row.specimen_id)
    count = len(ice_stack.list_slices(low_dir))
    meta = _metadata(row.specimen_id, count, row.high_voxel_um, row.low_voxel_um, row.weight_g,
                     row.height_mm, row.diameter_mm)
    # A specimen the lab puts in one split goes there whole; the others are cut by depth.
    skip = [k for k in range(count)
            if (row.split or split_of(k, count, test_fraction, validation_fraction)) != split]
    for k, path, result in ice_stack.label_stack(high_dir, low_dir, skip=skip):
        if isinstance(result, ice_slices.BlankSliceError):
            logging.warning("ice_ct: skipped low-res slice %s: %s", path, result)
            continue
        if isinstance(result, Exception):
            raise ValueError(str(result)) from result
        yield f"{row.specimen_id}/{k:05d}", _example(result, meta, None)


def _metadata(specimen_id, count, high_um, low_um, weight_g, height_mm, diameter_mm) -> dict:
    return {"specimen_id": specimen_id, "num_slices": np.int32(count),
            "high_voxel_um": np.float32(high_um), "low_voxel_um": np.float32(low_um),
            "weight_g": np.float32(weight_g), "height_mm": np.float32(height_mm),
            "diameter_mm": np.float32(diameter_mm)}


def _example(labels: ice_stack.LowResLabels, meta: dict, truth: np.ndarray | None) -> dict:
    def channel(array):
        return np.ascontiguousarray(array[..., None].astype(np.uint8))

    return {
        "image": channel(labels.image), "weak_label": channel(labels.weak),
        "fov": channel(labels.fov), "gmm_low": channel(labels.gmm_low),
        "otsu_low": channel(labels.otsu_low),
        "truth": channel(truth if truth is not None else np.zeros_like(labels.weak)),
        "has_truth": truth is not None, "slice_index": np.int32(labels.index), **meta,
    }
