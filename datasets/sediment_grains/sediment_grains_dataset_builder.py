"""sediment_grains: particles extracted from six-focal-layer microscope photo sets (Golikov et al. 2022).

Each example is one extracted particle: its six focal layers cropped with the widest box and
resized (280x280 by default), with its sample, stage position and particle ids, the box in the
photo, the frame-edge flag and, for synthetic data, the true particle type. Particles are found
by `coretf.preprocess.grain_extraction` (SLIC, plate-colour threshold, widest box over the
layers), so the dataset holds what the extraction delivers, errors included: a synthetic particle
takes the type of the true box it overlaps with IoU >= 0.5, and "unknown" when none does (a split
pair, a fragment); manual particles are all "unknown". Whole stage positions go to one split.

Configs: `synthetic` (default; 1280x1024 photo sets on a green plate, 280 px crops),
`synthetic_64` (640x512 photo sets, 64 px crops: the fast preset for a CPU), `synthetic_tiny`
(160x128, 32 px: smoke tests), `manual` / `manual_64` (a lab's photo sets). Given Beam options, a
build runs on Apache Beam, one photo set per work item, through the same `photo_set_examples`
(`coretf_datasets.beam_generation`; README: "Large manual folders").
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import tensorflow_datasets as tfds

from coretf.preprocess import grain_extraction as extraction
from coretf.preprocess import grain_photos
from coretf.synthetic import grains as synthetic_grains
from coretf_datasets import beam_generation
from coretf_datasets import splits as splits_lib

TYPE_NAMES = synthetic_grains.TYPES + ("unknown",)
UNKNOWN = len(synthetic_grains.TYPES)
LAYOUT = """\
Put a lab's photo sets under the manual folder, one folder per sample:

  <manual_dir>/<sample>/<position>/<six layer images>      (sorted by name = focal order), or
  <manual_dir>/<sample>/<position>_L1.png ... <position>_L6.png

PNG, JPEG or TIFF, 8 or 16 bit, RGB, RGBA or grey; the six layers of a position must have one
size. A set with another number of layers, layers of different sizes or a frame with no particle
stops the build with a message naming the files (use `python -m coretf.preprocess.grains`, which
reports bad sets and carries on, to find them all at once). At least three positions.

Particles are found with the paper's extraction settings (plate chosen per frame, one
threshold over superpixels, touching particles kept as one) unless the folder holds an
`extraction.json`: an object of settings (those left out stay the paper's), e.g.
{"plate": "dark", "split_touching": true} for sand on a black plate, or the extraction.json a
run of `python -m coretf.preprocess.grains` wrote (its defaults model the plate's light and
split overlapping particles), so that the builder finds the particles that run found. The settings used are kept in the dataset's metadata.
"""


@dataclasses.dataclass
class SedimentGrainsConfig(tfds.core.BuilderConfig):
    """How photo sets are made or read, and the crop size.

    Attributes:
        source: "synthetic" or "manual".
        crop_size: side of the resized crops, px (the paper: 280).
        num_sets: synthetic only: stage positions generated.
        height, width: synthetic only: photo size, px.
        num_particles: synthetic only: inclusive range of particles per position.
        plate: synthetic only: "green" or "dark".
        seed: seeds the synthetic photos and the assignment of positions to splits.
        test_fraction, validation_fraction: shares of positions held out.
    """

    source: str = "synthetic"
    crop_size: int = 280
    num_sets: int = 40
    height: int = 1024
    width: int = 1280
    num_particles: tuple[int, int] = (8, 13)
    plate: str = "green"
    seed: int = 0
    test_fraction: float = 0.2
    validation_fraction: float = 0.15


def synthetic_photo_set(index: int, *, seed: int, height: int, width: int, num_particles: tuple[int, int],
                        plate: str):
    """(sample id, position id, layers, true boxes, true types) of synthetic stage position `index`."""
    made = synthetic_grains.make_photo_set(index, seed=seed, height=height, width=width,
                                           num_particles=num_particles, plate=plate)
    return "synthetic", made.position_id, made.layers, made.boxes, made.types


def manual_photo_set(files: grain_photos.PhotoSetFiles):
    """(sample id, position id, layers, None, None) of a lab's photo set (no true particles)."""
    return files.sample, files.position, grain_photos.read_photo_set(files), None, None


def photo_set_examples(item, *, read, settings: extraction.ExtractionSettings, crop_size: int):
    """Yields (key, example) for every particle extracted from one photo set, the builder's unit of work.

    Args:
        item: what `read` takes (a synthetic position index, or a lab's `PhotoSetFiles`).
        read: item -> (sample id, position id, (6, H, W, 3) uint8 layers, true boxes or None,
            true types or None), `synthetic_photo_set` or `manual_photo_set`.
        settings: the extraction's settings.
        crop_size: side of the resized crops, px.
    """
    sample, position, layers, true_boxes, true_types = read(item)
    particles = extraction.extract_particles(layers, settings, f"{sample}/{position}")
    boxes = [p.box for p in particles]
    matched = {} if true_boxes is None else {
        i: (j, iou) for i, j, iou in grain_photos.match_boxes(boxes, true_boxes)}
    for index, particle in enumerate(particles):
        j, iou = matched.get(index, (None, 0.0))
        yield f"{sample}/{position}/{index:03d}", {
            "layers": grain_photos.crop_layers(layers, particle.box, crop_size),
            "sample_id": sample,
            "position_id": position,
            "particle_id": index,
            "box": np.array(particle.box, np.int32),
            "edge": particle.edge,
            "type": UNKNOWN if j is None else int(true_types[j]),
            "true_iou": np.float32(iou),
        }


class Builder(beam_generation.BeamWhenAsked, tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for extracted sediment particles (on Beam when given Beam options)."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "Synthetic and manual configs, 280 and 64 px crops.",
                     "1.1.0": "synthetic_64: 144 photo sets (was 48), ~1,450 particles: K = 100 clusters of ~15."}
    BUILDER_CONFIGS = [
        SedimentGrainsConfig(name="synthetic", description="40 synthetic 1280x1024 photo sets, 280 px crops."),
        SedimentGrainsConfig(name="synthetic_64", crop_size=64, num_sets=144, height=512, width=640,
                             description="144 synthetic 640x512 photo sets, 64 px crops: fast CPU runs."),
        SedimentGrainsConfig(name="synthetic_tiny", crop_size=32, num_sets=6, height=128, width=160,
                             num_particles=(3, 5), description="Six 160x128 photo sets, 32 px: smoke tests."),
        SedimentGrainsConfig(name="manual", source="manual", description="A lab's photo sets, 280 px crops."),
        SedimentGrainsConfig(name="manual_64", source="manual", crop_size=64,
                             description="A lab's photo sets, 64 px crops."),
    ]
    DEFAULT_CONFIG_NAME = "synthetic"
    MANUAL_DOWNLOAD_INSTRUCTIONS = LAYOUT
    MANUAL_ITEMS = "photo sets"  # in messages: "config 'manual' reads a lab's photo sets"

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.crop_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "layers": tfds.features.Tensor(shape=(grain_photos.NUM_LAYERS, size, size, 3), dtype=np.uint8,
                                               encoding=tfds.features.Encoding.ZLIB,
                                               doc="Six RGB focal layers of the particle, lowest focus first."),
                "sample_id": tfds.features.Text(),
                "position_id": tfds.features.Text(),
                "particle_id": tfds.features.Scalar(np.int32, doc="Index in the position, top to bottom."),
                "box": tfds.features.Tensor(shape=(4,), dtype=np.int32,
                                            doc="(y0, x0, y1, x1) px in the photo, end-exclusive."),
                "edge": tfds.features.Scalar(np.bool_, doc="The box touches the frame."),
                "type": tfds.features.ClassLabel(names=TYPE_NAMES),
                "true_iou": tfds.features.Scalar(np.float32, doc="IoU with the matched true box (0: none)."),
            }),
            supervised_keys=None,
            homepage="https://doi.org/10.22323/1.429.0011",
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        config = self.builder_config
        settings = extraction.PAPER_SETTINGS  # the builder's data stay the paper's extraction
        if config.source == "synthetic":
            sets = {f"P{i:04d}": i for i in range(config.num_sets)}
            read = functools.partial(synthetic_photo_set, seed=config.seed, height=config.height,
                                     width=config.width, num_particles=config.num_particles,
                                     plate=config.plate)
        elif config.source == "manual":
            found = grain_photos.find_photo_sets(str(dl_manager.manual_dir))
            sets = {f"{s.sample}/{s.position}": s for s in found}
            read = manual_photo_set
            settings_file = dl_manager.manual_dir / extraction.SETTINGS_FILE
            if settings_file.exists():
                settings = extraction.read_settings(settings_file, base=extraction.PAPER_SETTINGS)
        else:
            raise ValueError(f"config {config.name}: unknown source {config.source!r}")
        self.info.metadata["extraction"] = dataclasses.asdict(settings)
        splits = splits_lib.assign_splits(list(sets), seed=config.seed, test_fraction=config.test_fraction,
                                          validation_fraction=config.validation_fraction)
        return {split: self._generate_examples([sets[k] for k in sorted(sets) if splits[k] == split], read,
                                               settings)
                for split in splits_lib.SPLITS}

    def _generate_examples(self, items, read, settings: extraction.ExtractionSettings):
        return self.generate(items, functools.partial(photo_set_examples, read=read, settings=settings,
                                                      crop_size=self.builder_config.crop_size))
