"""The real pore geometries of `shared/realdata/porespy_fixtures` and how they are scanned as CT
slices (`coretf.synthetic.rock_scan`), with the Otsu baselines: shared by `rock_transfer.py` and
`readme_figures.py` (no flags here, so both can import it).
"""

from __future__ import annotations

import dataclasses
import pathlib
import zipfile

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from coretf.synthetic import rock_scan

PORESPY = "porespy_fixtures"


@dataclasses.dataclass(frozen=True)
class Scan:
    """One real volume scanned: which file, which slices (axis 0), how."""

    volume: str
    slices: tuple[int, ...]
    scanner: rock_scan.RockScanner


SCANS = {  # three scanners, none the training generators'; 8 slices >= 25 voxels apart
    "Bentheimer": Scan("bentheimer.npz", tuple(range(10, 250, 30)) + tuple(range(290, 490, 25)),
                       rock_scan.RockScanner(factor=0.5, pore=0.22, solid=0.60, blur_px=0.9,
                                             noise_sd=0.07, rings=0.03, cupping=0.15)),
    "Berea": Scan("test_berea.zip", tuple(range(12, 200, 25)),
                  rock_scan.RockScanner(factor=1.0, pore=0.32, solid=0.58, blur_px=1.4,
                                        noise_sd=0.06, rings=0.04, cupping=0.08)),
    "Leopard": Scan("image_Leopard_slice100.npy", tuple(range(6, 100, 12)),
                    rock_scan.RockScanner(factor=1.5, pore=0.20, solid=0.68, blur_px=2.0,
                                          noise_sd=0.09, rings=0.025, cupping=0.20)),
}


def read_fixture(path: pathlib.Path) -> np.ndarray:
    """A PoreSpy fixture as a (D, H, W) bool volume, True = pore (polarity per PROVENANCE.md:
    bentheimer.npz True = pore; the Leopard .npy 1 = pore; the Berea .raw 0 = pore, 255 = solid)."""
    if path.suffix == ".npz":
        return np.load(path)["arr_0"].astype(bool)
    if path.suffix == ".npy":
        return np.load(path) == 1
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            raw = np.frombuffer(archive.read(archive.namelist()[0]), np.uint8)
        side = round(len(raw) ** (1 / 3))
        if side**3 != len(raw):
            raise ValueError(f"{path}: {len(raw)} bytes is not a cube of uint8 voxels")
        return raw.reshape(side, side, side) == 0
    raise ValueError(f"{path}: not a PoreSpy fixture (.npz, .npy or .zip)")


def otsu(image: np.ndarray, median: bool = False) -> np.ndarray:
    """Pore = at or below Otsu's threshold of the slice (optionally after a 3x3 median)."""
    if median:
        image = ndimage.median_filter(image, size=3)
    return image <= threshold_otsu(image)
