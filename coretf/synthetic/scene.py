"""The photograph around a synthetic core: tray, colour card, depth scale, liner and camera.

Lays the canvas out like an IODP Section Half Imaging Logger image -- depth along x, top at the
left, a colour card and scale beside the core top, the core in its liner on a dark tray -- and
takes the picture: vignetting and uneven lighting, optics blur, line-scan gain and sensor noise.
The sediment itself is painted by the caller (`cores`). Everything is laid out in centimetres, and
the photograph is composed in column tiles, which bounds memory at 500 dpi. Pure NumPy/OpenCV.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import cv2
import numpy as np

from coretf.synthetic import grids

# Canvas layout in cm. The core sits below a depth scale and between liner edges on a tray.
_PAD_LEFT, _CARD_W, _CARD_GAP, _PAD_RIGHT = 0.4, 6.0, 0.8, 1.0
_MARGIN_TOP, _MARGIN_BOTTOM, _CARD_INSET = 2.0, 1.2, 0.5
_RIM, _LINER, _RULER_Y = 0.35, 0.25, (0.55, 1.35)
_TRAY_LAB, _RIM_LAB = (22.0, 0.3, -1.5), (38.0, 0.0, -2.0)
_LINER_LAB, _RULER_LAB, _INK_L = (72.0, -1.5, 2.0), (88.0, 0.5, 9.0), 12.0
_GREYS = (96.0, 81.0, 66.0, 51.0, 36.0, 18.0)
_COLOURS = ((45, 60, 40), (55, -40, 35), (35, 15, -50), (85, 0, 80), (60, -30, -30), (50, 60, -15))
_TRAY_CELL = 0.1  # cm per grid cell
_BLUR_SIGMA_PX, _NOISE_SIGMA, _NOISE_BLOCK = 0.7, 0.006, 512
_TILE_PIXELS = 2_000_000  # pixels per rendered tile: bounds the float buffers at 500 dpi

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1), x1/y1 exclusive
# Paints core columns [c0, c1): L*, a*, b* planes, (Hc, c1 - c0) float32 each.
CorePainter = Callable[[int, int], list[np.ndarray]]


@dataclasses.dataclass
class Scene:
    """Everything around the core that a tile needs, drawn before the first tile is rendered."""

    p: float
    height: int
    core_box: Box
    card_box: Box
    ruler_x0: int            # canvas column of the depth scale's first ink column
    tray_grid: np.ndarray
    card_lab: np.ndarray
    ruler_ink: np.ndarray
    light_x: np.ndarray      # (W,) and (H,) additive L* lighting, zero mean over the core
    light_y: np.ndarray


def layout(length_cm: float, core_width_cm: float, p: float) -> tuple[int, int, Box, Box]:
    """Canvas (height, width) in pixels and the core's and colour card's boxes."""
    cx0 = round((_PAD_LEFT + _CARD_W + _CARD_GAP) * p)
    cx1, cy0 = cx0 + round(length_cm * p), round(_MARGIN_TOP * p)
    cy1 = cy0 + round(core_width_cm * p)
    height, width = cy1 + round(_MARGIN_BOTTOM * p), cx1 + round(_PAD_RIGHT * p)
    card_box = (round(_PAD_LEFT * p), round(_CARD_INSET * p), round((_PAD_LEFT + _CARD_W) * p),
                height - round(_CARD_INSET * p))
    return height, width, (cx0, cy0, cx1, cy1), card_box


def make_scene(p: float, height: int, width: int, core_box: Box, card_box: Box, sid: str,
               top: float, length_cm: float, texture_rng: np.random.Generator,
               camera_rng: np.random.Generator) -> Scene:
    """Draws the tray's texture from `texture_rng` and the lighting from `camera_rng`, and
    prints the colour card (section `sid`, depths `top` to `top + length_cm`) and depth scale."""
    cx0, _, cx1, _ = core_box
    light_x, light_y = _lighting(camera_rng, width, height, core_box)
    return Scene(
        p=p, height=height, core_box=core_box, card_box=card_box, ruler_x0=cx0 - round(0.3 * p),
        tray_grid=grids.noise_grid(texture_rng, _TRAY_CELL, height / p, width / p, (1.0, 8.0)),
        card_lab=_card_lab(card_box, p, sid, top, length_cm), ruler_ink=_ruler_ink(cx1 - cx0, p),
        light_x=light_x, light_y=light_y)


def photograph(sc: Scene, width: int, rng: np.random.Generator, key: tuple[int, int],
               core_lab: CorePainter) -> np.ndarray:
    """Renders the (H, W, 3) uint8 sRGB image tile by tile; `core_lab` paints the core."""
    image = np.empty((sc.height, width, 3), np.uint8)
    row_gain = (1 + 0.004 * rng.standard_normal(sc.height)).astype(np.float32)  # line-scan pixels
    tile = max(_NOISE_BLOCK, _TILE_PIXELS // sc.height // _NOISE_BLOCK * _NOISE_BLOCK)
    halo = int(np.ceil(4 * _BLUR_SIGMA_PX)) + 1
    for c0 in range(0, width, tile):
        c1 = min(width, c0 + tile)
        a0, a1 = max(0, c0 - halo), min(width, c1 + halo)
        rgb = cv2.cvtColor(_render_lab(sc, a0, a1, core_lab), cv2.COLOR_Lab2RGB)
        # Optics blur first, sensor noise after: tiles then join without seams.
        rgb = cv2.GaussianBlur(rgb, (0, 0), _BLUR_SIGMA_PX, borderType=cv2.BORDER_REFLECT)
        rgb = rgb[:, c0 - a0:c1 - a0] * row_gain[:, None, None]
        rgb += _sensor_noise(key, sc.height, c0, c1)
        image[:, c0:c1] = np.clip(rgb, 0, 1, out=rgb) * 255 + 0.5
    return image


def _lighting(rng, width, height, core_box):
    """Separable L* lighting: vignetting and a gradient across the core, zero mean on the core."""
    x = (np.arange(width) - width / 2) / (width / 2)
    y = (np.arange(height) - height / 2) / (height / 2)
    light_x = -rng.uniform(1.5, 4.0) * x**2 + rng.uniform(-1, 1) * x
    light_y = -rng.uniform(1.0, 3.0) * y**2 + rng.uniform(-2, 2) * y
    x0, y0, x1, y1 = core_box
    light_x -= light_x[x0:x1].mean()
    light_y -= light_y[y0:y1].mean()
    return light_x.astype(np.float32), light_y.astype(np.float32)


def _text(img, text, org_cm, height_cm, p, value) -> None:
    scale = height_cm * p / 22.0  # Hershey simplex capitals are ~22 px tall at scale 1
    cv2.putText(img, text, (round(org_cm[0] * p), round(org_cm[1] * p)), cv2.FONT_HERSHEY_SIMPLEX,
                scale, value, max(1, round(scale * 1.6)), cv2.LINE_AA)


def _card_lab(card_box, p, sid, top, length_cm) -> np.ndarray:
    """Colour card: grey steps, colour patches, a white/grey/black strip, label and cm scale."""
    x0, y0, x1, y1 = card_box
    lab = np.empty((y1 - y0, x1 - x0, 3), np.float32)
    lab[:] = (93.0, 0.0, 2.0)
    ink = np.zeros(lab.shape[:2], np.uint8)
    cv2.rectangle(ink, (0, 0), (lab.shape[1] - 1, lab.shape[0] - 1), 255, max(1, round(0.08 * p)))

    def box(xa, ya, xb, yb):  # card cm to pixel slices
        return slice(round(ya * p), round(yb * p)), slice(round(xa * p), round(xb * p))

    for i, (grey, colour) in enumerate(zip(_GREYS, _COLOURS)):
        lab[box(0.35, 0.4 + i, 2.05, 1.3 + i)] = (grey, 0, 0)
        lab[box(2.35, 0.4 + i, 4.05, 1.3 + i)] = colour
    for i, grey in enumerate((97.0, 50.0, 10.0)):
        lab[box(4.35, 0.4 + 2 * i, 5.65, 2.3 + 2 * i)] = (grey, 0, 0)
    _text(ink, sid, (0.4, 7.15), 0.5, p, 255)
    _text(ink, f"{top:.0f}-{top + length_cm:.0f} cm", (0.4, 7.85), 0.35, p, 255)
    ys, ye = round(8.05 * p), min(lab.shape[0], round(8.75 * p))
    lab[ys:ye, round(0.2 * p):round(5.8 * p)] = _RULER_LAB
    for mm in range(0, 51, 1 if p >= 30 else 10):  # mm ticks only where they resolve
        x = round((0.4 + mm / 10) * p)
        tick = 0.45 if mm % 10 == 0 else 0.2
        cv2.line(ink, (x, ys), (x, ys + round(tick * p)), 255, max(1, round(0.02 * p)))
    lab[ink > 0] = (_INK_L, 0, 0)
    return lab


def _ruler_ink(core_px: int, p: float) -> np.ndarray:
    """(rows, cols) uint8 ink of the depth scale; its column 0 lies 0.3 cm above the core top."""
    h = round((_RULER_Y[1] - _RULER_Y[0]) * p)
    ink = np.zeros((h, core_px + round(0.6 * p)), np.uint8)
    off = round(0.3 * p)
    for mm in range(0, int(core_px / p * 10) + 1, 1 if p >= 30 else 10):
        x = off + round(mm * p / 10)
        tick = 0.55 if mm % 100 == 0 else 0.42 if mm % 50 == 0 else 0.3 if mm % 10 == 0 else 0.15
        cv2.line(ink, (x, 0), (x, round(tick * p)), 255, max(1, round(0.02 * p)))
        if mm % 100 == 0:
            _text(ink, str(mm // 10), (x / p + 0.08, 0.72), 0.22, p, 255)
    return ink


def _render_lab(sc: Scene, a0: int, a1: int, core_lab: CorePainter) -> np.ndarray:
    """CIELAB of canvas columns [a0, a1): (H, a1 - a0, 3) float32."""
    p, height, n = sc.p, sc.height, a1 - a0
    x_cm = ((np.arange(a0, a1) + 0.5) / p).astype(np.float32)
    y_cm = ((np.arange(height) + 0.5) / p).astype(np.float32)
    # One contiguous plane per channel: strided channel arithmetic costs several times more.
    planes = [_TRAY_LAB[0] + 1.2 * grids.sample(sc.tray_grid, _TRAY_CELL, x_cm, y_cm)]
    planes += [np.full((height, n), value, np.float32) for value in _TRAY_LAB[1:]]

    def paint(rows, cols, lab):  # lab: (..., 3), broadcast over the painted block
        for ch, plane in enumerate(planes):
            plane[rows, cols] = np.asarray(lab)[..., ch]

    rim = round(_RIM * p)
    for rows in (slice(0, rim), slice(height - rim, height)):  # tray walls, same plastic texture
        planes[0][rows] += _RIM_LAB[0] - _TRAY_LAB[0]
        planes[1][rows], planes[2][rows] = _RIM_LAB[1:]
    cx0, cy0, cx1, cy1 = sc.core_box

    def clip(lo, hi):  # canvas columns [lo, hi) to tile columns
        return min(max(lo - a0, 0), n), min(max(hi - a0, 0), n)

    j0, j1 = clip(sc.ruler_x0, sc.ruler_x0 + sc.ruler_ink.shape[1])
    if j1 > j0:
        liner = round(_LINER * p)
        for rows, fade in ((slice(cy0 - liner, cy0), 1), (slice(cy1, cy1 + liner), -1)):
            # The liner's cut edge catches the light on its outer side.
            ramp = np.linspace(4, -4, liner, dtype=np.float32)[::fade, None, None]
            paint(rows, slice(j0, j1), np.add(_LINER_LAB, ramp * [1, 0, 0]))
        r0 = round(_RULER_Y[0] * p)
        rows = slice(r0, r0 + sc.ruler_ink.shape[0])
        ink = sc.ruler_ink[:, a0 + j0 - sc.ruler_x0:a0 + j1 - sc.ruler_x0, None] > 0
        paint(rows, slice(j0, j1), np.where(ink, (_INK_L, 0.0, 0.0), _RULER_LAB))
    k0, k1 = clip(sc.card_box[0], sc.card_box[2])
    if k1 > k0:
        paint(slice(sc.card_box[1], sc.card_box[3]), slice(k0, k1),
              sc.card_lab[:, a0 + k0 - sc.card_box[0]:a0 + k1 - sc.card_box[0]])
    j0, j1 = clip(cx0, cx1)
    if j1 > j0:
        for plane, core in zip(planes, core_lab(a0 + j0 - cx0, a0 + j1 - cx0)):
            plane[cy0:cy1, j0:j1] = core
    planes[0] += sc.light_x[a0:a1][None, :] + sc.light_y[:, None]
    return cv2.merge(planes)


def _sensor_noise(key: tuple[int, int], height: int, c0: int, c1: int) -> np.ndarray:
    """Sensor noise of columns [c0, c1), drawn per fixed block so tiling cannot change it."""
    blocks = []
    for b in range(c0 // _NOISE_BLOCK, (c1 - 1) // _NOISE_BLOCK + 1):
        raw = np.random.default_rng([*key, 1, b]).bytes(2 * height * _NOISE_BLOCK * 3)
        blocks.append(np.frombuffer(raw, np.uint8).reshape(2, height, _NOISE_BLOCK, 3))
    first = c0 // _NOISE_BLOCK * _NOISE_BLOCK
    pair = np.concatenate(blocks, 2)[:, :, c0 - first:c1 - first]
    # A sum of two uniform bytes is near-Gaussian (sd 104.5) and far cheaper to draw.
    return (pair[0].astype(np.float32) + pair[1] - 255.0) * (_NOISE_SIGMA / 104.5)
