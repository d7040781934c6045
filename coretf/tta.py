"""Test-time augmentation: the model sees each tile in several views that keep the physics, and
the predictions, mapped back, are averaged in probability space (`coretf.predict --tta`).

Which views keep the physics depends on the image:
- core sections (`sediment_cores`): the image flipped across the core and not, never along depth:
  depth runs one way (the top is the top; layering, drilling disturbance and the colour record
  are ordered by depth), while the core's two halves are alike;
- CT slices (`ice_ct`, `rock_ct`) and grain photographs: the eight dihedral views (rotations by
  multiples of 90 degrees, each also mirrored), since a slice or a plate has no up.

Batches are (B, H, W, C) in the model's frame, where depth runs along the width (x) for cores,
so "across the core" is the height axis. NumPy; the predict function is any (B, H, W, C) ->
(B, H, W, classes) probability function (e.g. `coretf.inference.Predictor`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

View = tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]  # (forward, inverse)
ACROSS_CORE, DIHEDRAL = "across_core", "dihedral"
JOB_VIEWS = {"sediment_cores": ACROSS_CORE, "ice_ct": DIHEDRAL, "rock_ct": DIHEDRAL, "sediment_grains": DIHEDRAL}


def _flip_rows(x):
    return x[:, ::-1]


def _rotation(k: int, mirrored: bool) -> View:
    def forward(x):
        x = np.rot90(x, k, axes=(1, 2))
        return x[:, :, ::-1] if mirrored else x

    def inverse(y):
        y = y[:, :, ::-1] if mirrored else y
        return np.rot90(y, -k, axes=(1, 2))

    return forward, inverse


def views(kind: str) -> list[View]:
    """The (forward, inverse) pairs of `kind`: ACROSS_CORE (identity and the flip of the rows)
    or DIHEDRAL (the eight rotations and mirror images); the identity first."""
    identity = (lambda x: x, lambda y: y)
    if kind == ACROSS_CORE:
        return [identity, (_flip_rows, _flip_rows)]
    if kind == DIHEDRAL:
        return [_rotation(k, mirrored) for mirrored in (False, True) for k in range(4)]
    raise ValueError(f"test-time augmentation: unknown views {kind!r} (use {ACROSS_CORE} or {DIHEDRAL})")


def views_for_job(job: str | None) -> str:
    """The views that keep the physics of a job's images (see the module docstring).

    Raises:
        ValueError: a job without a rule (an export of another kind of model).
    """
    if job not in JOB_VIEWS:
        raise ValueError(f"--tta: no test-time augmentation is defined for a {job!r} model "
                         f"(jobs: {', '.join(JOB_VIEWS)})")
    return JOB_VIEWS[job]


def augmented(predict: Callable[[np.ndarray], np.ndarray], kind: str) -> Callable[[np.ndarray], np.ndarray]:
    """`predict` averaged over the views of `kind`, each prediction mapped back to the input's
    frame first: the mean probability of the views."""
    chosen = views(kind)

    def predict_views(batch: np.ndarray) -> np.ndarray:
        total = None
        for forward, inverse in chosen:
            out = inverse(np.asarray(predict(np.ascontiguousarray(forward(batch)))))
            total = out.astype(np.float32) if total is None else total + out
        return total / len(chosen)

    return predict_views
