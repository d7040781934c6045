"""Section photographs drawn unlike the builder's, for testing and benchmarking background removal.

The builder's sections (`cores.make_section`) are all laid out alike: a dark tray, the colour card
at the left, a depth scale above the core, 40 px/cm. A lab's photographs are not: trays are dark,
grey, blue or light (a light tray is lighter than the sediment), liner edges run along the core or
not, the colour card and a scale bar sit at either end, depth runs along the rows or the columns,
the scale is anything from 20 to 200 px/cm, the lighting is uneven, and the sediment is darker or
lighter than the builder's mud. `draw_conditions` draws such a layout from a random generator and
`make_photo` renders it around a core painted by `cores` (disturbances, laminae and cracks
included), with the exact core box as ground truth. The builder's sections are untouched.

Everything is laid out in cm; a photograph is rendered whole (the pixel budget of
`draw_conditions` bounds it), then turned to its depth axis. Pure NumPy/OpenCV.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from coretf.synthetic import cores
from coretf.synthetic import grids
from coretf.synthetic import scene

TRAYS = ("dark", "grey", "blue", "light")
# CIELAB ranges (L*, a*, b*: low, high) of each tray plastic. Grey spans the sediment's lightness
# on purpose: there only colour tells the tray from the core. Light is lighter than any sediment.
_TRAY_RANGES = {
    "dark": ((12, 30), (-2, 2), (-4, 2)),
    "grey": ((35, 72), (-2, 2), (-4, 3)),
    "blue": ((32, 58), (-6, 10), (-48, -25)),
    "light": ((78, 93), (-2, 2), (-2, 6)),
}
_TRAY_CELL = 0.1  # cm per texture cell

__all__ = ["TRAYS", "PhotoConditions", "SectionPhoto", "draw_conditions", "make_photo"]


@dataclasses.dataclass(frozen=True)
class PhotoConditions:
    """The layout and camera of one photograph (lengths in cm).

    Attributes:
        tray: one of TRAYS.
        tray_lab: the tray's CIELAB colour.
        depth_axis: "x" (core along the columns) or "y" (along the rows).
        top_first: the core top at the left (x) or at the top (y) of the image.
        card_end: "top", "base" or "none": where the colour card lies.
        scale_bar: "top", "base", "along" (a depth scale beside the core) or "none".
        liner: liner edges along both sides of the core.
        px_per_cm: resolution.
        length_cm, core_width_cm: the core's size.
        margin_cm: tray showing on either side across the core (before the tray walls).
        end_gap_cm: tray between each core end and the card or the image end.
        sediment_shift: CIELAB offset of the whole core from the builder's mud.
        light_gradient, vignetting: L* range of the lighting's ramp along the image and of the
            darkening at its corners.
    """

    tray: str
    tray_lab: tuple[float, float, float]
    depth_axis: str
    top_first: bool
    card_end: str
    scale_bar: str
    liner: bool
    px_per_cm: float
    length_cm: float
    core_width_cm: float
    margin_cm: tuple[float, float]
    end_gap_cm: tuple[float, float]
    sediment_shift: tuple[float, float, float]
    light_gradient: float
    vignetting: float


@dataclasses.dataclass(frozen=True)
class SectionPhoto:
    """A rendered photograph and its truth."""

    image: np.ndarray                    # (H, W, 3) uint8 sRGB
    core_box: tuple[int, int, int, int]  # (x0, y0, x1, y1) of the core, x1/y1 exclusive
    conditions: PhotoConditions


def draw_conditions(rng: np.random.Generator, *, px_per_cm: tuple[float, float] = (20.0, 200.0),
                    max_pixels: float = 12e6, tray: str | None = None,
                    depth_axis: str | None = None) -> PhotoConditions:
    """Draws a layout: every choice uniform over its options, px/cm log-uniform in the range.

    The core's length is drawn from 60-150 cm and shortened to fit `max_pixels`, never below
    2.5 core widths: the core stays the long object of the photograph.

    Args:
        rng: the generator.
        px_per_cm: (low, high) resolution range.
        max_pixels: pixel budget of the photograph.
        tray, depth_axis: fix these instead of drawing them.
    """
    tray = tray or TRAYS[rng.integers(len(TRAYS))]
    lab = tuple(float(rng.uniform(*r)) for r in _TRAY_RANGES[tray])
    p = float(np.exp(rng.uniform(np.log(px_per_cm[0]), np.log(px_per_cm[1]))))
    width = float(rng.uniform(5.0, 8.0))
    margin = (float(rng.uniform(0.4, 2.5)), float(rng.uniform(0.4, 2.5)))
    gaps = (float(rng.uniform(0.5, 3.0)), float(rng.uniform(0.5, 3.0)))
    card_end = ("top", "base", "none")[rng.integers(3)]
    scale_bar = ("top", "base", "along", "none")[rng.integers(4)]
    across_cm = width + sum(margin) + 1.6 + (1.2 if scale_bar == "along" else 0.0)
    ends_cm = sum(gaps) + (7.0 if card_end != "none" else 0) + (4.0 if scale_bar in ("top", "base") else 0)
    fit = max_pixels / (across_cm * p * p) - ends_cm
    length = float(max(2.5 * width, min(rng.uniform(60.0, 150.0), fit)))
    shift = (float(rng.uniform(-14, 20)), float(rng.uniform(-3, 4)), float(rng.uniform(-6, 8)))
    return PhotoConditions(
        tray=tray, tray_lab=lab,
        depth_axis=depth_axis or ("x", "y")[rng.integers(2)], top_first=bool(rng.random() < 0.5),
        card_end=card_end, scale_bar=scale_bar, liner=bool(rng.random() < 0.7), px_per_cm=p,
        length_cm=length, core_width_cm=width, margin_cm=margin, end_gap_cm=gaps,
        sediment_shift=shift, light_gradient=float(rng.uniform(0, 16)),
        vignetting=float(rng.uniform(0, 14)))


def make_photo(index: int, conditions: PhotoConditions, *, seed: int = 0) -> SectionPhoto:
    """Renders the photograph of core `index` of hole `seed` under `conditions`.

    Deterministic in (index, seed, conditions).

    Returns:
        A `SectionPhoto`; its core box is exact (the painted core, liner edges excluded).
    """
    c = conditions
    p = c.px_per_cm
    px = lambda cm: max(1, round(cm * p))  # noqa: E731
    rim, liner = px(0.35), px(0.25) if c.liner else 0
    bar = px(1.2) if c.scale_bar == "along" else 0
    core_w, core_l = px(c.core_width_cm), px(c.length_cm)
    card_l = px(6.0) if c.card_end != "none" else 0
    bar_l = px(3.5) if c.scale_bar in ("top", "base") else 0
    # Along the core, top end first: [gap][card][gap][scale bar][gap][core][gap][...][gap].
    top_items = [w for end, w in ((c.card_end, card_l), (c.scale_bar, bar_l)) if end == "top" and w]
    base_items = [w for end, w in ((c.card_end, card_l), (c.scale_bar, bar_l)) if end == "base" and w]
    g0, g1 = px(c.end_gap_cm[0]), px(c.end_gap_cm[1])
    cx0 = g0 + sum(w + g0 for w in top_items)
    cx1 = cx0 + core_l
    width = cx1 + g1 + sum(w + g1 for w in base_items)
    cy0 = rim + bar + px(c.margin_cm[0]) + liner
    cy1 = cy0 + core_w
    height = cy1 + liner + px(c.margin_cm[1]) + rim
    rng = np.random.default_rng([seed, index, 7])
    disturbance = np.zeros((core_w, core_l), np.uint8)
    core, _, texture_rng, _ = cores.draw_core(seed, index, c.length_cm, c.core_width_cm, p,
                                              disturbance)

    tray = grids.noise_grid(texture_rng, _TRAY_CELL, height / p, width / p, (1.0, 8.0))
    x_cm = ((np.arange(width) + 0.5) / p).astype(np.float32)
    y_cm = ((np.arange(height) + 0.5) / p).astype(np.float32)
    lab = np.empty((height, width, 3), np.float32)
    lab[:] = c.tray_lab
    lab[..., 0] += 1.5 * grids.sample(tray, _TRAY_CELL, x_cm, y_cm)
    wall = np.clip(np.array(c.tray_lab) + (10.0 if c.tray_lab[0] < 60 else -10.0, 0, 0), 0, 100)
    lab[:rim], lab[height - rim:] = wall, wall  # tray walls catch the light (or shade)
    if liner:  # translucent liner edges; their cut rim is lighter on the outer side
        liner_lab = (float(rng.uniform(55, 85)), float(rng.uniform(-2, 1)), float(rng.uniform(-2, 6)))
        ramp = np.linspace(5, -5, liner, dtype=np.float32)[:, None]
        lab[cy0 - liner:cy0, cx0:cx1] = liner_lab
        lab[cy0 - liner:cy0, cx0:cx1, 0] += ramp
        lab[cy1:cy1 + liner, cx0:cx1] = liner_lab
        lab[cy1:cy1 + liner, cx0:cx1, 0] += ramp[::-1]
    if bar:  # a depth scale beside the core
        ink = scene._ruler_ink(core_l, p)
        r0 = rim + px(0.1)
        strip = lab[r0:r0 + ink.shape[0], max(0, cx0 - px(0.3)):cx0 - px(0.3) + ink.shape[1]]
        strip[:] = (88.0, 0.5, 9.0)
        strip[ink[:, :strip.shape[1]] > 0] = (12.0, 0, 0)
    label = f"S{index:04d}"
    x = g0
    for items, end in ((top_items, "top"), (base_items, "base")):
        if end == "base":
            x = cx1 + g1
        for w in items:
            y0, y1 = rim + px(0.2), height - rim - px(0.2)
            if w == card_l and c.card_end == end:
                lab[y0:y1, x:x + w] = scene._card_lab((0, 0, w, y1 - y0), p, label, 0.0, c.length_cm)
            else:  # a white scale bar with black cm blocks
                lab[y0:y1, x:x + w] = (92.0, 0, 2)
                for k in range(0, round((y1 - y0) / p)):
                    if k % 2 == 0:
                        lab[y0 + px(k):y0 + px(k + 1), x + w // 3:x + 2 * w // 3] = (10.0, 0, 0)
            x += w + (g0 if end == "top" else g1)
    step = max(256, 2_000_000 // core_w)  # columns painted at a time: bounds the float buffers
    for c0 in range(0, core_l, step):
        c1 = min(core_l, c0 + step)
        for ch, plane in enumerate(cores.paint_core(core, c0, c1)):
            lab[cy0:cy1, cx0 + c0:cx0 + c1, ch] = plane + c.sediment_shift[ch]
    # Uneven light: a ramp along the image, vignetting, a soft gradient across it.
    u = (np.arange(width, dtype=np.float32) / width - 0.5)[None, :]
    v = (np.arange(height, dtype=np.float32) / height - 0.5)[:, None]
    lab[..., 0] += c.light_gradient * u * rng.choice([-1, 1]) - c.vignetting * 2 * (u**2 + v**2)
    lab[..., 0] += float(rng.uniform(-3, 3)) * v
    np.clip(lab[..., 0], 0, 100, out=lab[..., 0])
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    rgb = cv2.GaussianBlur(rgb, (0, 0), 0.7, borderType=cv2.BORDER_REFLECT)
    rgb += 0.008 * rng.standard_normal(rgb.shape, dtype=np.float32)
    image = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    box = (cx0, cy0, cx1, cy1)
    if not c.top_first:  # the core top at the right (or the bottom)
        image = image[:, ::-1]
        box = (width - cx1, cy0, width - cx0, cy1)
    if c.depth_axis == "y":
        image = image.transpose(1, 0, 2)
        box = (box[1], box[0], box[3], box[2])
    return SectionPhoto(np.ascontiguousarray(image), box, c)
