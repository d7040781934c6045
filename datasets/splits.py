"""How coretf's builders split their data into train, validation and test.

Two schemes, one per kind of data: `assign_splits` puts whole items (sediment sections, grain
stage positions) into one split each, so that nothing of a held-out item is seen in training;
`split_of` cuts one specimen's slices into depth blocks (ice_ct: the lowest part is test, the
part above it validation). rock_ct needs neither: every stack is its own split.
"""

from __future__ import annotations

import math

import numpy as np

SPLITS = ("train", "validation", "test")


def assign_splits(
    item_ids: list[str], *, seed: int, test_fraction: float, validation_fraction: float,
    fixed: dict[str, str] | None = None,
) -> dict[str, str]:
    """Assigns whole items to train/validation/test, deterministically for a seed.

    Args:
        item_ids: unique item names (in any order: they are sorted before the seeded shuffle).
        seed: permutation seed.
        test_fraction: share of items for test (at least one item).
        validation_fraction: share of the non-test items for validation (at least one).
        fixed: {item_id: split} a lab chose (the split column of its table); the other items are
            shared out as above among the splits (a split the lab filled gets no more unless
            every split is empty of fixed items).

    Returns:
        {item_id: "train" | "validation" | "test"}.

    Raises:
        ValueError: fewer than three items (each split needs one), or a split left empty.
    """
    if fixed:
        splits = dict(fixed)
        rest = sorted(set(item_ids) - set(fixed))
        empty = [s for s in SPLITS if s not in splits.values()]
        rng = np.random.default_rng(seed)
        rng.shuffle(rest)
        for index, item in enumerate(rest):  # the empty splits first, then training
            splits[item] = empty[index] if index < len(empty) else "train"
        missing = [s for s in SPLITS if s not in splits.values()]
        if missing:
            raise ValueError(f"the split column leaves no section for {', '.join(missing)}: "
                             f"each split needs at least one")
        return splits
    if len(item_ids) < 3:
        raise ValueError(
            f"need at least 3 sections to make train/validation/test splits, got {len(item_ids)}"
        )
    order = sorted(item_ids)
    np.random.default_rng(seed).shuffle(order)
    n_test = min(max(1, round(test_fraction * len(order))), len(order) - 2)
    n_val = min(max(1, round(validation_fraction * (len(order) - n_test))), len(order) - n_test - 1)
    splits = ["test"] * n_test + ["validation"] * n_val + ["train"] * (len(order) - n_test - n_val)
    return dict(zip(order, splits))


def split_of(index: int, count: int, test_fraction: float = 0.2,
             validation_fraction: float = 0.1) -> str:
    """The split of slice `index` of a specimen of `count` slices (0 = top).

    The lowest ceil(test_fraction * count) slices are test, the next
    max(1, round(validation_fraction * count)) above them validation.
    """
    n_test = max(1, math.ceil(test_fraction * count))
    n_val = max(1, round(validation_fraction * count))
    if count < 3:
        raise ValueError(f"a specimen needs at least 3 low-res slices for 3 splits, got {count}")
    if index >= count - n_test:
        return "test"
    return "validation" if index >= count - n_test - n_val else "train"
