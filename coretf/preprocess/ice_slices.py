"""GMM weak labels and thresholding baselines for ice-core micro-CT (Bagherzadeh et al. 2023, §III).

Per slice: salt-and-pepper removal (3x3 median), the field of view (the carbon-fibre tube
cropped away, or the data extent, the whole image or a given circle: `coretf.preprocess.ice_fov`),
brightness normalisation (the field of view's 0.5 and 99.5 percentiles mapped to
grey levels 0 and 255), then a threshold:

- the paper's weak learner, a 2-component Gaussian mixture with tied covariance and k-means
  initialisation, ice = the component with the higher mean. The paper fits scikit-learn on every
  pixel (~14 s for a 4096^2 slice); here the same 1-D mixture is fitted by EM on the 256-bin
  histogram of the normalised grey levels, which is exactly the fit on the pixels (every pixel
  is one of the 256 levels), and takes microseconds. Its threshold is the level where the two
  weighted components' densities cross (the tied variance makes that a single point);
- Otsu's threshold on the same histogram, the paper's baseline.

Two consecutive high-res masks averaged over 2x2x2 blocks and kept where at least half is ice
give the low-res weak label. `coretf.preprocess.ice_stack` reads and pairs a stack's files and
labels them; the command is `python -m coretf.preprocess.ice_labels`.
"""

from __future__ import annotations

import dataclasses

import logging

import cv2
import numpy as np
from skimage.filters import threshold_otsu

from coretf.io import ImageError
from coretf.preprocess import ice_fov
from coretf.preprocess.ice_fov import BlankSliceError, FieldOfView, find_field_of_view

__all__ = ["BlankSliceError", "FieldOfView", "Mixture", "SliceLabels", "denoise",
           "find_field_of_view", "fit_mixture", "histogram", "label_slice", "low_resolution_label",
           "model_input", "normalise"]

LEVELS = 256  # grey levels after normalisation
NORMALISE_PERCENTILES = (0.5, 99.5)
_LOG = logging.getLogger("coretf")


@dataclasses.dataclass(frozen=True)
class Mixture:
    """A 1-D two-component Gaussian mixture with tied variance (grey levels); index 1 = ice."""

    weights: tuple[float, float]
    means: tuple[float, float]
    variance: float
    iterations: int

    @property
    def threshold(self) -> float:
        """The level where the weighted component densities cross: ice above it."""
        (w0, w1), (m0, m1) = self.weights, self.means
        return 0.5 * (m0 + m1) + self.variance * np.log(w0 / w1) / (m1 - m0)


@dataclasses.dataclass(frozen=True)
class SliceLabels:
    """One slice's normalised image, field of view and threshold masks.

    Attributes:
        image: (H, W) uint8, denoised and normalised; 0 outside the field of view.
        fov: the field of view.
        fov_mask: (H, W) bool.
        gmm: (H, W) bool, ice by the Gaussian mixture (False outside the field of view).
        otsu: (H, W) bool, ice by Otsu's threshold.
        gmm_threshold, otsu_threshold: thresholds in normalised grey levels (ice above).
        fov_warning: why the automatic field of view fell back to the data extent, or None.
    """

    image: np.ndarray
    fov: FieldOfView
    fov_mask: np.ndarray
    gmm: np.ndarray
    otsu: np.ndarray
    gmm_threshold: float
    otsu_threshold: float
    fov_warning: str | None = None


def denoise(image: np.ndarray) -> np.ndarray:
    """3x3 median: removes salt-and-pepper pixels. uint8 or uint16 (H, W) in, same out."""
    return cv2.medianBlur(np.ascontiguousarray(image), 3)


def histogram(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Counts of every grey level of a uint8 (256) or uint16 (65536) image inside `mask`."""
    bins = 256 if image.dtype == np.uint8 else 65536
    hist = cv2.calcHist([image], [0], None if mask is None else mask.astype(np.uint8),
                        [bins], [0, bins])
    return hist.ravel().astype(np.float64)


def normalise(image: np.ndarray, fov_mask: np.ndarray, name: str = "slice") -> np.ndarray:
    """Maps the field of view's 0.5 / 99.5 percentiles to 0 / 255; 0 outside the field of view.

    Args:
        image: (H, W) uint8 or uint16, denoised.
        fov_mask: (H, W) bool.
        name: for errors.

    Returns:
        (H, W) uint8.

    Raises:
        BlankSliceError: the field of view has no contrast.
    """
    counts = histogram(image, fov_mask)
    cumulative = np.cumsum(counts)
    if cumulative[-1] == 0:
        raise BlankSliceError(f"{name}: empty field of view")
    lo, hi = (int(np.searchsorted(cumulative, p / 100.0 * cumulative[-1]))
              for p in NORMALISE_PERCENTILES)
    if hi <= lo:
        raise BlankSliceError(f"{name}: blank slice (no contrast in the field of view, level {lo})")
    levels = np.arange(len(counts), dtype=np.float32)
    lut = np.clip(np.rint((levels - lo) / (hi - lo) * (LEVELS - 1)), 0, LEVELS - 1).astype(np.uint8)
    out = cv2.LUT(image, lut) if image.dtype == np.uint8 else lut[image]
    return cv2.bitwise_and(out, out, mask=fov_mask.view(np.uint8))


def fit_mixture(counts: np.ndarray, *, tol: float = 1e-3, max_iter: int = 100,
                reg_covar: float = 1e-6) -> Mixture:
    """EM for a 2-component tied-variance 1-D Gaussian mixture on a histogram.

    Mirrors scikit-learn's `GaussianMixture(2, covariance_type="tied", init_params="kmeans")`
    on the pixels themselves: k-means (Lloyd's algorithm, weighted by the counts) assigns the
    levels to two clusters, their statistics start EM, and EM stops when the mean
    log-likelihood gains less than `tol`.

    Args:
        counts: (L,) pixel count of each grey level 0..L-1.
        tol, max_iter, reg_covar: as scikit-learn's.

    Returns:
        The mixture, components ordered by mean (index 1 = ice).
    """
    levels = np.arange(len(counts), dtype=np.float64)
    total = counts.sum()
    present = levels[counts > 0]
    if present.size < 2:
        raise ValueError(f"a mixture of two needs at least two grey levels, got {present.size}")
    cumulative = np.cumsum(counts) / total
    centres = np.array([levels[np.searchsorted(cumulative, q)] for q in (0.25, 0.75)])
    if centres[0] == centres[1]:
        centres = present[[0, -1]].astype(np.float64)
    for _ in range(100):  # 1-D k-means: the boundary is the midpoint of the centres
        upper = levels > centres.mean()
        new = np.array([np.average(levels[m], weights=counts[m]) if counts[m].sum() > 0 else c
                        for m, c in ((~upper, centres[0]), (upper, centres[1]))])
        if np.allclose(new, centres):
            break
        centres = new
    resp = np.stack([~upper, upper], axis=1).astype(np.float64)
    previous = -np.inf
    for iteration in range(1, max_iter + 1):
        weighted = resp * counts[:, None]
        nk = weighted.sum(axis=0) + 10 * np.finfo(np.float64).eps
        means = (weighted * levels[:, None]).sum(axis=0) / nk
        variance = (weighted * (levels[:, None] - means) ** 2).sum() / total + reg_covar
        log_p = (np.log(nk / total) - 0.5 * np.log(2 * np.pi * variance)
                 - 0.5 * (levels[:, None] - means) ** 2 / variance)
        log_norm = np.logaddexp(log_p[:, 0], log_p[:, 1])
        resp = np.exp(log_p - log_norm[:, None])
        likelihood = float((counts * log_norm).sum() / total)
        if abs(likelihood - previous) < tol:
            break
        previous = likelihood
    order = np.argsort(means)
    return Mixture(tuple(float(v) for v in (nk / total)[order]), tuple(float(v) for v in means[order]),
                   float(variance), iteration)


def label_slice(image: np.ndarray, name: str = "slice", fov: FieldOfView | None = None, *,
                fov_mode: str = "auto") -> SliceLabels:
    """Denoise, crop the ring, normalise and threshold one slice (GMM and Otsu).

    Args:
        image: (H, W) uint8 or uint16 CT slice.
        name: the slice's file name, for errors and warnings.
        fov: a known field of view (the low-res slice takes its high-res slices' circle, or a
            circle a user gives), checked against the slice; else found by `fov_mode`.
        fov_mode: "auto" (inside the carbon-fibre ring, checked against the data and falling
            back to the data extent with a warning, `coretf.preprocess.ice_fov`) or "none"
            (the whole image).

    Returns:
        SliceLabels.

    Raises:
        BlankSliceError: an all-black or constant slice.
        ImageError: wrong shape or type, or a given field of view that does not fit the slice.
    """
    if image.ndim != 2 or image.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"{name}: expected a grayscale 8- or 16-bit slice, got {image.dtype} "
                         f"{image.shape}")
    if not image.any():
        raise BlankSliceError(f"{name}: all-black slice")
    clean = denoise(image)
    fov, warning = ice_fov.resolve(clean, name, fov, fov_mode)
    if warning:
        _LOG.warning("%s", warning)
    fov_mask = fov.mask(image.shape)
    normalised = normalise(clean, fov_mask, name)
    counts = histogram(normalised, fov_mask)
    gmm_t = fit_mixture(counts).threshold
    otsu_t = float(threshold_otsu(hist=(counts, np.arange(LEVELS))))
    # Outside the field of view the normalised image is 0, below any threshold: no masking needed.
    gmm_t, otsu_t = max(float(gmm_t), 0.0), max(otsu_t, 0.0)
    return SliceLabels(normalised, fov, fov_mask, normalised > gmm_t, normalised > otsu_t,
                       gmm_t, otsu_t, warning)


def model_input(image: np.ndarray, name: str = "slice") -> np.ndarray:
    """A raw slice as the ice_ct network sees it: denoised and normalised in its field of view.

    The input transform that ice_ct exports declare (`coretf.serving`), so that `coretf.predict`
    segments raw slices as the network saw them in training.

    Returns:
        (H, W) uint8, 0 outside the field of view.
    """
    return label_slice(image, name).image


def low_resolution_label(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The paper's low-res ground truth from two consecutive high-res masks.

    The 2x2x2 block means of the two (H, W) masks, kept where at least half the block is ice.
    An odd last row or column of the high-res masks (no low-res partner) is dropped.

    Returns:
        (H // 2, W // 2) uint8, 1 = ice.
    """
    h, w = first.shape[0] // 2, first.shape[1] // 2
    total = first[: 2 * h, : 2 * w].astype(np.uint8) + second[: 2 * h, : 2 * w].astype(np.uint8)
    return (total.reshape(h, 2, w, 2).sum(axis=(1, 3)) >= 4).astype(np.uint8)
