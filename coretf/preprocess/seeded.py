"""The paper's region and the seeded method's extension along the core
(`background.find_core_box(method="paper"/"seeded")`).

`paper_region` is the paper's box (the largest region of the core classes after its opening),
made band by band along the photograph at full resolution. The paper's box is the seed; each
line across the core inside its band is sediment, dark (crack, void, dark layer, or the tray)
or card-like (white or strongly coloured pixels, as on a colour card); sediment runs separated
by dark gaps shorter than `max_gap_widths` core widths are joined, a card-like line stops the
extension, and end slivers shorter than `min_run_widths` widths are dropped. This is the method
the sediment_cores builder's `*_cropped` configs were released with: keep its output unchanged.
NumPy and OpenCV.
"""

from __future__ import annotations

import cv2
import numpy as np

from coretf import image_source
from coretf.preprocess import core_region


def _line_kinds(source: image_source.ImageSource, lo: int, hi: int, dark_l: float, params,
                band: int):
    """Per line across the core (image columns; the core runs along x here): card-like and dark.

    Args:
        source: the RGB photograph with depth along x (an `image_source.View` of a transposed
            one); only the seed's band is read, `band` lines at a time (the float copies too).
        lo, hi: the cross-core band [lo, hi) of rows the lines are measured in.
        dark_l: L* below which a line's median makes it dark (the lowest multi-Otsu threshold).

    Returns:
        card (W,) bool and dark (W,) bool.
    """
    width = source.shape[1]
    card, dark = np.empty(width, bool), np.empty(width, bool)
    for c0 in range(0, width, band):
        region = source.read(lo, hi, c0, min(width, c0 + band))
        band_l, band_c = core_region.lightness_chroma_of_lab8(core_region.lab8(region))
        share = ((band_c >= params.card_chroma) | (band_l >= params.white_l)).mean(axis=0)
        card[c0:c0 + band] = share >= params.card_fraction
        dark[c0:c0 + band] = np.median(band_l, axis=0) < dark_l
    return card, dark


def extend_along_core(source: image_source.ImageSource, seed, dark_l: float, params,
                      band: int) -> tuple[int, int]:
    """The seeded method's extent [x0, x1) along the core (x), grown from the seed box.

    Args:
        source: the RGB photograph with depth along x (see `_line_kinds`).
        seed: the paper's box (x0, y0, x1, y1) in that frame.
        dark_l: the lowest multi-Otsu threshold, L*.
        params: a `background.CropParams`.
        band: lines read at a time (the result does not depend on it).
    """
    x0, y0, x1, y1 = seed
    width = y1 - y0
    card, dark = _line_kinds(source, y0, y1, dark_l, params, band)
    sediment = ~card & ~dark
    max_gap, min_run = params.max_gap_widths * width, params.min_run_widths * width
    runs = core_region.runs(sediment)
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


def _opened(levels: np.ndarray, core_lut: np.ndarray, params) -> np.ndarray:
    """The core classes of 8-bit L* levels (H, W) (a lookup table, one byte a pixel), then the
    paper's opening: (H, W) uint8 0/1."""
    mask = cv2.LUT(np.ascontiguousarray(levels), core_lut)
    mask = cv2.erode(mask, np.ones((params.erode_kernel,) * 2, np.uint8),
                     iterations=params.erode_iterations)
    return cv2.dilate(mask, np.ones((params.dilate_kernel,) * 2, np.uint8),
                      iterations=params.dilate_iterations)


def paper_region(source: image_source.ImageSource, core_lut: np.ndarray, params, band: int
                 ) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1) of the largest region (8-connected, most pixels) of the
    core classes after the paper's opening, made band by band along the long axis.

    Each band is opened with a margin wider than the opening reaches, so its lines are those of
    the whole image's opening; regions that meet across a band's edge are joined. The paper
    ranks the regions' outer contours by the area they enclose; pixels, which can be counted
    band by band, rank them the same way except for a region inside another's hole.

    Args:
        source: the RGB photograph.
        core_lut: (256,) uint8, 1 for the 8-bit L* levels of the core classes.
        params: a `background.CropParams` (the opening's kernels and iterations).
        band: lines read at a time (the result does not depend on it).

    Returns:
        The box, or None when no pixel survives the opening.
    """
    axis = image_source.long_axis(source)
    height, width = source.shape
    length = source.shape[axis]
    margin = params.erode_iterations * (params.erode_kernel - 1) + \
        params.dilate_iterations * (params.dilate_kernel - 1) + 1
    parent, areas, boxes = [], [], []
    seam = None  # region numbers along the previous band's last line (-1: not core)

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for first in range(0, length, band):
        last = min(length, first + band)
        lo, hi = max(0, first - margin), min(length, last + margin)
        region = source.read(lo, hi, 0, width) if axis == 0 else source.read(0, height, lo, hi)
        opened = _opened(core_region.lab8(region)[..., 0], core_lut, params)
        opened = opened[first - lo:last - lo] if axis == 0 else opened[:, first - lo:last - lo]
        _, labels, stats, _ = cv2.connectedComponentsWithStats(np.ascontiguousarray(opened),
                                                               connectivity=8)
        base = len(parent) - 1  # band label j >= 1 is region base + j
        for x, y, w, h, area in stats[1:].tolist():
            x, y = (x + first, y) if axis == 1 else (x, y + first)
            parent.append(len(parent))
            areas.append(area)
            boxes.append((x, y, x + w, y + h))
        line = labels[0] if axis == 0 else labels[:, 0]
        current = np.where(line > 0, line + base, -1)
        if seam is not None:  # 8-connected across the edge: the same line or a diagonal
            n = len(line)
            for shift in (-1, 0, 1):
                a = seam[max(0, -shift):n - max(0, shift)]
                b = current[max(0, shift):n - max(0, -shift)]
                both = (a >= 0) & (b >= 0)
                for i, j in set(zip(a[both].tolist(), b[both].tolist())):
                    parent[root(i)] = root(j)
        end = labels[-1] if axis == 0 else labels[:, -1]
        seam = np.where(end > 0, end + base, -1)
    totals: dict[int, list] = {}
    for i, (area, box) in enumerate(zip(areas, boxes)):
        total = totals.setdefault(root(i), [0, box])
        total[0] += area
        b = total[1]
        total[1] = (min(b[0], box[0]), min(b[1], box[1]), max(b[2], box[2]), max(b[3], box[3]))
    if not totals:
        return None
    return max(totals.values(), key=lambda t: t[0])[1]
