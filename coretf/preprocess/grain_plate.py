"""The plate's colour and light modelled across the frame, and particle pixels as departures from it.

A microscope photo is rarely evenly lit: a light gradient across the stage, vignetting towards
the corners, a white balance that tints the whole frame. A threshold on one colour feature (the
paper's HSV saturation) then moves with the light, and small or pale particles fall on the
plate's side where the plate is darker. Here the plate itself is the reference: its colour is
estimated at every pixel from the pixels known to be plate (a smooth surface fitted to them),
and a pixel's departure from it is the colour distance divided by the plate's brightness there,
|I - B| / |B|. That is unchanged by any light that scales plate and particle alike (gradient,
vignetting, exposure) and by a colour cast (B carries it). On the plate the departure is sensor
noise and plate texture; particles depart by a large share of the plate's brightness, so Otsu's
threshold on the log of the superpixels' mean departures splits the two without a set constant,
and a region counts only where it also passes Otsu's threshold on the means themselves
(hysteresis: plate texture reaches the first in specks, never the second). Used by
`coretf.preprocess.grain_extraction` (`plate_model`); NumPy, OpenCV, scikit-image, no Keras.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage
from skimage import filters

# Departures below 0.1 % of the plate's brightness are noise-free plate: the floor keeps log finite.
_FLOOR = 1e-3


def plate_colour(image: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """The plate's colour at every pixel, from the pixels marked as plate.

    A least-squares cubic surface in (x, y) per channel: the light of a microscope is smooth
    across the frame (a gradient is the linear term, vignetting the quadratic one, a gradient
    times vignetting the cubic), and a global fit reaches under the particles and into the corners,
    where a local average would be pulled towards the brighter middle.

    Args:
        image: (h, w, 3) float32 RGB in [0, 1].
        plate: (h, w) bool, pixels known to be plate (not empty).

    Returns:
        (h, w, 3) float32 plate colour.
    """
    height, width = plate.shape
    # The surface is smooth: fitted and evaluated on a copy 1/4 the size (plate = all 4x4 plate).
    size = (max(4, width // 4), max(4, height // 4))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    known = cv2.resize(plate.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.999
    if known.sum() < 10:
        small, known, size = image, plate, (width, height)
    yy, xx = np.mgrid[0:size[1], 0:size[0]].astype(np.float32)
    v, u = (2 * yy + 1 - size[1]) / size[1], (2 * xx + 1 - size[0]) / size[0]
    terms = np.stack([u**i * v**j for i in range(4) for j in range(4 - i)], axis=-1)  # 10 terms
    coefficients = np.linalg.lstsq(terms[known], small[known], rcond=None)[0]
    surface = (terms @ coefficients).astype(np.float32)
    return np.clip(cv2.resize(surface, (width, height), interpolation=cv2.INTER_LINEAR), 1e-3, None)


def departure(image: np.ndarray, plate: np.ndarray, segments: np.ndarray,
              iterations: int = 2) -> tuple[np.ndarray, float, float]:
    """How far each pixel departs from the plate, and the threshold between plate and particle.

    The threshold is Otsu's on the log of the superpixels' mean departures (means, as in the
    paper's classification: a pixel's departure on the plate is noise, whose log has a long low
    tail that Otsu would split; a superpixel's mean is not). The plate mask is refined
    `iterations` times: the plate colour from the current plate pixels, then the plate as the
    pixels below the threshold, eroded by 2 px so that the particles' blurred rims do not tint
    the plate model.

    Args:
        image: (h, w, 3) float32 RGB in [0, 1] (lightly smoothed by the caller).
        plate: (h, w) bool, a first guess of the plate pixels (the superpixel classification;
            not empty).
        segments: (h, w) int superpixel labels (SLIC).

    Returns:
        (departure, low, high): (h, w) float32 |I - B| / |B|; the threshold on it (`low`, Otsu's
        on the log means) and Otsu's on the means themselves (`high`, between the two classes'
        means, >= low): the plate's texture and its pixel noise reach past `low` in specks, a
        particle reaches past `high` somewhere (`strong_regions`).
    """
    counts = np.bincount(segments.ravel()).astype(np.float64)
    present = counts > 0
    for _ in range(iterations):
        background = plate_colour(image, plate)
        distance = np.linalg.norm(image - background, axis=-1) / (np.linalg.norm(background, axis=-1) + 1e-3)
        means = np.bincount(segments.ravel(), distance.ravel())[present] / counts[present]
        log_means = np.log(np.maximum(means, _FLOOR))
        threshold = float(np.exp(filters.threshold_otsu(log_means))) if np.ptp(log_means) > 0 else float(means[0])
        refined = ndimage.binary_erosion(distance < threshold, iterations=2)
        if refined.sum() < 16:  # (a frame of particles with specks of plate) keep the first guess
            break
        plate = refined
    high = float(filters.threshold_otsu(means)) if np.ptp(means) > 0 else threshold
    return distance.astype(np.float32), threshold, max(high, threshold)


def strong_regions(mask: np.ndarray, distance: np.ndarray, high: float) -> np.ndarray:
    """The connected regions of a mask that depart from the plate by more than `high` somewhere
    (hysteresis: the mask is the `low` side)."""
    regions, count = ndimage.label(mask)
    if count == 0:
        return mask
    peaks = ndimage.maximum(distance, regions, np.arange(1, count + 1))
    return np.concatenate([[False], np.asarray(peaks) > high])[regions]
