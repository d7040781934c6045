"""One rock stack in memory: what the rock_ct manual reader returns and `coretf.data.rock_ct`
loads back from a prepared builder (`load_stacks`)."""

from __future__ import annotations

import dataclasses

import numpy as np

CLASS_NAMES = ("solid", "pore")  # label 0 and 1; coretf.labels.IGNORE (255) counts nowhere


@dataclasses.dataclass(frozen=True)
class Stack:
    """One stack, slices in stack order.

    Attributes:
        stack_id: the stack's name (its TFDS split name).
        rock_type: any name, e.g. "carbonate"; models are trained per rock type.
        image: (D, H, W) uint8 CT intensities.
        pores: (D, H, W) uint8, 1 = pore, 0 = solid, 255 = ignored (outside the rock, not
            labelled).
        slice_names: the D slices' file stems, where the stack was read from files.
        split: "train" when the lab's stacks.csv marks it as a training stack, else "".
    """

    stack_id: str
    rock_type: str
    image: np.ndarray
    pores: np.ndarray
    slice_names: tuple[str, ...] = ()
    split: str = ""
