"""Synthetic ice-core micro-CT specimens with exact ice/air truth (Bagherzadeh et al. 2023, §II).

Three specimen kinds like the paper's Table I: sintered snow, compacted firn and bubbly ice, with
ice volume fractions of about 0.37, 0.79 and 0.96 (the densities 0.34 / 0.72 / 0.88 g/cm3 that
Table I's weights and sizes imply, over 0.917 g/cm3). Each is made as a 3-D binary microstructure
at the high resolution (30 um voxels) and then "scanned" twice from the same volume, so that the
two resolutions align voxel for voxel as in the paper (both reconstructed from one set of
projections):

- high resolution: the binary slice, inside a carbon-fibre tube (a bright ring) in a circular
  field of view, blurred by the point-spread function, with Gaussian noise, salt-and-pepper
  pixels and a mild beam-hardening "cupping" (darker centre);
- low resolution (60 um): the 2x2x2 block means of the same volume (partial-volume voxels), scanned
  the same way at half the size.

Air reads brighter in denser specimens (scattering grows with ice density; the paper reports air
~15 % brighter in bubbly ice than in snow), so no single grey level separates ice from air across
specimens. The specimens are small (11.5 mm across by default, 2 mm for the tiny test config)
but their grains, pores and bubbles have realistic sizes in voxels.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from scipy import ndimage

ICE_DENSITY_G_CM3 = 0.917

# kind -> (ice volume fraction, structure scale in high-res voxels). Snow and firn are thresholded
# Gaussian random fields (grain / pore size ~ the smoothing scale); bubbly ice is a matrix of ice
# with spherical bubbles of that radius range.
KINDS = {
    "sintered_snow": (0.37, 3.0),
    "compacted_firn": (0.79, 4.0),
    "bubbly_ice": (0.96, (1.5, 4.5)),
}
SPECIMEN_NAMES = ("snow", "firn", "ice")  # specimen ids of the synthetic config, one per kind

ICE_LEVEL = 0.70  # grey level of ice, on a [0, 1] scale
AIR_LEVEL_SNOW = 0.22  # grey level of air in snow; rises 15 % from snow to bubbly ice
RING_LEVEL = 0.55  # carbon-fibre tube
BACKGROUND_LEVEL = 0.04  # outside the tube


@dataclasses.dataclass(frozen=True)
class Scan:
    """How one resolution is scanned: PSF blur (px), noise SD and salt-and-pepper share."""

    blur_px: float
    noise_sd: float
    salt_pepper: float
    cupping: float = 0.06  # centre darker than the rim by this fraction (beam hardening)


HIGH_SCAN = Scan(blur_px=0.8, noise_sd=0.07, salt_pepper=0.002)
LOW_SCAN = Scan(blur_px=0.7, noise_sd=0.06, salt_pepper=0.002)


@dataclasses.dataclass
class Specimen:
    """One synthetic specimen: its exact 3-D truth and what the lab would know about it.

    Attributes:
        specimen_id: name ("snow", "firn", "ice").
        kind: a key of KINDS.
        ice: (Z, N, N) bool, the high-resolution truth (True = ice), z = 0 at the specimen top.
        centre: (row, col) of the specimen axis in high-res px.
        radius: specimen radius in high-res px (ice exists only inside it).
        tube_radius: inner radius of the carbon-fibre tube in high-res px.
        air_level: grey level of air in this specimen.
        high_voxel_um, low_voxel_um: voxel sizes.
        seed: the specimen's noise seed.
    """

    specimen_id: str
    kind: str
    ice: np.ndarray
    centre: tuple[float, float]
    radius: float
    tube_radius: float
    air_level: float
    high_voxel_um: float
    low_voxel_um: float
    seed: int

    @property
    def num_low_slices(self) -> int:
        return self.ice.shape[0] // 2

    @property
    def height_mm(self) -> float:
        return self.ice.shape[0] * self.high_voxel_um / 1000.0

    @property
    def diameter_mm(self) -> float:
        return 2.0 * self.radius * self.high_voxel_um / 1000.0

    @property
    def weight_g(self) -> float:
        """The specimen's exact weight: ice voxels x 0.917 g/cm3 x voxel volume."""
        voxel_cm3 = (self.high_voxel_um * 1e-4) ** 3
        return float(self.ice.sum()) * ICE_DENSITY_G_CM3 * voxel_cm3

    def high_slice(self, z: int) -> np.ndarray:
        """The scanned high-res slice z: (N, N) uint8."""
        return _scan(self.ice[z].astype(np.float32), self, 1.0, HIGH_SCAN, (self.seed, 0, z))

    def low_fraction(self, k: int) -> np.ndarray:
        """Exact ice fraction of low-res slice k: the 2x2x2 block means, (N/2, N/2) float32."""
        block = self.ice[2 * k : 2 * k + 2].astype(np.float32).mean(axis=0)
        n = block.shape[0] // 2
        return block[: 2 * n, : 2 * n].reshape(n, 2, n, 2).mean(axis=(1, 3))

    def low_slice(self, k: int) -> np.ndarray:
        """The scanned low-res slice k: (N/2, N/2) uint8, aligned with high slices 2k and 2k+1."""
        return _scan(self.low_fraction(k), self, 0.5, LOW_SCAN, (self.seed, 1, k))

    def low_truth(self, k: int) -> np.ndarray:
        """Exact low-res label of slice k: (N/2, N/2) uint8, 1 where at least half is ice."""
        return (self.low_fraction(k) >= 0.5).astype(np.uint8)

    def low_fov(self, k: int = 0) -> np.ndarray:
        """Exact low-res field of view (inside the tube): (N/2, N/2) uint8."""
        n = self.ice.shape[1] // 2
        return (_radius_map(n, self.centre, 0.5) < 0.5 * self.tube_radius).astype(np.uint8)


def make_specimen(index: int, *, size: int = 384, slices: int = 96, seed: int = 0,
                  high_voxel_um: float = 30.0, low_voxel_um: float = 60.0) -> Specimen:
    """Generates specimen `index` (0 snow, 1 firn, 2 bubbly ice, then repeating).

    Args:
        index: specimen number; its kind is `index % 3`.
        size: high-res slice side N in px (even).
        slices: number of high-res slices Z (even: two per low-res slice).
        seed: base seed; the specimen's structure and noise depend on (seed, index) only.
        high_voxel_um, low_voxel_um: voxel sizes recorded in the metadata.

    Returns:
        A Specimen whose `ice` volume is (slices, size, size) bool.
    """
    if size % 2 or slices % 2 or size < 32 or slices < 2:
        raise ValueError(f"size ({size}) and slices ({slices}) must be even, size >= 32")
    kind = list(KINDS)[index % 3]
    fraction, scale = KINDS[kind]
    rng = np.random.default_rng([seed, index])
    centre = tuple(size / 2 + rng.uniform(-0.02, 0.02, 2) * size)
    tube_radius = 0.44 * size
    radius = tube_radius - max(1.0, 0.01 * size)  # a thin air gap between specimen and tube
    if kind == "bubbly_ice":
        ice = _bubbly(rng, (slices, size, size), 1.0 - fraction, scale)
    else:
        ice = _random_field(rng, (slices, size, size), fraction, scale)
    ice &= (_radius_map(size, centre, 1.0) < radius)[None]
    air = AIR_LEVEL_SNOW * (1.0 + 0.15 * (fraction - 0.37) / (0.96 - 0.37))
    specimen_id = SPECIMEN_NAMES[index % 3] + ("" if index < 3 else f"{index // 3}")
    return Specimen(specimen_id, kind, ice, centre, radius, tube_radius, air, high_voxel_um,
                    low_voxel_um, seed=int(rng.integers(2**31)))


def _random_field(rng, shape, fraction: float, sigma: float) -> np.ndarray:
    """Thresholded smoothed noise with ice share `fraction` (threshold from a 1 M-voxel sample)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma,
                                    mode="wrap")
    sample = rng.choice(field.ravel(), size=min(field.size, 1_000_000), replace=False)
    return field > np.quantile(sample, 1.0 - fraction)


def _bubbly(rng, shape, air_fraction: float, radii: tuple[float, float]) -> np.ndarray:
    """Ice with spherical bubbles (radii uniform in `radii`, px) until `air_fraction` is air."""
    ice = np.ones(shape, bool)
    mean_volume = 4.0 / 3.0 * np.pi * np.mean(np.array(radii) ** 3)
    count = int(air_fraction * ice.size / mean_volume * 1.4)  # spheres cut by the faces and overlaps
    zs, ys, xs = (rng.uniform(0, n, count) for n in shape)
    for z, y, x, r in zip(zs, ys, xs, rng.uniform(*radii, count)):
        z0, y0, x0 = (max(0, int(c - r)) for c in (z, y, x))
        z1, y1, x1 = (min(n, int(c + r) + 2) for c, n in zip((z, y, x), shape))
        gz, gy, gx = np.ogrid[z0:z1, y0:y1, x0:x1]
        ice[z0:z1, y0:y1, x0:x1] &= (gz + 0.5 - z) ** 2 + (gy + 0.5 - y) ** 2 + (gx + 0.5 - x) ** 2 > r * r
    return ice


def _radius_map(n: int, centre: tuple[float, float], scale: float) -> np.ndarray:
    """Distance of each pixel centre of an (n, n) grid from `centre` (high-res px) times `scale`."""
    rows, cols = np.ogrid[:n, :n]
    cy, cx = centre[0] * scale, centre[1] * scale
    return np.hypot(rows + 0.5 - cy, cols + 0.5 - cx).astype(np.float32)


def _scan(ice_fraction: np.ndarray, specimen: Specimen, scale: float, scan: Scan,
          key: tuple[int, int, int]) -> np.ndarray:
    """Grey-level CT slice of an ice-fraction map at `scale` x the high-res geometry: uint8."""
    rng = np.random.default_rng(list(key))
    n = ice_fraction.shape[0]
    r = _radius_map(n, specimen.centre, scale)
    inner, outer = specimen.tube_radius * scale, (specimen.tube_radius + max(3.0, 0.03 * n / scale)) * scale
    image = specimen.air_level + (ICE_LEVEL - specimen.air_level) * ice_fraction
    image = np.where(r < inner, image, np.where(r < outer, RING_LEVEL, BACKGROUND_LEVEL))
    image *= 1.0 - scan.cupping * np.clip(1.0 - r / outer, 0, 1) ** 2
    image = cv2.GaussianBlur(image.astype(np.float32), (0, 0), scan.blur_px)
    image += rng.normal(0.0, scan.noise_sd, image.shape).astype(np.float32)
    flips = rng.random(image.shape) < scan.salt_pepper
    image[flips] = rng.integers(0, 2, int(flips.sum())).astype(np.float32)
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
