"""rock_ct: micro-CT slices of porous rocks with pore labels, one split per stack (Lavrukhin et al.).

Each example is one whole 2-D slice of a stack with its pore label (1 = pore, 0 = solid), the
stack name, the stack's rock type and the slice index. Every stack is its own split, named after
the stack, so that the cross-rock-type experiment can train on part of a stack and evaluate on every
stack whole. TFDS stores a split's examples in hashed key order: sort by `slice_index` for
stack order. Patches are cut later, in the
input pipeline: the paper trains on 64 px patches and evaluates on whole slices.

Configs: `synthetic` (default; the paper's 4 carbonate + 4 soil + 3 sandstone stacks, generated
by `coretf.synthetic.rocks` with exact pore truth, 30 slices of 192 x 192 px each),
`synthetic_small` (24 slices of 128 px: the fast experiment),
`synthetic_tiny` (the same 11 stacks, 3 slices of 64 x 64 px: smoke tests), `synthetic_varied`
(24 domain-randomised stacks from `coretf.synthetic.rocks_varied`, 16 slices of 128 px: feature
size, porosity and scanner drawn per stack, for models meant to transfer to real scans),
`synthetic_varied_tiny` (3 of them, 3 slices of 64 px) and `manual` (a lab's stacks, see
`manual_stacks.LAYOUT`).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import tensorflow_datasets as tfds

from coretf.synthetic import rocks, rocks_varied
from coretf_datasets.rock_ct import manual_stacks



@dataclasses.dataclass
class RockCtConfig(tfds.core.BuilderConfig):
    """How stacks are made or read.

    Attributes:
        source: "synthetic" (`coretf.synthetic.rocks`), "varied" (`coretf.synthetic.rocks_varied`)
            or "manual".
        slices: synthetic only: slices per stack.
        size: synthetic only: slice side, px.
        seed: synthetic only: generator seed.
        stacks_per_type: varied only: stacks per rock type.
    """

    source: str = "synthetic"
    slices: int = 30
    size: int = 192
    seed: int = 0
    stacks_per_type: int = rocks_varied.STACKS_PER_TYPE


def _png(array: np.ndarray) -> bytes:
    """PNG bytes of a 2-D uint8 array (OpenCV is much faster than TFDS's encoder)."""
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(array), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {array.shape} slice as PNG")
    return encoded.tobytes()


def slice_examples(stack_id: str, rock_type: str, image: np.ndarray, pores: np.ndarray, split: str = ""):
    """Yields (key, example) for every slice of a (D, H, W) stack; keys are `<stack>/<index>`."""
    for index in range(image.shape[0]):
        yield f"{stack_id}/{index:05d}", {
            "image": _png(image[index]),
            "pores": _png(pores[index]),
            "stack_id": stack_id,
            "rock_type": rock_type,
            "stack_split": split,
            "slice_index": np.int32(index),
        }


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for labelled rock micro-CT stacks, one split per stack."""

    VERSION = tfds.core.Version("1.2.0")
    RELEASE_NOTES = {"1.0.0": "Synthetic (11 stacks, 3 rock types) and manual configs.",
                     "1.1.0": "manual: flat images/ + masks/ layouts, labels.csv label maps (grey values, "
                              "colour codes, an ignore class stored as 255), a split column; "
                              "feature stack_split.",
                     "1.2.0": "synthetic_varied and synthetic_varied_tiny: domain-randomised stacks "
                              "(coretf.synthetic.rocks_varied); the other configs' data unchanged."}
    BUILDER_CONFIGS = [
        RockCtConfig(name="synthetic", description="11 synthetic stacks, 30 slices of 192 px."),
        RockCtConfig(name="synthetic_small", slices=24, size=128,
                     description="11 synthetic stacks, 24 slices of 128 px: the fast experiment."),
        RockCtConfig(name="synthetic_tiny", slices=3, size=64,
                     description="11 synthetic stacks, 3 slices of 64 px: smoke tests."),
        RockCtConfig(name="synthetic_varied", source="varied", slices=16, size=128,
                     description="24 domain-randomised stacks (8 per rock type), 16 slices of 128 px."),
        RockCtConfig(name="synthetic_varied_tiny", source="varied", slices=3, size=64, stacks_per_type=1,
                     description="3 domain-randomised stacks, 3 slices of 64 px: smoke tests."),
        RockCtConfig(name="manual", source="manual", description="A lab's labelled stacks."),
    ]
    DEFAULT_CONFIG_NAME = "synthetic"
    MANUAL_DOWNLOAD_INSTRUCTIONS = manual_stacks.LAYOUT
    MANUAL_ITEMS = "stacks"  # in messages: "config 'manual' reads a lab's stacks"

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 1), encoding_format="png",
                                             doc="CT slice, 8 bit; brighter = more attenuating."),
                "pores": tfds.features.Image(shape=(None, None, 1), encoding_format="png",
                                             doc="1 = pore, 0 = solid, 255 = ignored (outside the rock, "
                                                 "not labelled)."),
                "stack_id": tfds.features.Text(),
                "rock_type": tfds.features.Text(),
                "stack_split": tfds.features.Text(doc="train: a stack the lab marked for training; else empty."),
                "slice_index": tfds.features.Scalar(np.int32, doc="Position of the slice in its stack."),
            }),
            supervised_keys=("image", "pores"),
            homepage="https://github.com/coretf/coretf",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        config = self.builder_config
        manual_dir = None
        if config.source == "synthetic":
            table = {stack_id: stack_id.rsplit("_", 1)[0] for stack_id in rocks.stack_ids()}
        elif config.source == "varied":
            table = {stack_id: stack_id.rsplit("_", 1)[0]
                     for stack_id in rocks_varied.stack_ids(config.stacks_per_type)}
        elif config.source == "manual":
            manual_dir = dl_manager.manual_dir
            table = manual_stacks.read_table(manual_dir)
        else:
            raise ValueError(f"config {config.name}: unknown source {config.source!r}")
        return {stack_id: self._generate_examples(stack_id, rock_type, manual_dir)
                for stack_id, rock_type in table.items()}

    def _generate_examples(self, stack_id: str, rock_type: str, manual_dir):
        # One stack in memory at a time, made or read when TFDS asks for this split's examples.
        config = self.builder_config
        if config.source == "synthetic":
            stack = rocks.make_stack(stack_id, slices=config.slices, size=config.size, seed=config.seed)
            yield from slice_examples(stack_id, rock_type, stack.image, stack.pores)
        elif config.source == "varied":
            stack = rocks_varied.make_varied_stack(stack_id, slices=config.slices, size=config.size,
                                                   seed=config.seed)
            yield from slice_examples(stack_id, rock_type, stack.image, stack.pores)
        else:
            stack = manual_stacks.read_stack(manual_dir, stack_id, rock_type)
            yield from slice_examples(stack_id, rock_type, stack.image, stack.pores, stack.split)
