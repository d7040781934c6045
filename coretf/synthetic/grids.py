"""Smooth noise on centimetre grids, and its bilinear sampling at pixel centres.

The textures of a synthetic photograph (grain, mottling, the displacement of soupy flow, the tray's
plastic) are drawn once per section on grids of a fixed cell size in cm and sampled tile by tile,
so they look the same at 20, 40 or 197 px/cm and join across tile seams.
"""

from __future__ import annotations

import cv2
import numpy as np


def noise_grid(rng: np.random.Generator, cell: float, ny_cm: float, nx_cm: float, sigmas
               ) -> np.ndarray:
    """Noise on cells of `cell` cm covering ny_cm x nx_cm: (ny, nx) float32, unit std, a sum
    of Gaussian-smoothed octaves (sigmas in cells)."""
    shape = (int(ny_cm / cell) + 3, int(nx_cm / cell) + 3)
    out = np.zeros(shape, np.float32)
    for sig in sigmas:
        g = cv2.GaussianBlur(rng.standard_normal(shape, dtype=np.float32), (0, 0), sig,
                             borderType=cv2.BORDER_REFLECT)
        out += g / (g.std() + 1e-9)
    out *= 1.0 / len(sigmas) ** 0.5  # in place: a NumPy float64 scalar would upcast
    return out


def sample(grid: np.ndarray, cell: float, x_cm: np.ndarray, y_cm: np.ndarray,
           sx: float = 1.0) -> np.ndarray:
    """Bilinear samples of a cell grid at pixel centres (cm); sx > 1 stretches it along x."""
    mx = np.broadcast_to((x_cm / (cell * sx) - 0.5).astype(np.float32), (len(y_cm), len(x_cm)))
    my = np.broadcast_to((y_cm / cell - 0.5).astype(np.float32)[:, None], mx.shape)
    return cv2.remap(grid, np.ascontiguousarray(mx), np.ascontiguousarray(my), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)
