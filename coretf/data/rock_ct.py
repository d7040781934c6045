"""Input pipeline of the rock_ct job (Lavrukhin et al., §4.3-4.4): stacks, training patches, tf.data.

Stacks are small enough (tens of slices of a few hundred px) to hold in memory as arrays: the job
reads every stack once, cuts the training stacks' leading slices into 64 px patches and evaluates
on every stack's whole slices. Intensities stay in [0, 1] here; the model itself shifts them to
the paper's [-0.5, 0.5], so the exported SavedModel takes [0, 1] like every coretf model.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from coretf.tiling import tile_starts
from coretf_datasets.rock_ct.stack import Stack


def load_stacks(builder: tfds.core.DatasetBuilder) -> dict[str, Stack]:
    """Every stack (split) of a prepared builder, slices sorted by index (TFDS stores them hashed)."""
    stacks = {}
    for split in sorted(builder.info.splits):
        examples = sorted(tfds.as_numpy(builder.as_dataset(split=split)), key=lambda e: e["slice_index"])
        stacks[split] = Stack(stack_id=split, rock_type=examples[0]["rock_type"].decode(),
                              image=np.stack([e["image"][..., 0] for e in examples]),
                              pores=np.stack([e["pores"][..., 0] for e in examples]),
                              split=examples[0]["stack_split"].decode())
    return stacks


def default_training_stacks(stacks: dict[str, Stack]) -> tuple[str, ...]:
    """The stacks the lab's stacks.csv marks `train`, else the paper's choice: the first stack
    (by name) of each rock type."""
    marked = tuple(sorted(s for s in stacks if stacks[s].split == "train"))
    if marked:
        return marked
    first = {}
    for stack_id in sorted(stacks):
        first.setdefault(stacks[stack_id].rock_type, stack_id)
    return tuple(first[rock] for rock in sorted(first))


def held_out(depth: int, holdout: float) -> int:
    """How many of a stack's last slices a `holdout` share keeps out of training (at least one)."""
    return min(depth - 1, max(1, int(np.ceil(depth * holdout)))) if holdout > 0 else 0


def split_holdout(stacks: dict[str, Stack], train_ids, holdout: float) -> dict[str, Stack]:
    """The stacks to evaluate: each training stack's held-out last slices become a stack of their
    own, `<stack>_holdout` (out of sample), and the training stack keeps the slices before them."""
    if not holdout:
        return dict(stacks)
    out = {}
    for stack_id, stack in stacks.items():
        cut = stack.image.shape[0] - held_out(stack.image.shape[0], holdout) if stack_id in train_ids else None
        if cut is None:
            out[stack_id] = stack
            continue
        out[stack_id] = dataclasses.replace(stack, image=stack.image[:cut], pores=stack.pores[:cut],
                                            slice_names=stack.slice_names[:cut])
        out[f"{stack_id}_holdout"] = dataclasses.replace(
            stack, stack_id=f"{stack_id}_holdout", image=stack.image[cut:], pores=stack.pores[cut:],
            slice_names=stack.slice_names[cut:], split="")
    return out


def training_slices(stacks: dict[str, Stack], train_ids, total: int = 0, holdout: float = 0.0) -> dict[str, int]:
    """How many leading slices each training stack gives, for an equal training-set size.

    The paper trains every model on the same number of slices: one stack whole, half of each of
    two stacks, a third of each of three. `total` is that number (0 = the shortest training
    stack's depth, less its held-out slices); each of the k stacks gives total // k slices. With
    `holdout`, the last `held_out(depth, holdout)` slices of each training stack are never used.

    Raises:
        ValueError: an unknown stack, or a stack too short for its share.
    """
    unknown = [s for s in train_ids if s not in stacks]
    if unknown or not train_ids:
        raise ValueError(f"training stacks {list(train_ids)}: unknown {unknown}; the data has "
                         f"{sorted(stacks)}")
    usable = {s: stacks[s].image.shape[0] - held_out(stacks[s].image.shape[0], holdout) for s in train_ids}
    total = total or min(usable.values())
    share = total // len(train_ids)
    for stack_id in train_ids:
        depth = usable[stack_id]
        if share < 1 or share > depth:
            raise ValueError(f"stack {stack_id!r}: has {depth} slices, cannot give {share} of a "
                             f"{total}-slice training set shared by {len(train_ids)} stacks")
    return {stack_id: share for stack_id in train_ids}


def cut_patches(image: np.ndarray, pores: np.ndarray, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """`patch` px patches covering every slice, overlapping only where the size demands it.

    Windows start where `coretf.tiling.tile_starts` puts them (overlap 0): evenly spaced, the
    last one ending at the border, so no pixel is left out.

    Args:
        image, pores: (D, H, W) uint8 with H, W >= patch.

    Returns:
        (N, patch, patch, 1) float32 images in [0, 1] and (N, patch, patch, 1) uint8 labels.
    """
    depth, height, width = image.shape
    if height < patch or width < patch:
        raise ValueError(f"slices of {height}x{width} px are smaller than one {patch} px patch")
    windows = [(r, c) for r in tile_starts(height, patch, 0) for c in tile_starts(width, patch, 0)]
    images = np.stack([image[:, r:r + patch, c:c + patch] for r, c in windows], 1)
    labels = np.stack([pores[:, r:r + patch, c:c + patch] for r, c in windows], 1)
    images = images.reshape(-1, patch, patch, 1).astype(np.float32) / 255.0
    return images, labels.reshape(-1, patch, patch, 1)


def training_patches(stacks: dict[str, Stack], slices: dict[str, int], patch: int):
    """The training set: patches of the leading `slices[stack]` slices of each training stack."""
    parts = [cut_patches(stacks[s].image[:n], stacks[s].pores[:n], patch) for s, n in slices.items()]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def make_training_dataset(images: np.ndarray, labels: np.ndarray, *, batch_size: int,
                          seed: int) -> tf.data.Dataset:
    """Shuffled (reshuffled every pass, seeded), repeated batches of (images, labels)."""
    return (tf.data.Dataset.from_tensor_slices((images, labels))
            .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
            .repeat()
            .batch(batch_size, drop_remainder=len(images) >= batch_size)
            .prefetch(tf.data.AUTOTUNE))
