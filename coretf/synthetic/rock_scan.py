"""Real pore geometry scanned as grey micro-CT slices: "real-geometry scans" with exact truth.

There are no real grey rock CT scans with pore masks in `shared/realdata`, only binary
segmentations of real sandstones (the PoreSpy fixtures). `scan_pores` renders such a segmentation
as a CT slice with a scanner that is deliberately *not* the training generator's
(`coretf.synthetic.rocks`, `rocks_varied`): a voxel-size change (the segmentation averaged onto
coarser pixels, or interpolated onto finer ones: partial volume at the new pixels' edges), then
`coretf.synthetic.ice_scan.scan_slice` for the grey levels, beam-hardening cupping, point-spread
blur, ring artefacts about the rotation axis, Gaussian noise and salt-and-pepper pixels. The
truth is the segmentation at the new voxel size: pore where more than half of a pixel is pore.
So the geometry is real, the grey levels are simulated; figures measured on these scans say how a
method copes with real pore shapes under a known scanner, not how it copes with a real scanner.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from coretf.synthetic import ice_scan


@dataclasses.dataclass(frozen=True)
class RockScanner:
    """A scanner for real pore geometry (grey levels on a [0, 1] scale).

    Attributes:
        factor: output pixels per segmentation voxel (0.5 = voxels twice as large, 1.5 = finer).
        pore, solid: grey levels of the two phases.
        cupping: the centre darker than the rim by this fraction (beam hardening).
        blur_px: Gaussian point-spread SD, output px.
        noise_sd: Gaussian noise SD.
        rings: SD of the ring artefacts' offsets (about the slice's centre).
        salt_pepper: share of pixels set to 0 or 1.
    """

    factor: float = 1.0
    pore: float = 0.25
    solid: float = 0.62
    cupping: float = 0.12
    blur_px: float = 1.0
    noise_sd: float = 0.06
    rings: float = 0.03
    salt_pepper: float = 0.001

    def settings(self) -> ice_scan.ScanSettings:
        """The `ice_scan` settings: solid plays the ice, pore the air; no tube."""
        return ice_scan.ScanSettings(air=self.pore, ice=self.solid, cupping=self.cupping,
                                     blur_px=self.blur_px, noise_sd=self.noise_sd,
                                     salt_pepper=self.salt_pepper, rings=self.rings)


def resample_pores(pores: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """A binary pore slice at `factor` times its pixel count per side.

    Returns:
        (solid fraction per output pixel, float32 in [0, 1]; truth, bool, pore where more than half
        the pixel is pore). Shrinking averages the voxels each output pixel covers; enlarging
        interpolates linearly between voxel centres.
    """
    height, width = pores.shape
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    solid = (~pores.astype(bool)).astype(np.float32)
    if factor == 1.0:
        fraction = solid
    else:
        fraction = cv2.resize(solid, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    return fraction, fraction < 0.5


def scan_pores(pores: np.ndarray, scanner: RockScanner = RockScanner(), seed: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """A grey CT slice of a real pore segmentation, and its truth at the slice's voxel size.

    Args:
        pores: (H, W) bool (or 0/1), True = pore.
        scanner: the scanner (voxel-size change, levels, faults).
        seed: noise seed.

    Returns:
        (image, truth): (h, w) uint8 CT slice, brighter = solid, and (h, w) uint8, 1 = pore.
    """
    fraction, truth = resample_pores(pores, scanner.factor)
    height, width = fraction.shape
    centre = (height / 2, width / 2)
    # A square crop from inside the specimen: the reconstructed circle encloses it.
    radius = float(np.hypot(height, width) / 2 + 1)
    image = ice_scan.scan_slice(fraction, centre, radius, scanner.settings(), seed)
    return image, truth.astype(np.uint8)
