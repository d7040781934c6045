"""Background removal of split-core section photographs (Hutton 2025, `seeds/000_*`, §2.3.1).

The paper's method: multi-Otsu with 3 classes on L* (the core is the middle class, between a dark
tray and a bright liner/card), a morphological opening with a square kernel (5x5, erode 3 times,
dilate 7 times), the largest contour, its bounding rectangle, and an extra crop of 10 % of the
width across the core -- never along it, because depth is measured from the crop's top end.
Failures are detected automatically (colour card left in the crop; crop length against the
expected section length +- 5 %) and flagged for manual review.

`method="paper"` is that method as written. On a core whose lightness changes down-section (dark
layers, cracks, lighter intervals: the Itrax image in `shared/realdata`) the largest contour of
the middle class is only one interval of the core, so `method="robust"` (the default) takes the
paper's box as a seed and extends it along the core: each line across the core (a "column" along
the depth axis) inside the seed's cross-core band is sediment, dark (crack, void, dark layer, or
the tray) or card-like (white or strongly coloured pixels, as on a colour card); runs of sediment
separated by dark gaps shorter than `max_gap_widths` core widths are joined, a card-like line
stops the extension, and slivers shorter than `min_run_widths` core widths at the ends are dropped.

Images are (H, W, 3) RGB, uint8 or uint16; boxes are (x0, y0, x1, y1) pixels, x1/y1 exclusive, in
the input image's coordinates. NumPy, OpenCV and scikit-image; no Keras.

The command over files and folders is `python -m coretf.preprocess.core_crop`; the batch
(cropped images, `crops.csv`, `flagged.png`) is `coretf.preprocess.core_crop_batch`.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from skimage.filters import threshold_multiotsu

from coretf import io as coretf_io
from coretf.preprocess import core_region

METHODS = ("robust", "seeded", "paper")
DEPTH_AXES = ("x", "y", "auto")
# Statuses of a section, in the CSV. Only "ok" is not flagged for review: "unchecked" means no
# expected length was known (no px/cm), so nobody has checked the crop's length yet.
STATUSES = ("ok", "unchecked", "card", "overcropped", "undercropped", "no_core", "error")

_CHUNK = 4096  # lines across the core measured at a time (bounds the float buffers)

__all__ = ["CropParams", "CropResult", "CropCheck", "DEPTH_AXES", "METHODS", "STATUSES",
           "find_core_box", "check_crop", "lightness_chroma", "transpose_box", "truth_status"]


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
    return _lightness_chroma_of_lab8(_lab8(image))


def _lab8(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 CIELAB of OpenCV's 8-bit convention (L* x 255/100, a* + 128, b* + 128)."""
    return cv2.cvtColor(np.ascontiguousarray(coretf_io.to_uint8(image)), cv2.COLOR_RGB2Lab)


def _lightness_chroma_of_lab8(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lightness = lab[..., 0].astype(np.float32) * (100.0 / 255.0)
    a = lab[..., 1].astype(np.float32) - 128.0
    b = lab[..., 2].astype(np.float32) - 128.0
    return lightness, np.hypot(a, b)


def _core_mask(levels: np.ndarray, params: CropParams) -> tuple[np.ndarray, tuple[float, ...]]:
    """Multi-Otsu classes of 8-bit L* levels (H, W) uint8, the core classes kept, then the paper's
    opening: (H, W) uint8 0/1 mask and the thresholds in L* (0-100)."""
    # The histogram of the 256 levels: multi-Otsu's cost does not grow with the image, and a
    # lookup table maps levels to the mask in one 1-byte-a-pixel pass.
    hist = np.bincount(levels.ravel(), minlength=256)
    if np.count_nonzero(hist) < params.num_classes:
        raise ValueError(f"the image has fewer than {params.num_classes} grey levels in L*")
    thresholds = threshold_multiotsu(hist=(hist, np.arange(256)), classes=params.num_classes)
    classes = np.digitize(np.arange(256), thresholds, right=True)  # <= threshold: lower class
    mask = cv2.LUT(levels, np.isin(classes, params.core_classes).astype(np.uint8))
    mask = cv2.erode(mask, np.ones((params.erode_kernel,) * 2, np.uint8),
                     iterations=params.erode_iterations)
    mask = cv2.dilate(mask, np.ones((params.dilate_kernel,) * 2, np.uint8),
                      iterations=params.dilate_iterations)
    return mask, tuple(float(t) / 2.55 for t in thresholds)


def _largest_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding rectangle (x0, y0, x1, y1) of the largest external contour of a 0/1 mask."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    x, y, w, h = cv2.boundingRect(max(contours, key=cv2.contourArea))
    return x, y, x + w, y + h


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a 1-D boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _line_kinds(lab, lo: int, hi: int, dark_l: float, params: CropParams):
    """Per line across the core (image columns; the core runs along x here): card-like and dark.

    Args:
        lab: (H, W, 3) uint8 CIELAB (`_lab8`), depth along x; may be a transposed view.
        lo, hi: the cross-core band [lo, hi) of rows the lines are measured in.
        dark_l: L* below which a line's median makes it dark (the lowest multi-Otsu threshold).

    Returns:
        card (W,) bool and dark (W,) bool.
    """
    card, dark = np.empty(lab.shape[1], bool), np.empty(lab.shape[1], bool)
    for c0 in range(0, lab.shape[1], _CHUNK):  # float copies of a chunk only, at 500 dpi too
        band_l, band_c = _lightness_chroma_of_lab8(np.ascontiguousarray(lab[lo:hi, c0:c0 + _CHUNK]))
        share = ((band_c >= params.card_chroma) | (band_l >= params.white_l)).mean(axis=0)
        card[c0:c0 + _CHUNK] = share >= params.card_fraction
        dark[c0:c0 + _CHUNK] = np.median(band_l, axis=0) < dark_l
    return card, dark


def _extend_along_core(lab, seed, dark_l, params) -> tuple[int, int]:
    """The robust method's extent [x0, x1) along the core (x), grown from the seed box."""
    x0, y0, x1, y1 = seed
    width = y1 - y0
    card, dark = _line_kinds(lab, y0, y1, dark_l, params)
    sediment = ~card & ~dark
    max_gap, min_run = params.max_gap_widths * width, params.min_run_widths * width
    runs = _runs(sediment)
    # The run that holds most of the seed anchors the core.
    overlap = [min(e, x1) - max(s, x0) for s, e in runs]
    if not runs or max(overlap) <= 0:
        return x0, x1
    k = int(np.argmax(overlap))
    segment = [runs[k]]
    for step in (-1, 1):  # grow towards the top (left), then the base (right)
        j = k + step
        while 0 <= j < len(runs):
            near, far = (runs[j][1], segment[0][0]) if step < 0 else (segment[-1][1], runs[j][0])
            if far - near > max_gap or card[near:far].any():  # too long a gap, or a colour card
                break
            segment = [runs[j]] + segment if step < 0 else segment + [runs[j]]
            j += step
    # Slivers beyond a gap at either end (a card's grey patch, a label strip) are not core.
    while len(segment) > 1 and segment[0][1] - segment[0][0] < min_run and segment[0] != runs[k]:
        segment.pop(0)
    while len(segment) > 1 and segment[-1][1] - segment[-1][0] < min_run and segment[-1] != runs[k]:
        segment.pop()
    # The seed is core by the paper's criterion even where its lines are dark (a dark lamina at
    # the core top), so the extent covers it -- except across card-like lines: at a coarse scale
    # the seed's dilation can reach over the gap to the colour card.
    start, end = segment[0][0], segment[-1][1]
    if x0 < start and not card[x0:start].any():
        start = x0
    if x1 > end and not card[end:x1].any():
        end = x1
    return start, end


def find_core_box(image: np.ndarray, params: CropParams = CropParams()) -> CropResult:
    """Finds the crop box of the core in a section photograph.

    Args:
        image: (H, W, 3) RGB, uint8 or uint16.
        params: the method and its parameters.

    Returns:
        A `CropResult`; its box is None when no core-like region is found.

    Raises:
        ValueError: the image is not RGB, or has too few grey levels for multi-Otsu.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    lab = _lab8(image)
    if params.method == "robust":
        return _find_robust(lab, params)
    mask, thresholds = _core_mask(np.ascontiguousarray(lab[..., 0]), params)
    axis = params.depth_axis
    if axis == "auto":
        region = _largest_box(mask)
        axis = "x" if region is None or region[2] - region[0] >= region[3] - region[1] else "y"
    if axis == "y":  # work with the core along x; views, no copies
        lab, mask = lab.transpose(1, 0, 2), np.ascontiguousarray(mask.T)
    box = _largest_box(mask)
    if box is None:
        return CropResult(None, axis, thresholds, None)
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
        x0, x1 = _extend_along_core(lab, seed, thresholds[0], params)
    crop = (x0, seed[1], x1, seed[3])
    if axis == "y":
        crop, seed = transpose_box(crop), transpose_box(seed)
    return CropResult(crop, axis, thresholds, seed)


def _find_robust(lab: np.ndarray, params: CropParams) -> CropResult:
    """`method="robust"`: `core_region`'s search on a working copy, boxes back in image pixels."""
    hist = np.bincount(lab[..., 0].ravel(), minlength=256)
    if np.count_nonzero(hist) < params.num_classes:
        raise ValueError(f"the image has fewer than {params.num_classes} grey levels in L*")
    thresholds = tuple(float(t) / 2.55 for t in threshold_multiotsu(
        hist=(hist, np.arange(256)), classes=params.num_classes))
    work, (sx, sy) = core_region.working_copy(lab, params.work_px)
    # The search runs with the working copy's long side along x, so that a photograph and its
    # transpose give transposed boxes (k-means samples pixels in memory order).
    tall = work.shape[0] > work.shape[1]
    if tall:
        work = np.ascontiguousarray(work.transpose(1, 0, 2))
    card = np.hypot(work[..., 1], work[..., 2]) >= params.card_chroma
    labels = core_region.colour_classes(work, params.colour_classes, card)
    swap = {"x": "y", "y": "x"} if tall else {"x": "x", "y": "y"}
    axes = ("x", "y") if params.depth_axis == "auto" else (swap[params.depth_axis],)
    found = core_region.find_core(labels, params.colour_classes, card, axes,
                                  params.max_gap_widths, params.min_run_widths)
    if found is None:
        return CropResult(None, "x" if params.depth_axis == "auto" else params.depth_axis,
                          thresholds, None)
    axis, (x0, y0, x1, y1), region = swap[found.axis], found.box, found.region
    if tall:
        (x0, y0, x1, y1), region = transpose_box(found.box), transpose_box(region)
    # Working pixels to image pixels, one working pixel inwards at either end (an edge pixel
    # of the working copy mixes core and tray): a crop keeps no background pixel.
    if axis == "x" and x1 - x0 > 4:
        x0, x1 = x0 + 1, x1 - 1
    elif axis == "y" and y1 - y0 > 4:
        y0, y1 = y0 + 1, y1 - 1
    full = (int(np.ceil(x0 / sx)), int(np.ceil(y0 / sy)), int(x1 / sx), int(y1 / sy))
    seed = (int(np.ceil(region[0] / sx)), int(np.ceil(region[1] / sy)), int(region[2] / sx),
            int(region[3] / sy))
    x0, y0, x1, y1 = full if axis == "x" else transpose_box(full)
    trim = int(round(params.cross_crop * (y1 - y0)))
    crop = (x0, y0 + trim, x1, max(y0 + trim + 1, y1 - trim))
    return CropResult(crop if axis == "x" else transpose_box(crop), axis, thresholds, seed)


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


def check_crop(image: np.ndarray, result: CropResult, params: CropParams = CropParams(), *,
               px_per_cm: float | None = None, expected_lengths_cm=(120.0, 150.0),
               tolerance: float = 0.05) -> CropCheck:
    """The paper's automatic failure detection on a crop.

    Colour card: a line across the crop within one core width of either end with at least
    `params.card_fraction` card-like pixels (white or strongly coloured). Length: the crop length in cm against the
    nearest expected length; shorter than (1 - tolerance) x expected is overcropped (core
    discarded), longer than (1 + tolerance) x expected is undercropped (background kept).

    Args:
        image: (H, W, 3) RGB, the image `result` was found on.
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
    x0, y0, x1, y1 = result.box
    crop = image[y0:y1, x0:x1]
    if result.depth_axis == "y":
        crop = crop.transpose(1, 0, 2)
    length_px = crop.shape[1]
    # The paper checks the end line only; a card beside a core-coloured label strip (the Itrax
    # image) hides behind it, so every line within one core width of either end is checked.
    reach = max(1, min(crop.shape[0], length_px // 2))
    ends = np.concatenate([crop[:, :reach], crop[:, -reach:]], axis=1)
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
