"""Domain-randomised synthetic rock stacks (the `synthetic_varied` config of rock_ct; issue 14, item 4).

`coretf.synthetic.rocks` draws each rock type from a narrow band: one grain size, one porosity
band and one scanner per type. A network trained on it learns those bands, and real scans lie
outside them (real sandstone grains span 30-50 px where the synthetic ones span 10-15; real
porosity is ~20 % where synthetic sandstone is ~35 %). Here every stack draws, on top of the same
three pore geometries, its own:

- feature size: the geometry is generated on a grid `scale` times coarser (or finer) and
  resampled, so grains and pores are `scale` times larger;
- pore fraction: the pore phase is grown or shrunk along its signed distance to the pore-solid
  boundary until it fills `porosity` of the stack (shapes kept, only their thickness changes);
- scanner: pore grey level, pore-solid contrast (the minerals keep their type's order), mineral
  texture amplitude and grain, partial-volume blur, Gaussian noise, cupping of either sign and a
  linear illumination gradient in a random direction.

The ranges are `RANGES`; `draw_settings` draws one stack's values from them. Ring artefacts and a
voxel-size change are deliberately *not* modelled: they are the faults of the real-geometry
scanner (`coretf.synthetic.rock_scan`) the transfer is measured on, so that the measurement is
not of a scanner the network has seen. Seeded like `rocks`: the same (stack, seed) gives the same
stack.
"""

from __future__ import annotations

import dataclasses
import math
import zlib

import numpy as np
from scipy import ndimage

from coretf.synthetic import rocks

# Parameter -> (low, high); `scale` is drawn log-uniformly, the rest uniformly.
RANGES = {
    "scale": (0.7, 3.5),           # feature size, times the base generator's
    "porosity": (0.08, 0.45),      # pore fraction of the stack
    "pore_level": (0.05, 0.45),    # grey level of pore, [0, 1]
    "contrast": (0.12, 0.55),      # brightest mineral minus pore
    "texture": (0.0, 0.08),        # SD of the mineral texture
    "texture_sigma": (0.5, 3.0),   # its grain, px
    "blur": (0.3, 2.0),            # point-spread SD in the slice, px
    "noise": (0.01, 0.12),         # SD of the Gaussian noise, at most contrast / MIN_CNR
    "cupping": (-0.05, 0.20),      # rim minus centre (beam hardening > 0, over-correction < 0)
    "gradient": (0.0, 0.10),       # illumination change across the slice
}
# Contrast-to-noise ratio floor: below it a stack's pores cannot be told from its solid by eye
# either, and such stacks teach a network only to guess.
MIN_CNR = 2.5
STACKS_PER_TYPE = 8


@dataclasses.dataclass(frozen=True)
class VariedSettings:
    """One stack's draw from RANGES (see there), plus the gradient's direction in radians."""

    scale: float
    porosity: float
    pore_level: float
    contrast: float
    texture: float
    texture_sigma: float
    blur: float
    noise: float
    cupping: float
    gradient: float
    gradient_angle: float


def stack_ids(per_type: int = STACKS_PER_TYPE) -> list[str]:
    """`<rock type>_v01` ... per rock type, in `rocks.ROCK_TYPES` order."""
    return [f"{rock}_v{i + 1:02d}" for rock in rocks.ROCK_TYPES for i in range(per_type)]


def draw_settings(rng: np.random.Generator) -> VariedSettings:
    """One stack's scanner and geometry parameters, drawn from RANGES."""
    values = {}
    for name, (low, high) in RANGES.items():
        values[name] = (math.exp(rng.uniform(math.log(low), math.log(high))) if name == "scale"
                        else rng.uniform(low, high))
    values["noise"] = min(values["noise"], values["contrast"] / MIN_CNR)
    return VariedSettings(**values, gradient_angle=rng.uniform(0, 2 * math.pi))


def _rng(stack_id: str, seed: int) -> np.random.Generator:
    # "varied" in the stream's key: no stack shares a stream with the base generator's stacks
    return np.random.default_rng([seed, zlib.crc32(f"varied/{stack_id}".encode())])


def settings_of(stack_id: str, seed: int = 0) -> VariedSettings:
    """The settings `make_varied_stack(stack_id, seed=seed)` draws (its stream's first draws)."""
    return draw_settings(_rng(stack_id, seed))


def resized_geometry(rock_type: str, rng: np.random.Generator, shape: tuple[int, int, int],
                     scale: float) -> tuple[np.ndarray, dict[int, float]]:
    """The rock type's phase volume with features `scale` times the base generator's, and the
    type's grey levels per phase.

    Generated on a grid `scale` times coarser, then resampled to `shape`: each phase's indicator
    is interpolated linearly and every voxel takes the phase whose indicator is highest, so phase
    boundaries stay smooth (not blocky) when enlarged.
    """
    coarse = tuple(max(2, math.ceil(n / scale)) for n in shape)
    phase, levels = rocks.GENERATORS[rock_type](rng, coarse)
    factors = [n / c for n, c in zip(shape, coarse)]
    labels = sorted(levels)
    weights = np.stack([ndimage.zoom((phase == label).astype(np.float32), factors, order=1,
                                     grid_mode=True, mode="grid-mirror") for label in labels])
    return np.asarray(labels, np.int8)[weights.argmax(0)], levels


def _nearest_solid(phase: np.ndarray, pores: np.ndarray) -> np.ndarray:
    """`phase` with pores where `pores`, and every other voxel given its nearest solid phase."""
    holes = phase == 0
    if holes.all():
        raise ValueError("a generated stack has no solid voxel")
    nearest = ndimage.distance_transform_edt(holes, return_distances=False, return_indices=True)
    solid = phase[tuple(nearest)]
    return np.where(pores, 0, solid).astype(np.int8)


def set_porosity(phase: np.ndarray, porosity: float, rng: np.random.Generator) -> np.ndarray:
    """Grows or shrinks the pore phase (0) along its signed distance until it is `porosity` of
    the voxels; pore voxels that become solid take the nearest solid phase.

    Distances on a voxel grid take few distinct values, so a smooth sub-voxel jitter (SD 0.25
    voxel) breaks the ties that would otherwise leave the pore fraction short of `porosity`.
    """
    pores = phase == 0
    if not pores.any() or pores.all():
        raise ValueError("a generated stack has only one phase: no pore boundary to move")
    # > 0 inside the pores, < 0 in the solid
    depth = ndimage.distance_transform_edt(pores) - ndimage.distance_transform_edt(~pores) + 0.5 * pores
    depth += 0.25 * rocks._smooth_noise(rng, phase.shape, 1.0)
    threshold = np.quantile(depth, 1.0 - porosity)
    return _nearest_solid(phase, depth > threshold)


def render_varied(phase: np.ndarray, base_levels: dict[int, float], settings: VariedSettings,
                  rng: np.random.Generator) -> np.ndarray:
    """CT intensities (uint8) of a phase volume under one stack's scanner settings.

    The minerals keep the order and relative spacing of the type's `base_levels` (e.g.
    carbonate's microporous calcite between pore and calcite), stretched to the stack's contrast.
    """
    s = settings
    pore_base = base_levels[0]
    top = max(base_levels.values())
    values = np.full(phase.shape, s.pore_level, np.float32)
    for label, level in base_levels.items():
        if label:
            relative = (level - pore_base) / (top - pore_base) + rng.normal(0, 0.05)
            values[phase == label] = s.pore_level + s.contrast * float(np.clip(relative, 0.15, 1.1))
    solid = phase > 0
    values += s.texture * rocks._smooth_noise(rng, phase.shape, s.texture_sigma) * solid
    values = ndimage.gaussian_filter(values, (0.5 * s.blur, s.blur, s.blur))
    _, height, width = phase.shape
    y, x = np.mgrid[:height, :width].astype(np.float32)
    y, x = (y + 0.5) / height - 0.5, (x + 0.5) / width - 0.5
    values += s.cupping * 2.0 * (x**2 + y**2)  # 0 at the centre, `cupping` at the side midpoints
    values += s.gradient * (math.cos(s.gradient_angle) * x + math.sin(s.gradient_angle) * y)
    values += rng.normal(0, s.noise, phase.shape).astype(np.float32)
    return np.clip(np.rint(values * 255), 0, 255).astype(np.uint8)


def make_varied_stack(stack_id: str, *, slices: int = 16, size: int = 128,
                      seed: int = 0) -> rocks.RockStack:
    """One domain-randomised stack, e.g. `make_varied_stack("sandstone_v03")`.

    Args:
        stack_id: "<rock type>_v<nn>" with a rock type from `rocks.ROCK_TYPES`.
        slices, size: the stack's (slices, size, size) shape.
        seed: global seed; each stack draws from its own stream (`settings_of` gives its draw).

    Returns:
        RockStack with (slices, size, size) uint8 image and pores (1 = pore).
    """
    rock_type = stack_id.rsplit("_", 1)[0]
    if rock_type not in rocks.GENERATORS:
        raise ValueError(f"stack {stack_id!r}: rock type must be one of {rocks.ROCK_TYPES}")
    rng = _rng(stack_id, seed)
    settings = draw_settings(rng)
    phase, levels = resized_geometry(rock_type, rng, (slices, size, size), settings.scale)
    phase = set_porosity(phase, settings.porosity, rng)
    image = render_varied(phase, levels, settings, rng)
    return rocks.RockStack(stack_id=stack_id, rock_type=rock_type, image=image,
                           pores=(phase == 0).astype(np.uint8))
