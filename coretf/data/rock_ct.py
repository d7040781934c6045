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


def held_slices(depth: int, *, holdout: float = 0.0, folds: int = 0, fold: int = -1) -> range:
    """The slices of a training stack kept out of training: the last `holdout` share (at least one
    slice), or block `fold` of `folds` contiguous blocks (k-fold cross-validation), or none."""
    if folds > 1:
        if depth < folds:
            raise ValueError(f"--folds={folds}: a training stack has only {depth} slices")
        return range(fold * depth // folds, (fold + 1) * depth // folds)
    if holdout > 0:
        return range(depth - min(depth - 1, max(1, int(np.ceil(depth * holdout)))), depth)
    return range(0)


def split_out(stacks: dict[str, Stack], train_ids, **held) -> dict[str, Stack]:
    """The stacks to train on and evaluate: each training stack's held slices (`held_slices`) become
    a stack of their own, `<stack>_holdout` (out of sample), and the training stack keeps the rest."""
    out = {}
    for stack_id, stack in stacks.items():
        held_out = held_slices(stack.image.shape[0], **held) if stack_id in train_ids else range(0)
        if not held_out:
            out[stack_id] = stack
            continue
        kept = [i for i in range(stack.image.shape[0]) if i not in held_out]

        def part(indices, name):
            names = tuple(stack.slice_names[i] for i in indices) if stack.slice_names else ()
            return dataclasses.replace(stack, stack_id=name, image=stack.image[indices],
                                       pores=stack.pores[indices], slice_names=names)

        out[stack_id] = part(kept, stack_id)
        out[f"{stack_id}_holdout"] = dataclasses.replace(part(list(held_out), f"{stack_id}_holdout"), split="")
    return out


def training_slices(stacks: dict[str, Stack], train_ids, total: int = 0) -> dict[str, int]:
    """How many leading slices each training stack gives, for an equal training-set size.

    The paper trains every model on the same number of slices: one stack whole, half of each of
    two stacks, a third of each of three. `total` is that number (0 = the shortest training
    stack's depth); each of the k stacks gives total // k slices.

    Raises:
        ValueError: an unknown stack, or a stack too short for its share.
    """
    unknown = [s for s in train_ids if s not in stacks]
    if unknown or not train_ids:
        raise ValueError(f"training stacks {list(train_ids)}: unknown {unknown}; the data has "
                         f"{sorted(stacks)}")
    total = total or min(stacks[s].image.shape[0] for s in train_ids)
    share = total // len(train_ids)
    for stack_id in train_ids:
        depth = stacks[stack_id].image.shape[0]
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
