"""The robust background removal's search for the core: colour classes, the long rectangle, gaps.

The paper's method (`background`) keeps the middle multi-Otsu class of L*: it assumes a tray
darker and a liner or card lighter than the sediment. A light tray, a blue tray as light as the
sediment, or a grey one break that assumption. This search assumes only that the core is one
roughly rectangular, long object whose colour differs from what lies beside it:

1. The photograph is reduced (area averaging) to a working copy whose short side is
   `work_px` pixels, so the search costs the same at 20 and at 200 px/cm. The copy is made band
   by band as the photograph is read (`working_reducer`) and kept as 8-bit CIELAB; floats are
   made a chunk at a time, so a section four times as long costs a few MB more, not 4x.
2. Its CIELAB colours are grouped into `colour_classes` k-means classes (a* and b* weighted
   `_CHROMA_WEIGHT` times: light moves lightness, not hue); strongly coloured, card-like
   pixels form a class of their own that is never core.
3. Every set of classes gives a region (its largest connected part after a 3x3 opening) and
   a core box (`extent_along_x`, on the axis along which the box is longer): across the core,
   the band of lines mostly of the set's classes; along it, runs of such lines, joined over
   gaps shorter than `max_gap_widths` core widths (cracks, voids, dark layers) unless the gap
   or the piece beyond is card-like or the piece is not solid, end slivers shorter than
   `min_run_widths` widths dropped. The box is scored: how well the set fills it, minus how
   much of the set lies in bands beside each side (a side on the image border counts as
   `_UNKNOWN_SIDE`), times the square root of its share of the image and of the set's pixels
   inside it. The best set, or its best subset when that scores `_SUBSET_RATIO` of it (the
   core inside the tray's walls, not tray and core together), is the core's colours.
4. The box's ends grow over lines that are neither tray (the classes beside the core) nor card:
   a shadow across a core end is still core.
5. With `depth_axis="auto"` the axis is the one along which the core is the long object.

NumPy and OpenCV only; `background.find_core_box(method="robust")` calls `search`.
"""

from __future__ import annotations

import dataclasses
import itertools

import cv2
import numpy as np

from coretf import image_source
from coretf import io as coretf_io

_UNKNOWN_SIDE = 0.75  # class share assumed beyond a box side that lies on the image border
_SIDE_BAND = 0.25     # width of the bands beside a box, in box short sides
_KMEANS_SAMPLES = 40_000
_CHUNK_PX = 1 << 18   # working-copy pixels converted to float at a time
_CHROMA_WEIGHT = 2.0  # weight of a* and b* against L* in the colour classes
_SOLID_RUN = 0.75     # share of the core's classes a piece beyond a gap must hold
_TRAY_SHARE = 0.1     # a class filling this share of the bands beside the core is tray
_SHAPE_MARGIN = 0.1   # a subset's shape term this much above the best set's is better
_SUBSET_RATIO = 0.75  # a subset of the best classes scoring this much of it is preferred
# Below this score nothing is a core: e.g. a box half filled more than its surroundings (0.5)
# over 4 % of the photograph (sqrt 0.2) scores 0.1; speckle of noise scores far less.
_MIN_SCORE = 0.1


def lab8(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 CIELAB of OpenCV's 8-bit convention (L* x 255/100, a* + 128, b* + 128) of
    an RGB image, uint8 or uint16 (16-bit is reduced to 8 bit first)."""
    return cv2.cvtColor(np.ascontiguousarray(coretf_io.to_uint8(image)), cv2.COLOR_RGB2Lab)


def lightness_chroma_of_lab8(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L* (0-100) and C* (float32) of OpenCV 8-bit CIELAB (L* x 255/100, a* + 128, b* + 128)."""
    lightness = lab[..., 0].astype(np.float32) * (100.0 / 255.0)
    a = lab[..., 1].astype(np.float32) - 128.0
    b = lab[..., 2].astype(np.float32) - 128.0
    return lightness, np.hypot(a, b)


def working_reducer(shape: tuple[int, int], work_px: int, axis: int) -> image_source.AreaReducer:
    """What makes the working copy of an (H, W) photograph: fed its 8-bit CIELAB (`lab8`) band by
    band along `axis`, it returns the copy reduced by area averaging (`cv2.INTER_AREA`) to a
    short side of ~work_px, or the photograph itself when that is no larger."""
    scale = min(1.0, work_px / min(shape))
    return image_source.AreaReducer(shape, fx=scale, fy=scale, axis=axis)


def _weighted_lab(lab8_pixels: np.ndarray) -> np.ndarray:
    """(n, 3) float32 L* (0-100), a*, b* of 8-bit CIELAB pixels, a* and b* times _CHROMA_WEIGHT."""
    lab = lab8_pixels.astype(np.float32)
    lab[:, 0] *= 100.0 / 255.0
    lab[:, 1:] -= 128.0
    return lab * np.array([1.0, _CHROMA_WEIGHT, _CHROMA_WEIGHT], np.float32)


def colour_classes(lab8_small: np.ndarray, k: int, card: np.ndarray | None = None, seed: int = 0
                   ) -> np.ndarray:
    """(h, w) uint8 k-means class of each pixel of an 8-bit CIELAB working copy (classes
    numbered by increasing L*).

    a* and b* count `_CHROMA_WEIGHT` times L* in the distance: uneven light moves a surface's
    lightness across the photograph, not its hue, so a grey tray and a brownish sediment of
    the same lightness stay apart. Card-like pixels (`card`, strongly coloured patches) get
    class k of their own and take no k-means class from the tray and the sediment.
    """
    pixels = lab8_small.reshape(-1, 3)
    rng = np.random.default_rng(seed)
    pool = None if card is None or card.all() else np.flatnonzero(~card.ravel())
    size = len(pixels) if pool is None else len(pool)
    chosen = rng.choice(size, min(size, _KMEANS_SAMPLES), replace=False)
    sample = _weighted_lab(pixels[chosen if pool is None else pool[chosen]])
    del pool
    cv2.setRNGSeed(seed)  # k-means++ seeding: the same classes on every run
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 0.05)
    _, _, centres = cv2.kmeans(np.ascontiguousarray(sample), k, None, criteria, 2,
                               cv2.KMEANS_PP_CENTERS)
    centres = centres[np.argsort(centres[:, 0])]
    # Nearest centre, in chunks (a 1 Mpx working copy and 8 centres).
    labels = np.empty(len(pixels), np.uint8)
    for s in range(0, len(pixels), _CHUNK_PX):
        d = ((_weighted_lab(pixels[s:s + _CHUNK_PX])[:, None, :] - centres[None]) ** 2).sum(-1)
        labels[s:s + _CHUNK_PX] = d.argmin(1)
    labels = labels.reshape(lab8_small.shape[:2])
    if card is not None:
        labels[card] = k
    return labels


def _side_share(mask: np.ndarray, box, band: int) -> float:
    """Mean share of mask pixels in the four bands beside `box` (border sides: _UNKNOWN_SIDE)."""
    x0, y0, x1, y1 = box
    h, w = mask.shape
    shares = []
    for r0, r1, c0, c1 in ((y0 - band, y0, x0, x1), (y1, y1 + band, x0, x1),
                           (y0, y1, x0 - band, x0), (y0, y1, x1, x1 + band)):
        r0, r1, c0, c1 = max(0, r0), min(h, r1), max(0, c0), min(w, c1)
        shares.append(mask[r0:r1, c0:c1].mean() if r1 > r0 and c1 > c0 else _UNKNOWN_SIDE)
    return float(np.mean(shares))


@dataclasses.dataclass(frozen=True)
class Found:
    """The core found on the working copy (boxes (x0, y0, x1, y1) in working pixels)."""

    classes: tuple[int, ...]
    region: tuple[int, int, int, int]  # the largest region of those classes
    box: tuple[int, int, int, int]     # the core, after the band and the gaps
    axis: str
    score: float
    quality: float = 0.0  # the score's shape term: fill minus the share beside the box


def _score(mask: np.ndarray, box, total: int, mask_sum: int) -> tuple[float, float]:
    """(score, shape term) of a set's core box."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    inside = mask[y0:y1, x0:x1].sum()
    band = max(2, round(_SIDE_BAND * min(w, h)))
    quality = float(inside / (w * h) - _side_share(mask, box, band))
    # Classes found mostly elsewhere (a scale bar's white, the tray's shadows) are not the
    # core's: the share of the set's pixels inside the box weighs the score.
    return quality * float(np.sqrt(w * h / total * inside / max(1, mask_sum))), quality


def find_core(labels: np.ndarray, k: int, card: np.ndarray, axes: tuple[str, ...],
              max_gap_widths: float, min_run_widths: float) -> Found | None:
    """The set of classes, and the axis, whose core box is most like one large rectangle.

    Every set of classes gives a region (its largest connected part after a 3x3 opening) and,
    per axis in `axes`, a core box (`extent_along_x`: the band across, gaps bridged along); the
    box is scored (module docstring). A set that holds a better set's classes and more (the
    tray and the core together, bounded by the tray's walls) gives way to its best subset when
    that scores at least `_SUBSET_RATIO` of it: the core is the innermost rectangle.

    Args:
        labels: (h, w) uint8 classes in [0, k).
        card: (h, w) bool, card-like pixels.
        axes: ("x",), ("y",) or both.

    Returns:
        A `Found`, or None when no set scores `_MIN_SCORE`.
    """
    kernel = np.ones((3, 3), np.uint8)
    found: dict[tuple[int, ...], Found] = {}
    for n in range(1, k):
        for subset in itertools.combinations(range(k), n):
            lut = np.zeros(256, np.uint8)
            lut[list(subset)] = 1
            mask = cv2.LUT(labels, lut)
            count, _, stats, _ = cv2.connectedComponentsWithStats(
                cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel), connectivity=4)
            if count < 2:
                continue
            j = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            x, y, w, h, _ = (int(v) for v in stats[j])
            region = (x, y, x + w, y + h)
            boxes = {}
            for axis in axes:
                flip = axis == "y"
                box = extent_along_x(mask.T if flip else mask, card.T if flip else card,
                                     _transpose(region) if flip else region, max_gap_widths,
                                     min_run_widths)
                if box is not None:
                    boxes[axis] = _transpose(box) if flip else box
            if not boxes:
                continue
            # The core is the long object: the axis along which the box is most elongated.
            axis = max(boxes, key=lambda a: _elongation(boxes[a], a))
            score, quality = _score(mask, boxes[axis], labels.size, int(mask.sum()))
            found[subset] = Found(subset, region, boxes[axis], axis, score, quality)
    best = max(found.values(), key=lambda f: f.score, default=None)
    if best is None or best.score < _MIN_SCORE:
        return None
    chosen = best
    while True:
        # A subset wins on score alone, or at half of it on a clearly better shape inside the
        # best box with tray on both sides across it: the core inside the tray, not tray and
        # core together (a piece of the core cut off by a crack is not inset across).
        inner = [f for c, f in found.items() if len(c) < len(chosen.classes)
                 and set(c) < set(chosen.classes)
                 and (f.score >= _SUBSET_RATIO * best.score
                      or (f.quality >= best.quality + _SHAPE_MARGIN
                          and f.score >= 0.5 * best.score
                          and _inset_across(f, chosen) >= _SHAPE_MARGIN))]
        if not inner:
            break
        chosen = max(inner, key=lambda f: f.score)
    flip = chosen.axis == "y"
    grown = grow_ends(labels.T if flip else labels, chosen.classes, card.T if flip else card,
                      _transpose(chosen.box) if flip else chosen.box)
    return dataclasses.replace(chosen, box=_transpose(grown) if flip else grown)


def grow_ends(labels: np.ndarray, classes: tuple[int, ...], card: np.ndarray, box
              ) -> tuple[int, int, int, int]:
    """The core box (depth along x) grown at either end over lines that are not tray.

    A shadow across a core end (the tray wall's) darkens the sediment into another class than
    the core's. The tray's classes are those that fill `_TRAY_SHARE` of the bands beside the
    core's long sides (the core's own excepted); each end grows, line by line, while at most
    half of a line is tray and no card-like pixel shares it beyond `card_fraction` 0.2.
    """
    x0, y0, x1, y1 = box
    band = max(2, round(_SIDE_BAND * (y1 - y0)))
    beside = np.concatenate([labels[max(0, y0 - band):y0, x0:x1].ravel(),
                             labels[y1:y1 + band, x0:x1].ravel()])
    if beside.size == 0:
        return box
    share = np.bincount(beside, minlength=256)[:256] / beside.size
    tray = np.zeros(256, np.uint8)
    tray[(share >= _TRAY_SHARE) & ~np.isin(np.arange(256), classes)] = 1
    tray_lines = cv2.LUT(labels[y0:y1], tray).mean(0) > 0.5
    stop = tray_lines | (card[y0:y1].mean(0) >= 0.2)
    while x0 > 0 and not stop[x0 - 1]:
        x0 -= 1
    while x1 < len(stop) and not stop[x1]:
        x1 += 1
    return x0, y0, x1, y1


def _inset_across(inner: Found, outer: Found) -> float:
    """How far inside `outer`'s box `inner`'s lies across the core, on its nearer side, in
    `inner`'s widths."""
    a, b = inner.box, outer.box
    lo, hi = (1, 3) if inner.axis == "x" else (0, 2)
    return min(a[lo] - b[lo], b[hi] - a[hi]) / max(1, a[hi] - a[lo])


def _elongation(box, axis: str) -> float:
    x0, y0, x1, y1 = box
    along, across = (x1 - x0, y1 - y0) if axis == "x" else (y1 - y0, x1 - x0)
    return along / max(1, across)


def _transpose(box):
    x0, y0, x1, y1 = box
    return y0, x0, y1, x1


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a 1-D boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _card_beyond(card_cols: np.ndarray, run: tuple[int, int], width: int) -> bool:
    """Card-like lines within one core width of a run's ends: the run is a card's grey step."""
    lo, hi = max(0, run[0] - width), min(len(card_cols), run[1] + width)
    return bool(card_cols[lo:run[0]].any() or card_cols[run[1]:hi].any())


def extent_along_x(mask: np.ndarray, card: np.ndarray, box, max_gap_widths: float,
                   min_run_widths: float) -> tuple[int, int, int, int] | None:
    """The core's box with depth along x, from the chosen classes' mask and their region's box.

    Args:
        mask: (h, w) 0/1 mask of the core's classes.
        card: (h, w) bool, card-like (strongly coloured) pixels.
        box: the largest region's box, the seed.
        max_gap_widths, min_run_widths: as in `background.CropParams`.

    Returns:
        (x0, y0, x1, y1) or None.
    """
    x0, y0, x1, y1 = box
    rows = mask[:, x0:x1].mean(1) >= 0.5  # lines along the core mostly of the core's colours
    centre = (y0 + y1) // 2
    band = [r for r in runs(rows) if r[0] <= centre < r[1]] or [(y0, y1)]
    b0, b1 = band[0]
    width = b1 - b0
    card_cols = card[b0:b1].mean(0) >= 0.2
    # Thin cracks and inclined laminae leave lines only partly of the core's classes: closed
    # over a tenth of a core width, they do not cut a sliver off the core's ends.
    close = max(1, round(0.1 * width))
    cols = cv2.morphologyEx((mask[b0:b1].mean(0) >= 0.5).astype(np.uint8)[None],
                            cv2.MORPH_CLOSE, np.ones((1, close), np.uint8))[0] > 0
    pieces = runs(cols & ~card_cols)
    overlap = [min(e, x1) - max(s, x0) for s, e in pieces]
    if not pieces or max(overlap) <= 0:
        return None
    k = int(np.argmax(overlap))
    first = last = k
    share = mask[b0:b1].mean(0)

    def joins(a: int, b: int, new: int) -> bool:  # gap between pieces a < b, piece `new` added
        gap = pieces[b][0] - pieces[a][1]
        reach = slice(min(pieces[a][1], pieces[new][0]), max(pieces[b][0], pieces[new][1]))
        # A card-like line in the gap or in the run beyond (its grey steps) ends the core, and
        # a piece beyond a gap is solid sediment, not a scale bar's black blocks.
        return gap <= max_gap_widths * width and not card_cols[reach].any() \
            and not _card_beyond(card_cols, pieces[new], width) \
            and share[pieces[new][0]:pieces[new][1]].mean() >= _SOLID_RUN

    while first > 0 and joins(first - 1, first, first - 1):
        first -= 1
    while last < len(pieces) - 1 and joins(last, last + 1, last + 1):
        last += 1
    min_run = min_run_widths * width
    while first < k and pieces[first][1] - pieces[first][0] < min_run:
        first += 1
    while last > k and pieces[last][1] - pieces[last][0] < min_run:
        last -= 1
    return pieces[first][0], b0, pieces[last][1], b1


def search(work: np.ndarray, shape: tuple[int, int], params
           ) -> tuple[tuple[int, int, int, int], str, tuple] | None:
    """The robust method's core box on a photograph, before the cross crop.

    Args:
        work: (h, w, 3) uint8 CIELAB working copy (`working_reducer`).
        shape: (H, W) of the photograph.
        params: a `background.CropParams` (depth_axis, colour_classes, card_chroma,
            max_gap_widths, min_run_widths are read).

    Returns:
        (box, axis, region) in image pixels: the core's box, its depth axis ("x" or "y") and
        the largest region of its classes; None when nothing scores as a core.
    """
    sx, sy = work.shape[1] / shape[1], work.shape[0] / shape[0]
    # The search runs with the working copy's long side along x, so that a photograph and its
    # transpose give transposed boxes (k-means samples pixels in memory order).
    tall = work.shape[0] > work.shape[1]
    if tall:
        work = np.ascontiguousarray(work.transpose(1, 0, 2))
    card = np.empty(work.shape[:2], bool)
    for r in range(0, len(work), 16):  # float C* a few lines at a time
        card[r:r + 16] = lightness_chroma_of_lab8(work[r:r + 16])[1] >= params.card_chroma
    labels = colour_classes(work, params.colour_classes, card)
    swap = {"x": "y", "y": "x"} if tall else {"x": "x", "y": "y"}
    axes = ("x", "y") if params.depth_axis == "auto" else (swap[params.depth_axis],)
    found = find_core(labels, params.colour_classes, card, axes, params.max_gap_widths,
                      params.min_run_widths)
    if found is None:
        return None
    axis, box, region = swap[found.axis], found.box, found.region
    if tall:
        box, region = _transpose(box), _transpose(region)
    x0, y0, x1, y1 = box
    # Working pixels to image pixels, one working pixel inwards at either end (an edge pixel
    # of the working copy mixes core and tray): a crop keeps no background pixel.
    if axis == "x" and x1 - x0 > 4:
        x0, x1 = x0 + 1, x1 - 1
    elif axis == "y" and y1 - y0 > 4:
        y0, y1 = y0 + 1, y1 - 1
    full = (int(np.ceil(x0 / sx)), int(np.ceil(y0 / sy)), int(x1 / sx), int(y1 / sy))
    seed = (int(np.ceil(region[0] / sx)), int(np.ceil(region[1] / sy)), int(region[2] / sx),
            int(region[3] / sy))
    return full, axis, seed
