"""A grey micro-CT slice "scanned" from a binary ice/air mask, with the mask as exact truth.

Real segmented slices (the SnowEx snow slice in `shared/realdata`, or a slice of a real pore
volume with its solid read as ice) carry real geometry but no grey levels, so thresholding them
again proves nothing. `scan_slice` gives such a mask the grey levels of a reconstructed slice, as
`coretf.synthetic.ice` does for its generated specimens: ice brighter than air, an optional
carbon-fibre tube (a bright wall with a thin air gap inside it, air outside it), a beam-hardening
"cupping" (the centre darker than the rim), the scanner's point-spread blur, Gaussian noise and
salt-and-pepper pixels, ring artefacts (concentric rings about the rotation axis, from detector
elements that respond differently), and exactly 0 outside the reconstructed circle. The mask may
also be a fraction of ice per pixel (a finer mask averaged onto coarser pixels: partial volume),
which `coretf.synthetic.rock_scan` uses to scan real pore geometry at another voxel size.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np


@dataclasses.dataclass(frozen=True)
class ScanSettings:
    """Grey levels on a [0, 1] scale and the scanner's faults.

    Attributes:
        air, ice: grey levels of the two phases.
        ring: grey level of the carbon-fibre wall.
        ring_width: wall thickness in px; 0 = no tube (the data end at the disc's edge).
        ring_gap: air between the specimen's disc and the wall, px.
        margin: air beyond the wall (or beyond the disc without a tube) inside the reconstructed
            circle, px; outside that circle the slice is exactly 0.
        cupping: the centre is darker than the rim by this fraction (beam hardening).
        blur_px: Gaussian point-spread SD, px.
        noise_sd: Gaussian noise SD.
        salt_pepper: share of pixels set to 0 or 1.
        bits: 8 or 16.
        rings: SD of the ring artefacts' grey offset; a third of the radii (1 px rings about the
            disc's centre) carry one. 0 = none.
    """

    air: float = 0.25
    ice: float = 0.65
    ring: float = 0.85
    ring_width: float = 0.0
    ring_gap: float = 2.0
    margin: float = 0.0
    cupping: float = 0.10
    blur_px: float = 1.0
    noise_sd: float = 0.08
    salt_pepper: float = 0.002
    bits: int = 8
    rings: float = 0.0


RING_SHARE = 1 / 3  # share of the radii with a ring artefact


def scan_slice(ice: np.ndarray, centre: tuple[float, float], radius: float,
               settings: ScanSettings = ScanSettings(), seed: int = 0) -> np.ndarray:
    """The grey slice of `ice` inside the disc (`centre`, `radius`).

    Args:
        ice: (H, W) bool, True = ice, or float in [0, 1], the ice fraction of each pixel; only
            its pixels inside the disc count (outside is air or tube). Pad it first if the tube
            and margin must fit in the image.
        centre: (row, col) of the specimen's disc, px (pixel (i, j) centred at (i + 0.5, j + 0.5)).
        radius: the disc's radius, px.
        settings: grey levels and faults.
        seed: noise seed.

    Returns:
        (H, W) uint8 or uint16.
    """
    rows, cols = np.ogrid[: ice.shape[0], : ice.shape[1]]
    r = np.hypot(rows + 0.5 - centre[0], cols + 0.5 - centre[1]).astype(np.float32)
    s = settings
    wall_in = radius + s.ring_gap
    wall_out = wall_in + s.ring_width
    reconstructed = (wall_out if s.ring_width > 0 else radius) + s.margin
    if ice.dtype == bool:
        image = np.where(ice & (r < radius), s.ice, s.air).astype(np.float32)
    else:
        fraction = np.clip(np.asarray(ice, np.float32), 0.0, 1.0) * (r < radius)
        image = (s.air + (s.ice - s.air) * fraction).astype(np.float32)
    if s.ring_width > 0:
        image[(r >= wall_in) & (r < wall_out)] = s.ring
    image *= 1.0 - s.cupping * np.clip(1.0 - r / reconstructed, 0.0, 1.0) ** 2
    image = cv2.GaussianBlur(image, (0, 0), s.blur_px)
    if s.rings > 0:  # a stream of their own: slices without rings keep their noise
        ring_rng = np.random.default_rng([seed, 1])
        count = int(np.ceil(r.max())) + 1
        offsets = ring_rng.normal(0.0, s.rings, count) * (ring_rng.random(count) < RING_SHARE)
        image += offsets[r.astype(np.int64)].astype(np.float32)
    rng = np.random.default_rng(seed)
    image += rng.normal(0.0, s.noise_sd, image.shape).astype(np.float32)
    flips = rng.random(image.shape) < s.salt_pepper
    image[flips] = rng.integers(0, 2, int(flips.sum())).astype(np.float32)
    image[r >= reconstructed] = 0.0  # the reconstruction's outside: exactly 0, no noise
    top = 255 if s.bits == 8 else 65535
    return np.clip(np.rint(image * top), 0, top).astype(np.uint8 if s.bits == 8 else np.uint16)
