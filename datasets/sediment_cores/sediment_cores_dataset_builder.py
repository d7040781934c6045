"""sediment_cores: split-core section photographs cut into labelled patches (Hutton 2025, §2).

Each example is one square patch of a section photograph with its disturbance label. Sections
are assigned whole to one split, so no section contributes to two splits. Every section is first
put in the canonical orientation of the paper's images (depth along the image width, core top
at x = 0) by a transpose when its depth axis is y: a transpose keeps depth order, so nothing
here reverses or shortens depth. Patches tile the whole section, the last row and column of
tiles shifted inwards to end at the border (the public code dropped those partial edge tiles).

Configs: `synthetic` (default; procedurally generated sections with exact masks, see
`coretf.synthetic.cores`) and `manual` (a lab's own photographs), each with 128 px patches, plus
`*_256` variants with 256 px patches, and `synthetic_tiny` (three short sections, 64 px patches)
for smoke tests. The `*_cropped` configs remove the background first (`coretf.preprocess.
background`, the paper's §2.3.1 with its extension along the core: `method="seeded"`, the
method they were released with) and patch only the crop, so the paper's Table 3 (with and
without background removal) can be rerun.

Given Beam options, a build runs on Apache Beam, one section per work item, through the same
`section_examples` (`coretf_datasets.beam_generation`; README: "Large manual folders").
"""

from __future__ import annotations

import dataclasses
import functools

from absl import logging
import cv2
import numpy as np
import tensorflow_datasets as tfds

from coretf.labels import IGNORE
from coretf.preprocess import background
from coretf.synthetic import cores as synthetic_cores
from coretf_datasets import beam_generation
from coretf_datasets import splits as splits_lib
from coretf_datasets.sediment_cores import manual_sections

# Label convention of the paper's GIMP masks: 1 = undisturbed sediment (opaque, kept),
# 0 = disturbed sediment or background (erased); 255 = ignored. The IoU is computed on class 0.
CLASS_NAMES = manual_sections.CLASS_NAMES


@dataclasses.dataclass
class SedimentCoresConfig(tfds.core.BuilderConfig):
    """How sections are made or read and cut into patches.

    Attributes:
        source: "synthetic" or "manual".
        patch_size: side of the square patches in pixels.
        num_sections: synthetic only: number of sections generated.
        length_cm: synthetic only: section length.
        px_per_cm: synthetic only: resolution of the generated photographs.
        seed: seeds the synthetic sections and the assignment of sections to splits.
        test_fraction: share of sections held out for test (the paper's code: 0.4).
        validation_fraction: share of the remaining (training) sections used for validation.
        crop: remove the background (`crop_to_core`) before patching.
    """

    source: str = "synthetic"
    patch_size: int = 128
    num_sections: int = 15
    length_cm: float = 150.0
    px_per_cm: float = 40.0
    seed: int = 0
    test_fraction: float = 0.4
    validation_fraction: float = 0.2
    crop: bool = False


def tile_origins(length: int, patch_size: int) -> list[int]:
    """Start offsets of non-overlapping tiles covering [0, length), the last one shifted inwards."""
    starts = list(range(0, length - patch_size + 1, patch_size))
    if starts[-1] + patch_size < length:
        starts.append(length - patch_size)
    return starts


def _png(array: np.ndarray) -> bytes:
    """PNG bytes of an RGB or single-channel uint8 array (OpenCV is ~10x faster than TFDS here)."""
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)  # imencode expects BGR
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(array), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {array.shape} patch as PNG")
    return encoded.tobytes()


def pad_to_patch(section: manual_sections.Section, patch_size: int) -> manual_sections.Section:
    """A section narrower (or shorter) than one patch, mirror-padded to the patch size at its
    bottom and right edges; the padding is labelled IGNORE, so it counts in no loss or figure.
    Depth stays exact: the core top and its position do not move."""
    height, width = section.mask.shape
    pad = ((0, max(0, patch_size - height)), (0, max(0, patch_size - width)))
    if not any(p for _, p in pad):
        return section
    if pad[0][1] >= height or pad[1][1] >= width:  # a mirror needs a source at least as long
        reps = (-(-patch_size // height), -(-patch_size // width))
        image = np.tile(section.image, reps + (1,))[:max(height, patch_size), :max(width, patch_size)]
    else:
        image = np.pad(section.image, pad + ((0, 0),), mode="symmetric")
    mask = np.pad(section.mask, pad, constant_values=IGNORE)
    return dataclasses.replace(section, image=image, mask=mask)


def cut_patches(section: manual_sections.Section, patch_size: int):
    """Yields (key, example) for every patch of a section in canonical orientation (a section
    smaller than one patch is padded first, `pad_to_patch`)."""
    section = pad_to_patch(section, patch_size)
    height, width = section.mask.shape
    lab = cv2.cvtColor(section.image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    for row in tile_origins(height, patch_size):
        for col in tile_origins(width, patch_size):
            window = np.s_[row : row + patch_size, col : col + patch_size]
            mask = section.mask[window]
            kept = mask == 1
            lab_mean = lab[window][kept].mean(axis=0) if kept.any() else np.zeros(3, np.float32)
            yield f"{section.section_id}/{row:06d}_{col:06d}", {
                "image": _png(section.image[window]),
                "mask": _png(mask),
                "section_id": section.section_id,
                "origin": np.array([row, col], np.int32),
                "depth_cm": np.float32(section.top_depth_cm + (col - section.top_px) / section.px_per_cm),
                "px_per_cm": np.float32(section.px_per_cm),
                "lab_mean": lab_mean.astype(np.float32),
                "kept_pixels": np.int32(kept.sum()),
            }


def crop_to_core(section: manual_sections.Section,
                 expected_lengths_cm: tuple[float, ...] = (120.0, 150.0)) -> manual_sections.Section:
    """The section cropped to its core by `background` (default parameters, depth along x).

    Depth stays exact: the crop never cuts along the core beyond the box found, and `top_px`
    moves with the crop's left edge. A crop that fails the paper's automatic checks (colour
    card, length) is used but logged with the section's name, for the manual review the paper
    describes; use `python -m coretf.preprocess.core_crop` to review a lab's sections first.

    Raises:
        ValueError: no core-like region in the section (the message names its source).
    """
    params = background.CropParams(method="seeded", depth_axis="x")
    result = background.find_core_box(section.image, params)
    check = background.check_crop(section.image, result, params, px_per_cm=section.px_per_cm,
                                  expected_lengths_cm=expected_lengths_cm)
    if result.box is None:
        raise ValueError(f"{section.source}: background removal found no core ({check.message})")
    if check.status != "ok":
        logging.warning("%s: background removal flagged %s: %s", section.source, check.status,
                        check.message)
    x0, y0, x1, y1 = result.box
    return dataclasses.replace(section, image=np.ascontiguousarray(section.image[y0:y1, x0:x1]),
                               mask=np.ascontiguousarray(section.mask[y0:y1, x0:x1]),
                               top_px=section.top_px - x0)


def synthetic_section(section_id: str, *, seed: int, length_cm: float,
                      px_per_cm: float) -> manual_sections.Section:
    """Synthetic section `S<index>` (`coretf.synthetic.cores`) with its exact mask."""
    made = synthetic_cores.make_section(int(section_id[1:]), seed=seed, length_cm=length_cm,
                                        px_per_cm=px_per_cm)
    return manual_sections.Section(section_id=section_id, image=made.image, mask=made.mask,
                                   px_per_cm=made.px_per_cm, top_depth_cm=made.top_depth_cm,
                                   source=f"synthetic section {section_id}", top_px=made.core_box[0])


def section_examples(item, *, read, patch_size: int, crop: bool, lengths: tuple[float, ...]):
    """Yields (key, example) for every patch of one section, the builder's unit of work.

    Args:
        item: what `read` takes (a synthetic section id, or a lab's `SectionRow`).
        read: item -> `manual_sections.Section`.
        patch_size: side of the patches, px.
        crop: remove the background first (`crop_to_core`, checked against `lengths`, cm).
    """
    section = read(item)
    if crop:
        section = crop_to_core(section, lengths)
    yield from cut_patches(section, patch_size)


class Builder(beam_generation.BeamWhenAsked, tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for sediment-core disturbance patches (on Beam when given Beam options)."""

    VERSION = tfds.core.Version("1.2.0")
    RELEASE_NOTES = {
        "1.0.0": "Synthetic and manual configs, 128 and 256 px patches.",
        "1.1.0": "`*_cropped` configs: background removed (core_crop) before patching. Existing "
                 "configs unchanged.",
        "1.2.0": "manual: images/ + masks/ folders, labels.csv label maps (colour codes, an ignore "
                 "class stored as 255), a split column, sections smaller than a patch mirror-padded "
                 "(padding ignored). Synthetic configs unchanged.",
    }
    BUILDER_CONFIGS = [
        SedimentCoresConfig(name="synthetic", description="Synthetic sections, 128 px patches."),
        SedimentCoresConfig(name="synthetic_256", patch_size=256,
                            description="Synthetic sections, 256 px patches."),
        SedimentCoresConfig(name="synthetic_tiny", num_sections=3, length_cm=12.0, px_per_cm=12.0,
                            patch_size=64, description="Three short sections, 64 px: smoke tests."),
        SedimentCoresConfig(name="manual", source="manual",
                            description="A lab's sections, 128 px patches."),
        SedimentCoresConfig(name="manual_256", source="manual", patch_size=256,
                            description="A lab's sections, 256 px patches."),
        SedimentCoresConfig(name="synthetic_cropped", crop=True,
                            description="Synthetic sections, background removed, 128 px patches."),
        SedimentCoresConfig(name="synthetic_256_cropped", patch_size=256, crop=True,
                            description="Synthetic sections, background removed, 256 px patches."),
        SedimentCoresConfig(name="synthetic_tiny_cropped", num_sections=3, length_cm=12.0,
                            px_per_cm=12.0, patch_size=64, crop=True,
                            description="synthetic_tiny with the background removed."),
        SedimentCoresConfig(name="manual_cropped", source="manual", crop=True,
                            description="A lab's sections, background removed, 128 px patches."),
        SedimentCoresConfig(name="manual_256_cropped", source="manual", patch_size=256, crop=True,
                            description="A lab's sections, background removed, 256 px patches."),
    ]
    DEFAULT_CONFIG_NAME = "synthetic"
    MANUAL_DOWNLOAD_INSTRUCTIONS = manual_sections.LAYOUT
    MANUAL_ITEMS = "sections"  # in messages: "config 'manual' reads a lab's sections"

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.patch_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(size, size, 3), encoding_format="png",
                                             doc="RGB patch, depth along x (width)."),
                "mask": tfds.features.Image(shape=(size, size, 1), encoding_format="png",
                                            doc="1 = undisturbed sediment, 0 = disturbed or background, "
                                                "255 = ignored (not labelled, padding)."),
                "section_id": tfds.features.Text(),
                "origin": tfds.features.Tensor(shape=(2,), dtype=np.int32,
                                               doc="(row, col) of the patch in the section, px."),
                "depth_cm": tfds.features.Scalar(np.float32, doc="Depth of the patch's top (col 0)."),
                "px_per_cm": tfds.features.Scalar(np.float32),
                "lab_mean": tfds.features.Tensor(shape=(3,), dtype=np.float32,
                                                 doc="Mean L*a*b* of undisturbed pixels (0 if none)."),
                "kept_pixels": tfds.features.Scalar(np.int32, doc="Number of undisturbed pixels."),
            }),
            supervised_keys=("image", "mask"),
            homepage="https://github.com/Sam0fc/coreclean",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        config = self.builder_config
        # {section id: work item}; `read` makes a section of an item (picklable, for Beam).
        if config.source == "synthetic":
            items = {f"S{index:04d}": f"S{index:04d}" for index in range(config.num_sections)}
            read = functools.partial(synthetic_section, seed=config.seed, length_cm=config.length_cm,
                                     px_per_cm=config.px_per_cm)
            fixed = None
        elif config.source == "manual":
            items = manual_sections.read_table(dl_manager.manual_dir)
            read = functools.partial(manual_sections.read_section, dl_manager.manual_dir)
            fixed = {section_id: row.split for section_id, row in items.items() if row.split}
        else:
            raise ValueError(f"config {config.name}: unknown source {config.source!r}")
        splits = splits_lib.assign_splits(list(items), seed=config.seed, test_fraction=config.test_fraction,
                                          validation_fraction=config.validation_fraction, fixed=fixed)
        return {
            split: self._generate_examples([item for i, item in items.items() if splits[i] == split], read)
            for split in splits_lib.SPLITS
        }

    def _generate_examples(self, items, read):
        config = self.builder_config
        # Synthetic sections have one known length; a lab's are checked against the paper's.
        lengths = (config.length_cm,) if config.source == "synthetic" else (120.0, 150.0)
        # One section in memory at a time (a real section is ~45 Mpx), per process on Beam.
        return self.generate(items, functools.partial(section_examples, read=read, crop=config.crop,
                                                      patch_size=config.patch_size, lengths=lengths))
