"""Synthetic micro-CT stacks of three rock types with exact pore labels (Lavrukhin et al., §4.4).

The paper's experiment needs rock types whose textures differ clearly enough that a network
trained on one type can fail on another. Each stack is a 3-D volume (slices along axis 0, so
neighbouring slices are correlated as in a real scan) whose voxels are labelled pore (1) or solid
(0) exactly, then rendered as a CT image:

- carbonate: vuggy pores (large smooth blobs and mouldic ellipsoids) in a bright calcite matrix
  with grey microporous patches that are solid by label (pores below the resolution);
- soil: aggregates of mineral grains and dark-grey organic matter separated by irregular
  inter-aggregate pores, the whole scanned with low contrast (pores are mid-grey);
- sandstone: randomly packed spherical grains of quartz, feldspar and a few heavy minerals; the
  intergranular space is the pore.

CT rendering: per-phase attenuation levels (which differ between types, as between scanners and
energies), partial-volume blur (a Gaussian point-spread function), beam-hardening cupping
(brighter towards the rim) and Gaussian noise. Levels, porosity and grain size vary from stack to
stack within a type. Everything is seeded: the same (rock type, index, seed) gives the same stack.
"""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
from scipy import ndimage

ROCK_TYPES = ("carbonate", "soil", "sandstone")
STACKS_PER_TYPE = {"carbonate": 4, "soil": 4, "sandstone": 3}  # the paper's 11 stacks


@dataclasses.dataclass(frozen=True)
class RockStack:
    """One synthetic stack.

    Attributes:
        stack_id: e.g. "carbonate_1".
        rock_type: one of ROCK_TYPES.
        image: (D, H, W) uint8 CT intensities, slice index first.
        pores: (D, H, W) uint8, 1 = pore, 0 = solid (exact, voxel-wise).
    """

    stack_id: str
    rock_type: str
    image: np.ndarray
    pores: np.ndarray

    @property
    def porosity(self) -> float:
        return float(self.pores.mean())


def stack_ids() -> list[str]:
    """The 11 stack names in a fixed order: carbonate_1..4, soil_1..4, sandstone_1..3."""
    return [f"{rock}_{i + 1}" for rock in ROCK_TYPES for i in range(STACKS_PER_TYPE[rock])]


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise scaled to zero mean, unit SD (a Gaussian random field)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-12)


def _quantile_mask(field: np.ndarray, fraction: float) -> np.ndarray:
    """The `fraction` of voxels where `field` is highest."""
    return field > np.quantile(field, 1.0 - fraction)


def _ellipsoids(rng: np.random.Generator, shape, count: int, radius: tuple[float, float]) -> np.ndarray:
    """Union of `count` randomly placed, randomly stretched axis-aligned ellipsoids."""
    grid = np.indices(shape, dtype=np.float32)
    out = np.zeros(shape, bool)
    for _ in range(count):
        centre = rng.uniform(0, shape)
        radii = rng.uniform(*radius) * rng.uniform(0.6, 1.4, size=3)
        out |= sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) < 1.0
    return out


def _carbonate(rng, shape):
    """Phases: 0 pore, 1 calcite, 2 microporous calcite (solid by label)."""
    vugs = _quantile_mask(_smooth_noise(rng, shape, 5.0), rng.uniform(0.07, 0.11))
    moulds = _ellipsoids(rng, shape, count=int(rng.integers(6, 12)), radius=(4.0, 9.0))
    micro = _quantile_mask(_smooth_noise(rng, shape, 9.0), 0.3)
    phase = np.where(micro, 2, 1)
    phase[vugs | moulds] = 0
    return phase, {0: 0.14, 1: 0.78, 2: 0.52}


def _soil(rng, shape):
    """Phases: 0 pore, 1 mineral aggregate, 2 organic matter."""
    aggregates = ~_quantile_mask(_smooth_noise(rng, shape, 3.0 + rng.uniform(0, 1.5)),
                                 rng.uniform(0.3, 0.4))
    cracks = np.abs(_smooth_noise(rng, shape, 6.0)) < 0.08  # thin planar voids between aggregates
    organic = _quantile_mask(_smooth_noise(rng, shape, 2.0), 0.12) & aggregates
    phase = np.where(organic, 2, 1)
    phase[~aggregates | cracks] = 0
    return phase, {0: 0.40, 1: 0.72, 2: 0.55}


def _sandstone(rng, shape):
    """Phases: 0 pore, 1 quartz, 2 feldspar, 3 heavy mineral; grains packed by random addition."""
    mean_radius = rng.uniform(5.0, 7.5)
    grid = np.indices(shape, dtype=np.float32)
    phase = np.zeros(shape, np.int8)
    centres, radii = [], []
    target = rng.uniform(0.62, 0.70)  # solid fraction
    solid, total = 0, phase.size
    for _ in range(20000):
        if solid >= target * total:
            break
        centre = rng.uniform(0, shape)
        radius = mean_radius * rng.uniform(0.7, 1.3)
        if centres:  # grains may overlap by up to half a radius (compaction), not interpenetrate
            gap = np.linalg.norm(np.asarray(centres) - centre, axis=1) - np.asarray(radii)
            if np.any(gap < 0.5 * radius):
                continue
        centres.append(centre)
        radii.append(radius)
        lo = np.maximum(np.floor(centre - radius).astype(int), 0)
        hi = np.minimum(np.ceil(centre + radius).astype(int) + 1, shape)
        window = tuple(slice(a, b) for a, b in zip(lo, hi))
        inside = (sum((g[window] - c) ** 2 for g, c in zip(grid, centre)) < radius**2) & (phase[window] == 0)
        solid += int(inside.sum())
        phase[window][inside] = rng.choice([1, 2, 3], p=[0.75, 0.2, 0.05])
    return phase, {0: 0.26, 1: 0.62, 2: 0.50, 3: 0.92}


GENERATORS = {"carbonate": _carbonate, "soil": _soil, "sandstone": _sandstone}
# Noise SD and point-spread sigma (px) per type: the soil scan is the noisiest and blurriest.
SCAN = {"carbonate": (0.045, 0.8), "soil": (0.07, 1.2), "sandstone": (0.05, 0.9)}


def render_ct(phase: np.ndarray, levels: dict[int, float], rng: np.random.Generator, *,
              noise: float, blur: float, level_jitter: float = 0.03) -> np.ndarray:
    """CT intensities of a phase volume.

    Args:
        phase: (D, H, W) integer phase labels.
        levels: phase -> mean attenuation in [0, 1].
        rng: random source (level jitter, texture, noise).
        noise: SD of the additive Gaussian noise, in [0, 1] intensity units.
        blur: sigma in px of the in-slice partial-volume blur.
        level_jitter: SD of the per-stack shift of each phase level.

    Returns:
        (D, H, W) uint8.
    """
    values = np.zeros(phase.shape, np.float32)
    for label, level in levels.items():
        values[phase == label] = level + rng.normal(0, level_jitter)
    solid = phase > 0
    values += 0.04 * _smooth_noise(rng, phase.shape, 1.0) * solid  # mineral texture
    values = ndimage.gaussian_filter(values, (0.5, blur, blur))
    depth, height, width = phase.shape
    y, x = np.mgrid[:height, :width]
    radius = np.hypot((y - height / 2) / height, (x - width / 2) / width) * 2
    values += 0.05 * radius**2  # beam-hardening cupping: brighter towards the edge
    values += rng.normal(0, noise, phase.shape).astype(np.float32)
    return np.clip(np.rint(values * 255), 0, 255).astype(np.uint8)


def make_stack(stack_id: str, *, slices: int = 30, size: int = 192, seed: int = 0) -> RockStack:
    """One synthetic stack, e.g. `make_stack("soil_2")`.

    Args:
        stack_id: "<rock type>_<index>" with a rock type from ROCK_TYPES.
        slices: number of slices D.
        size: slice side H = W, px.
        seed: global seed; each stack draws from its own stream.

    Returns:
        RockStack with (slices, size, size) image and pores.
    """
    rock_type = stack_id.rsplit("_", 1)[0]
    if rock_type not in GENERATORS:
        raise ValueError(f"stack {stack_id!r}: rock type must be one of {ROCK_TYPES}")
    rng = np.random.default_rng([seed, zlib.crc32(stack_id.encode())])
    phase, levels = GENERATORS[rock_type](rng, (slices, size, size))
    noise, blur = SCAN[rock_type]
    image = render_ct(phase, levels, rng, noise=noise * rng.uniform(0.8, 1.2), blur=blur)
    return RockStack(stack_id=stack_id, rock_type=rock_type, image=image,
                     pores=(phase == 0).astype(np.uint8))
