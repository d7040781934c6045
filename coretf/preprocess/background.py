"""Background removal of split-core section photographs (Hutton 2025, `seeds/000_*`, §2.3.1).

The paper's method: multi-Otsu with 3 classes on L* (the core is the middle class, between a dark
tray and a bright liner/card), a morphological opening with a square kernel (5x5, erode 3 times,
dilate 7 times), the largest contour, its bounding rectangle, and an extra crop of 10 % of the
width across the core -- never along it, because depth is measured from the crop's top end.
Failures are detected automatically (colour card left in the crop; crop length against the
expected section length +- 5 %) and flagged for manual review.

`method="paper"` is that method as written. On a core whose lightness changes down-section (dark
layers, cracks, lighter intervals: the Itrax image in `shared/realdata`) the largest contour of
the middle class is only one interval of the core, so `method="seeded"` takes the paper's box as
a seed and extends it along the core: lines across the core in the seed's band are sediment,
dark (crack, void, dark layer, tray) or card-like (white or strongly coloured); sediment runs
with dark gaps shorter than `max_gap_widths` core widths between them are joined, a card-like
line stops the extension, and end slivers shorter than `min_run_widths` widths are dropped.
Both assume a tray darker than the sediment. `method="robust"` (the default) does not: it finds
the core's own colour classes as the photograph's long rectangle (`core_region`), whatever the
tray's colour, then bridges gaps along the core in the same way.

Images are (H, W, 3) RGB, uint8 or uint16, or `coretf.image_source` sources of them; boxes are
(x0, y0, x1, y1) pixels, x1/y1 exclusive, in the input image's coordinates. A photograph is read
`BAND` lines at a time along its long axis and the methods' inputs (the L* histogram, the
robust method's working copy, the paper's opened mask, the seeded method's line profiles, the
checks' end lines) are made band by band, so a tiled TIFF of any length is never held whole; the
results are those of the whole image. NumPy, OpenCV and scikit-image; no Keras.

The command over files and folders is `python -m coretf.preprocess.core_crop`; the batch
(cropped images, `crops.csv`, `review/flagged.png`) is `coretf.preprocess.core_crop_batch`.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from skimage.filters import threshold_multiotsu

from coretf import image_source
from coretf import io as coretf_io
from coretf.preprocess import core_region
from coretf.preprocess import seeded

METHODS = ("robust", "seeded", "paper")
DEPTH_AXES = ("x", "y", "auto")
# Statuses of a section, in the CSV. Only "ok" is not flagged for review: "unchecked" means no
# expected length was known (no px/cm), so nobody has checked the crop's length yet.
STATUSES = ("ok", "unchecked", "card", "overcropped", "undercropped", "no_core", "error")
BAND = 512  # lines of the photograph read at a time along its long axis


__all__ = ["CropParams", "CropResult", "CropCheck", "DEPTH_AXES", "METHODS", "STATUSES",
           "find_core_box", "check_crop", "lightness_chroma", "rgb_source",
           "transpose_box", "truth_status", "BAND"]


@dataclasses.dataclass(frozen=True)
class CropParams:
    """Parameters of the background removal (defaults: the paper's, §2.3.1 and Table 1).

    Attributes:
        method: "robust" (default) or "paper" (the largest contour only).
        num_classes: multi-Otsu classes on L*.
        core_classes: which classes (0 = darkest) are core-like; the paper keeps the middle one.
        erode_kernel, erode_iterations: square kernel side (px) and iterations of the erosion.
        dilate_kernel, dilate_iterations: the same for the dilation.
        cross_crop: fraction of the box's width across the core removed on each side (the paper's
            "extra 10 % crop"; its public code crops 200 px a side, ~15 % of a 6.8 cm core at
            197 px/cm).
        depth_axis: "x" (core along the width, the paper's images), "y", or "auto" (the long side
            of the detected core).
        max_gap_widths: robust only: longest dark gap along the core that is bridged, in core
            widths (cracks, voids and dark layers; the tray beyond the core ends is longer).
        min_run_widths: robust only: sediment runs shorter than this at the ends are dropped.
        card_chroma: C* (CIELAB chroma) at and above which a pixel is card-like.
        white_l: L* at and above which a pixel is card-like (white).
        card_fraction: share of card-like pixels that makes a line across the core card-like
            (the paper: 20 % of the leftmost column white).
    """

    method: str = "robust"
    num_classes: int = 3
    core_classes: tuple[int, ...] = (1,)
    erode_kernel: int = 5
    erode_iterations: int = 3
    dilate_kernel: int = 5
    dilate_iterations: int = 7
    cross_crop: float = 0.10
    depth_axis: str = "x"
    max_gap_widths: float = 0.75
    min_run_widths: float = 0.3
    card_chroma: float = 35.0
    white_l: float = 80.0
    card_fraction: float = 0.2
    colour_classes: int = 6
    work_px: int = 256

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.depth_axis not in DEPTH_AXES:
            raise ValueError(f"depth_axis must be one of {DEPTH_AXES}, got {self.depth_axis!r}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        if not self.core_classes or not all(0 <= c < self.num_classes for c in self.core_classes):
            raise ValueError(f"core_classes must be in [0, {self.num_classes}), got {self.core_classes}")
        if min(self.erode_kernel, self.dilate_kernel) < 1:
            raise ValueError("erode_kernel and dilate_kernel must be >= 1 px")
        if min(self.erode_iterations, self.dilate_iterations) < 0:
            raise ValueError("erode_iterations and dilate_iterations must be >= 0")
        if not 0 <= self.cross_crop < 1:
            raise ValueError(f"cross_crop must be in [0, 1), got {self.cross_crop}")
        if self.max_gap_widths < 0 or self.min_run_widths < 0:
            raise ValueError("max_gap_widths and min_run_widths must be >= 0")
        if not 0 < self.card_fraction <= 1:
            raise ValueError(f"card_fraction must be in (0, 1], got {self.card_fraction}")
        if not 2 <= self.colour_classes <= 8:
            raise ValueError(f"colour_classes must be in [2, 8], got {self.colour_classes}")
        if self.work_px < 32:
            raise ValueError(f"work_px must be >= 32, got {self.work_px}")


@dataclasses.dataclass(frozen=True)
class CropResult:
    """Where the core is.

    Attributes:
        box: (x0, y0, x1, y1) of the crop in image pixels, or None when no core-like region.
        depth_axis: "x" or "y", the axis along the core.
        thresholds: the multi-Otsu L* thresholds (L* 0-100).
        seed_box: the paper's box (largest contour, cross crop applied), or None.
    """

    box: tuple[int, int, int, int] | None
    depth_axis: str
    thresholds: tuple[float, ...]
    seed_box: tuple[int, int, int, int] | None


@dataclasses.dataclass(frozen=True)
class CropCheck:
    """The automatic failure detection of one crop.

    Attributes:
        status: one of STATUSES.
        length_px: crop length along the core (px).
        length_cm: the same in cm (NaN without a scale).
        expected_cm: the expected length it was checked against (NaN if none).
        card_fraction: largest share of card-like pixels on a line across the crop within one
            core width of either end.
        message: a sentence for the CSV and the log.
    """

    status: str
    length_px: int
    length_cm: float
    expected_cm: float
    card_fraction: float
    message: str


def lightness_chroma(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L* (0-100) and C* of an sRGB image, as OpenCV's 8-bit COLOR_RGB2Lab computes them.

    The 8-bit conversion keeps the working copy at 3 bytes a pixel (a 500 dpi section is ~45 Mpx);
    its L* is quantised to 100/255, far below the class separations that matter here.

    Args:
        image: (H, W, 3) RGB, uint8 or uint16 (16-bit is reduced to 8 bit first).

    Returns:
        L* and C*, (H, W) float32 each.
    """
    return core_region.lightness_chroma_of_lab8(core_region.lab8(image))


def rgb_source(image: np.ndarray | image_source.ImageSource) -> image_source.ImageSource:
    """The photograph as an RGB `ImageSource`: an (H, W, 3) array, or a source of 3 or 4 channels
    (an alpha channel, a GIMP label, plays no part in the crop).

    Raises:
        ValueError: not RGB (the message names the file of a source).
    """
    if isinstance(image, image_source.ImageSource):
        if image.channels not in (3, 4):
            raise coretf_io.ImageError(f"{image.name}: expected an RGB or RGBA photograph, got "
                                       f"{image.channels} channel(s)")
        return image_source.View(image, channels=3)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    return image_source.ArraySource(image)


def _thresholds(hist: np.ndarray, params: CropParams) -> np.ndarray:
    """Multi-Otsu thresholds of the 8-bit L* histogram (in levels 0-255)."""
    # The histogram of the 256 levels: multi-Otsu's cost does not grow with the image.
    if np.count_nonzero(hist) < params.num_classes:
        raise ValueError(f"the image has fewer than {params.num_classes} grey levels in L*")
    return threshold_multiotsu(hist=(hist, np.arange(256)), classes=params.num_classes)


def _scan(source: image_source.ImageSource, params: CropParams, band: int
          ) -> tuple[np.ndarray, np.ndarray | None]:
    """One pass along the long axis: the histogram of 8-bit L* and, for the robust method, the
    8-bit CIELAB working copy (`core_region.working_reducer`)."""
    axis = image_source.long_axis(source)
    hist = np.zeros(256, np.int64)
    reducer = core_region.working_reducer(source.shape, params.work_px, axis) \
        if params.method == "robust" else None
    for _, region in image_source.iter_bands(source, band, axis):
        lab = core_region.lab8(region)
        hist += np.bincount(lab[..., 0].ravel(), minlength=256)
        if reducer is not None:
            reducer.add(lab)
    return hist, reducer.result() if reducer is not None else None


def find_core_box(image: np.ndarray | image_source.ImageSource, params: CropParams = CropParams(),
                  *, band: int = BAND) -> CropResult:
    """Finds the crop box of the core in a section photograph.

    The photograph is read `band` lines at a time along its long axis, in two or three passes
    (the robust method: one), so a source that reads regions of a file (`image_source.open_image`
    on a tiled TIFF) is never held whole; the result does not depend on `band`.

    Args:
        image: (H, W, 3) RGB array, uint8 or uint16, or an `ImageSource` of 3 or 4 channels.
        params: the method and its parameters.
        band: lines read at a time.

    Returns:
        A `CropResult`; its box is None when no core-like region is found.

    Raises:
        ValueError: the image is not RGB, or has too few grey levels for multi-Otsu.
    """
    source = rgb_source(image)
    hist, work = _scan(source, params, band)
    levels = _thresholds(hist, params)
    thresholds = tuple(float(t) / 2.55 for t in levels)
    if params.method == "robust":
        return _find_robust(work, source.shape, thresholds, params)
    classes = np.digitize(np.arange(256), levels, right=True)  # <= threshold: lower class
    core_lut = np.isin(classes, params.core_classes).astype(np.uint8)
    box = seeded.paper_region(source, core_lut, params, band)
    axis = params.depth_axis
    if axis == "auto":
        axis = "x" if box is None or box[2] - box[0] >= box[3] - box[1] else "y"
    if box is None:
        return CropResult(None, axis, thresholds, None)
    if axis == "y":  # work with the core along x
        source, box = image_source.View(source, transpose=True), transpose_box(box)
    x0, y0, x1, y1 = box
    if params.method == "seeded":
        # Dilating more than eroding grows the region by the difference (8 px with the paper's
        # 5x5 kernels, 0.04 cm at its 197 px/cm but 0.4 cm at 20 px/cm): take it back.
        grow = params.dilate_iterations * (params.dilate_kernel // 2) - \
            params.erode_iterations * (params.erode_kernel // 2)
        if grow > 0 and x1 - x0 > 2 * grow and y1 - y0 > 2 * grow:
            x0, y0, x1, y1 = x0 + grow, y0 + grow, x1 - grow, y1 - grow
    trim = int(round(params.cross_crop * (y1 - y0)))
    seed = (x0, y0 + trim, x1, max(y0 + trim + 1, y1 - trim))
    if params.method == "seeded":
        x0, x1 = seeded.extend_along_core(source, seed, thresholds[0], params, band)
    crop = (x0, seed[1], x1, seed[3])
    if axis == "y":
        crop, seed = transpose_box(crop), transpose_box(seed)
    return CropResult(crop, axis, thresholds, seed)


def _find_robust(work: np.ndarray, shape: tuple[int, int], thresholds: tuple[float, ...],
                 params: CropParams) -> CropResult:
    """`method="robust"`: `core_region.search`, then the cross crop (the paper's 10 %)."""
    found = core_region.search(work, shape, params)
    if found is None:
        return CropResult(None, "x" if params.depth_axis == "auto" else params.depth_axis,
                          thresholds, None)
    box, axis, region = found
    x0, y0, x1, y1 = box if axis == "x" else transpose_box(box)
    trim = int(round(params.cross_crop * (y1 - y0)))
    crop = (x0, y0 + trim, x1, max(y0 + trim + 1, y1 - trim))
    return CropResult(crop if axis == "x" else transpose_box(crop), axis, thresholds, region)


def truth_status(box, true_box, tolerance_px: int) -> str:
    """Classifies a crop against the true core box, core along x (the synthetic sections').

    Args:
        box: the crop (x0, y0, x1, y1), or None.
        true_box: the core's true box.
        tolerance_px: how far either end may miss along the core.

    Returns:
        "overcropped" if core is lost beyond the tolerance at either end, else "undercropped" if
        background is kept beyond it at either end or any row of background across the core is
        kept, else "ok". None is "overcropped" (the whole core is lost).
    """
    if box is None:
        return "overcropped"
    x0, y0, x1, y1 = box
    t0, u0, t1, u1 = true_box
    if x0 > t0 + tolerance_px or x1 < t1 - tolerance_px:
        return "overcropped"
    if x0 < t0 - tolerance_px or x1 > t1 + tolerance_px or y0 < u0 or y1 > u1:
        return "undercropped"
    return "ok"


def transpose_box(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the transposed image."""
    x0, y0, x1, y1 = box
    return y0, x0, y1, x1


def check_crop(image: np.ndarray | image_source.ImageSource, result: CropResult,
               params: CropParams = CropParams(), *,
               px_per_cm: float | None = None, expected_lengths_cm=(120.0, 150.0),
               tolerance: float = 0.05) -> CropCheck:
    """The paper's automatic failure detection on a crop.

    Colour card: a line across the crop within one core width of either end with at least
    `params.card_fraction` card-like pixels (white or strongly coloured). Length: the crop length in cm against the
    nearest expected length; shorter than (1 - tolerance) x expected is overcropped (core
    discarded), longer than (1 + tolerance) x expected is undercropped (background kept).

    Args:
        image: (H, W, 3) RGB, the image `result` was found on, or its `ImageSource` (only the
            crop's ends are read).
        result: from `find_core_box`.
        params: for the card-like pixel criteria.
        px_per_cm: the image scale; None skips the length check ("unchecked").
        expected_lengths_cm: section lengths the crop may have (the paper: 120 and 150 cm).
        tolerance: relative tolerance of the length check (the paper: 5 %).

    Returns:
        A `CropCheck`.
    """
    if result.box is None:
        return CropCheck("no_core", 0, float("nan"), float("nan"), float("nan"),
                         "no core-like region (no pixels of the core classes survive the opening)")
    source = rgb_source(image)
    box = result.box
    if result.depth_axis == "y":  # the crop seen with the core along x
        source, box = image_source.View(source, transpose=True), transpose_box(box)
    x0, y0, x1, y1 = box
    x1, y1 = min(x1, source.shape[1]), min(y1, source.shape[0])
    length_px = x1 - x0
    # The paper checks the end line only; a card beside a core-coloured label strip (the Itrax
    # image) hides behind it, so every line within one core width of either end is checked.
    reach = max(1, min(y1 - y0, length_px // 2))
    ends = np.concatenate([source.read(y0, y1, x0, x0 + reach), source.read(y0, y1, x1 - reach, x1)],
                          axis=1)
    lightness, chroma = lightness_chroma(ends)
    card_share = float(((chroma >= params.card_chroma) | (lightness >= params.white_l)).mean(0).max())
    length_cm = length_px / px_per_cm if px_per_cm else float("nan")
    expected = float("nan")
    if px_per_cm and len(expected_lengths_cm):
        expected = float(min(expected_lengths_cm, key=lambda e: abs(e - length_cm)))
    if card_share >= params.card_fraction:
        status, message = "card", f"{card_share:.0%} of a line at a crop end is card-like (colour card kept)"
    elif not np.isfinite(expected):
        status, message = "unchecked", "length not checked (no px/cm or expected length)"
    elif length_cm < expected * (1 - tolerance):
        status, message = "overcropped", f"{length_cm:.1f} cm is short of {expected:g} cm -{tolerance:.0%}"
    elif length_cm > expected * (1 + tolerance):
        status, message = "undercropped", f"{length_cm:.1f} cm exceeds {expected:g} cm +{tolerance:.0%}"
    else:
        status, message = "ok", f"{length_cm:.1f} cm, expected {expected:g} cm +-{tolerance:.0%}"
    return CropCheck(status, length_px, length_cm, expected, card_share, message)
