"""The seeded method's extension along the core (`background.find_core_box(method="seeded")`).

The paper's box is the seed; each line across the core inside its band is sediment, dark (crack,
void, dark layer, or the tray) or card-like (white or strongly coloured pixels, as on a colour
card); sediment runs separated by dark gaps shorter than `max_gap_widths` core widths are joined,
a card-like line stops the extension, and end slivers shorter than `min_run_widths` widths are
dropped. This is the method the sediment_cores builder's `*_cropped` configs were released with:
keep its output unchanged. NumPy and OpenCV.
"""

from __future__ import annotations

import numpy as np

from coretf.preprocess import core_region

_CHUNK = 4096  # lines across the core measured at a time (bounds the float buffers)


def _line_kinds(lab, lo: int, hi: int, dark_l: float, params):
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
        band = np.ascontiguousarray(lab[lo:hi, c0:c0 + _CHUNK])
        band_l, band_c = core_region.lightness_chroma_of_lab8(band)
        share = ((band_c >= params.card_chroma) | (band_l >= params.white_l)).mean(axis=0)
        card[c0:c0 + _CHUNK] = share >= params.card_fraction
        dark[c0:c0 + _CHUNK] = np.median(band_l, axis=0) < dark_l
    return card, dark


def extend_along_core(lab, seed, dark_l: float, params) -> tuple[int, int]:
    """The robust method's extent [x0, x1) along the core (x), grown from the seed box."""
    x0, y0, x1, y1 = seed
    width = y1 - y0
    card, dark = _line_kinds(lab, y0, y1, dark_l, params)
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
