"""Procedural split-core section photographs with exact disturbance masks.

Simulated ground truth, as Hutton (2025, `seeds/000_*`, §5) asks for: a photograph laid out like
an IODP Section Half Imaging Logger image -- depth along x, top at the left, a colour card and
scale beside the core top, the core in its liner on a dark tray -- with hemipelagic mud whose
colour switches between two CIELAB clusters that differ mostly in redness (the paper's Fig. 8),
and the disturbances of §1.1.5 drawn with exact labels (see `disturbances`). Labels follow the
paper's GIMP alpha convention: 1 = undisturbed sediment, 0 = disturbed sediment or background.

Everything is generated in centimetres, so a section renders the same at 20, 40 or 197 px/cm;
the photograph is composed in column tiles, which bounds memory at 500 dpi. Pure NumPy/OpenCV.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from coretf.synthetic import disturbances as dist
from coretf.synthetic.disturbances import DISTURBANCE_CODES

# L*, a*, b* (OpenCV float convention, L* 0-100) of the two sediment colour clusters: olive-grey
# and browner, redder mud. They differ most in a* (redness), as in the paper's Fig. 8.
CLUSTER_MEANS_LAB = np.array([[54.0, -0.5, 10.0], [46.0, 4.5, 13.0]], np.float32)

# How much of the host sediment's signal survives inside each type (row = code). Columns:
# lamination and mottling, fine grain texture, chroma. Lamination is what the paper's labellers
# looked for: burrow fills and flowed sediment lose it, an open crack shows only shadow.
APPEARANCE_KEEP = np.array([
    [1.0, 1.0, 1.0],    # none
    [0.0, 0.3, 0.5],    # crack
    [0.0, 0.5, 0.55],   # void
    [0.2, 1.1, 0.85],   # planolites
    [0.15, 1.2, 0.85],  # thalassinoides
    [0.6, 1.0, 0.8],    # chondrites: host lamination shows between the dots
    [0.5, 0.3, 0.75],   # scrape: smeared smooth, reflective
    [0.5, 0.25, 0.9],   # soupy: lamination is also swirled by the renderer
    [0.3, 0.5, 0.5],    # oxidation
    [0.7, 0.4, 0.9],    # flow-in: lamination dragged along the liner by the renderer
], np.float32)

__all__ = ["APPEARANCE_KEEP", "CLUSTER_MEANS_LAB", "DISTURBANCE_CODES", "SyntheticSection",
           "make_section", "section_mean_lab"]

# Canvas layout in cm. The core sits below a depth scale and between liner edges on a tray.
_PAD_LEFT, _CARD_W, _CARD_GAP, _PAD_RIGHT = 0.4, 6.0, 0.8, 1.0
_MARGIN_TOP, _MARGIN_BOTTOM, _CARD_INSET = 2.0, 1.2, 0.5
_RIM, _LINER, _RULER_Y = 0.35, 0.25, (0.55, 1.35)
_TRAY_LAB, _RIM_LAB = (22.0, 0.3, -1.5), (38.0, 0.0, -2.0)
_LINER_LAB, _RULER_LAB, _INK_L = (72.0, -1.5, 2.0), (88.0, 0.5, 9.0), 12.0
_GREYS = (96.0, 81.0, 66.0, 51.0, 36.0, 18.0)
_COLOURS = ((45, 60, 40), (55, -40, 35), (35, 15, -50), (85, 0, 80), (60, -30, -30), (50, 60, -15))
_TEX_CELL, _MOTTLE_CELL, _WARP_CELL, _TRAY_CELL = 0.025, 0.1, 0.25, 0.1  # cm per grid cell
_BLUR_SIGMA_PX, _NOISE_SIGMA, _NOISE_BLOCK = 0.7, 0.006, 512
_TILE_PIXELS = 2_000_000  # pixels per rendered tile: bounds the float buffers at 500 dpi
# 256-entry float tables of APPEARANCE_KEEP's columns, for cv2.LUT on the code map.
_KEEP_LUTS = [np.pad(col, (0, 256 - len(col))).astype(np.float32) for col in APPEARANCE_KEEP.T]


@dataclasses.dataclass(frozen=True)
class SyntheticSection:
    """One synthetic section photograph and its ground truth (depth along x, top at x = 0)."""

    section_id: str
    image: np.ndarray                    # (H, W, 3) uint8 sRGB
    mask: np.ndarray                     # (H, W) uint8: 1 undisturbed sediment, else 0
    disturbance: np.ndarray              # (H, W) uint8 DISTURBANCE_CODES
    core_box: tuple[int, int, int, int]  # (x0, y0, x1, y1), x1/y1 exclusive
    card_box: tuple[int, int, int, int]
    px_per_cm: float
    top_depth_cm: float
    length_cm: float
    cluster: np.ndarray                  # (W_core,) int8 colour cluster of each depth column


@dataclasses.dataclass
class _Scene:
    """Everything a tile needs; every random draw is made before the first tile is rendered."""

    p: float
    height: int
    core_box: tuple[int, int, int, int]
    card_box: tuple[int, int, int, int]
    ruler_x0: int            # canvas column of the depth scale's first ink column
    profile: np.ndarray      # (1, N, 4) float32 along depth: L*, a*, b*, lamination L*
    u0: float                # depth (cm) of profile sample 0 and the sample spacing
    du: float
    bow_t: np.ndarray        # depth samples (cm) and bowing of the beds at the liner (cm)
    bow_v: np.ndarray
    tex_grid: np.ndarray     # fine grain texture, _TEX_CELL cells
    mottle_grid: np.ndarray  # faint natural mottling: not labelled, as in the paper
    warp_grid: np.ndarray    # displacement field of soupy flow
    tray_grid: np.ndarray
    zones: list
    code_map: np.ndarray     # (Hc, Wc) view into the section's disturbance array
    delta_map: np.ndarray    # (Hc, Wc, 3) int8 colour offsets of the stamps
    card_lab: np.ndarray
    ruler_ink: np.ndarray
    light_x: np.ndarray      # (W,) and (H,) additive L* lighting, zero mean over the core
    light_y: np.ndarray


def make_section(index: int, *, seed: int = 0, length_cm: float = 150.0, px_per_cm: float = 40.0,
                 core_width_cm: float = 6.8, top_depth_cm: float | None = None
                 ) -> SyntheticSection:
    """Renders synthetic split-core section `index` of the hole drawn with `seed`.

    Deterministic in (seed, index, length_cm, core_width_cm); px_per_cm only changes the
    sampling, so the same section can be had at 20, 40 or 197 px/cm (500 dpi).

    Args:
      index: section number down the hole (>= 0); also names the section ("S0007").
      seed: the hole's random seed.
      length_cm: core length along depth.
      px_per_cm: resolution; a 150 cm section at 40 px/cm is 6,328 x 400 pixels.
      core_width_cm: width of the split face across the core.
      top_depth_cm: depth of the core top below the sea floor; default index * length_cm.

    Returns:
      A `SyntheticSection`.
    """
    if index < 0 or length_cm <= 2 or px_per_cm <= 0 or core_width_cm <= 1:
        raise ValueError("need index >= 0, length_cm > 2, px_per_cm > 0 and core_width_cm > 1")
    p = float(px_per_cm)
    top = index * length_cm if top_depth_cm is None else float(top_depth_cm)
    sid = f"S{index:04d}"
    cx0 = round((_PAD_LEFT + _CARD_W + _CARD_GAP) * p)
    cx1, cy0 = cx0 + round(length_cm * p), round(_MARGIN_TOP * p)
    cy1 = cy0 + round(core_width_cm * p)
    height, width = cy1 + round(_MARGIN_BOTTOM * p), cx1 + round(_PAD_RIGHT * p)
    core_box = (cx0, cy0, cx1, cy1)
    card_box = (round(_PAD_LEFT * p), round(_CARD_INSET * p), round((_PAD_LEFT + _CARD_W) * p),
                height - round(_CARD_INSET * p))
    # Independent streams, so that e.g. the disturbances do not change with the texture code.
    colour_rng, texture_rng, disturbance_rng, camera_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence([seed, index]).spawn(4))
    disturbance = np.zeros((height, width), np.uint8)
    code_map = disturbance[cy0:cy1, cx0:cx1]
    delta_map = np.zeros(code_map.shape + (3,), np.int8)
    zones, stamps = dist.generate(disturbance_rng, length_cm, core_width_cm)
    dist.rasterize(stamps, zones, code_map, delta_map, p)
    u0, du, profile, weight = _depth_profile(colour_rng, length_cm)
    bow_t = np.arange(-3.0, length_cm + 1.0, 0.5)
    # Bowed bedding (drilling disturbance b): liner drag bends the beds down at the edges, most
    # in the soft top of a core. Mild, so not labelled.
    bow_v = colour_rng.uniform(0, 0.8) * (0.4 + 0.6 * np.exp(-np.clip(bow_t, 0, None) / 25))
    bow_v *= np.clip(1 + 0.4 * dist.smooth_noise(colour_rng, len(bow_t), 6), 0, 2)
    tex = _noise_grid(texture_rng, _TEX_CELL, core_width_cm, length_cm, (0.8,))
    specks = texture_rng.random(tex.shape)  # sand-sized forams and dark grains: not disturbance
    tex += np.where(specks < 0.003, 3.5, 0) - np.where(specks > 0.997, 2.5, 0)
    light_x, light_y = _lighting(camera_rng, width, height, core_box)
    scene = _Scene(
        p=p, height=height, core_box=core_box, card_box=card_box, ruler_x0=cx0 - round(0.3 * p),
        profile=profile, u0=u0, du=du, bow_t=bow_t, bow_v=bow_v, tex_grid=tex,
        mottle_grid=_noise_grid(texture_rng, _MOTTLE_CELL, core_width_cm, length_cm, (1.5, 6.0)),
        warp_grid=_noise_grid(texture_rng, _WARP_CELL, core_width_cm, length_cm, (2.0, 5.0)),
        tray_grid=_noise_grid(texture_rng, _TRAY_CELL, height / p, width / p, (1.0, 8.0)),
        zones=zones, code_map=code_map, delta_map=delta_map,
        card_lab=_card_lab(card_box, p, sid, top, length_cm), ruler_ink=_ruler_ink(cx1 - cx0, p),
        light_x=light_x, light_y=light_y)
    image = _photograph(scene, width, camera_rng, (seed, index))
    mask = np.zeros((height, width), np.uint8)
    mask[cy0:cy1, cx0:cx1] = code_map == 0
    x_mid = (np.arange(cx1 - cx0) + 0.5) / p
    cluster = np.interp(x_mid, u0 + du * np.arange(len(weight)), weight) >= 0.5
    return SyntheticSection(sid, image, mask, disturbance, core_box, card_box, p, top,
                            (cx1 - cx0) / p, cluster.astype(np.int8))


def _photograph(sc: _Scene, width: int, rng: np.random.Generator, key: tuple[int, int]
                ) -> np.ndarray:
    """Renders the (H, W, 3) uint8 sRGB image tile by tile."""
    image = np.empty((sc.height, width, 3), np.uint8)
    row_gain = (1 + 0.004 * rng.standard_normal(sc.height)).astype(np.float32)  # line-scan pixels
    tile = max(_NOISE_BLOCK, _TILE_PIXELS // sc.height // _NOISE_BLOCK * _NOISE_BLOCK)
    halo = int(np.ceil(4 * _BLUR_SIGMA_PX)) + 1
    for c0 in range(0, width, tile):
        c1 = min(width, c0 + tile)
        a0, a1 = max(0, c0 - halo), min(width, c1 + halo)
        rgb = cv2.cvtColor(_render_lab(sc, a0, a1), cv2.COLOR_Lab2RGB)
        # Optics blur first, sensor noise after: tiles then join without seams.
        rgb = cv2.GaussianBlur(rgb, (0, 0), _BLUR_SIGMA_PX, borderType=cv2.BORDER_REFLECT)
        rgb = rgb[:, c0 - a0:c1 - a0] * row_gain[:, None, None]
        rgb += _sensor_noise(key, sc.height, c0, c1)
        image[:, c0:c1] = np.clip(rgb, 0, 1, out=rgb) * 255 + 0.5
    return image


def section_mean_lab(section: SyntheticSection) -> np.ndarray:
    """Mean L*, a*, b* (OpenCV float convention) over the section's undisturbed pixels.

    Args:
      section: a rendered section.

    Returns:
      (3,) float64; NaN if no pixel is undisturbed.
    """
    x0, y0, x1, y1 = section.core_box
    total, count = np.zeros(3), 0
    for c0 in range(x0, x1, 2048):  # chunks keep the float32 copy small at 500 dpi
        keep = section.mask[y0:y1, c0:min(x1, c0 + 2048)].astype(bool)
        rgb = section.image[y0:y1, c0:min(x1, c0 + 2048)].astype(np.float32) / 255
        total += cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[keep].sum(0)
        count += int(keep.sum())
    return total / count if count else np.full(3, np.nan)


def _depth_profile(rng: np.random.Generator, length_cm: float):
    """1-D colour along depth: cluster switching, banding and laminae, sampled every du cm."""
    du = max(0.01, (length_cm + 4) / 30000)  # cv2.remap needs sources under 32767 px
    u = np.arange(-3.0, length_cm + 1.0, du)
    # Section-level cluster preference: sections mostly in one cluster give Fig. 8's two clouds.
    p1 = rng.beta(0.7, 0.7)
    k = int(rng.random() < p1)
    weight, pos = np.full(len(u), float(k)), u[0] - rng.uniform(0, 20)
    while True:  # interval lengths of a few to tens of cm, smooth transitions
        pos += max(2.0, rng.lognormal(np.log(4 + 40 * (p1 if k else 1 - p1)), 0.6))
        if pos > u[-1]:
            break
        weight += (1 - 2 * k) / (1 + np.exp(-np.clip((u - pos) / rng.uniform(0.3, 3.0), -50, 50)))
        k = 1 - k
    band = (1.8 * dist.smooth_noise(rng, len(u), 4.0 / du)
            + 0.9 * dist.smooth_noise(rng, len(u), 0.8 / du))
    m = rng.poisson(rng.uniform(0.3, 1.5) * (u[-1] - u[0]))  # laminae and thin beds
    centre = rng.uniform(u[0], u[-1], m)
    thick = np.clip(rng.lognormal(np.log(0.25), 0.8, m), 0.04, 2.0)
    kind, amp = rng.random(m), rng.normal(0, 1.5, m)
    # Dark organic-rich laminae are natural and undisturbed: "dark" must not mean "disturbed".
    amp = np.where(kind < 0.12, -rng.uniform(4, 8, m), amp)
    amp = np.where(kind > 0.94, rng.uniform(2, 5, m), amp)
    diff = np.zeros(len(u) + 1)
    np.add.at(diff, np.searchsorted(u, centre - thick / 2), amp)
    np.add.at(diff, np.searchsorted(u, centre + thick / 2), -amp)
    lam = cv2.GaussianBlur(np.cumsum(diff)[None, :-1], (0, 0), max(0.04 / du, 0.5))[0]
    lam -= lam.mean()
    lab = CLUSTER_MEANS_LAB[0] * (1 - weight[:, None]) + CLUSTER_MEANS_LAB[1] * weight[:, None]
    lab += band[:, None] * np.array([1.0, 0.15, 0.3])
    profile = np.concatenate([lab, lam[:, None]], 1).astype(np.float32)[None]
    return float(u[0]), du, profile, weight


def _noise_grid(rng, cell: float, ny_cm: float, nx_cm: float, sigmas) -> np.ndarray:
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


def _sample(grid: np.ndarray, cell: float, x_cm: np.ndarray, y_cm: np.ndarray,
            sx: float = 1.0) -> np.ndarray:
    """Bilinear samples of a cell grid at pixel centres (cm); sx > 1 stretches it along x."""
    mx = np.broadcast_to((x_cm / (cell * sx) - 0.5).astype(np.float32), (len(y_cm), len(x_cm)))
    my = np.broadcast_to((y_cm / cell - 0.5).astype(np.float32)[:, None], mx.shape)
    return cv2.remap(grid, np.ascontiguousarray(mx), np.ascontiguousarray(my), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)


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


def _render_lab(sc: _Scene, a0: int, a1: int) -> np.ndarray:
    """CIELAB of canvas columns [a0, a1): (H, a1 - a0, 3) float32."""
    p, height, n = sc.p, sc.height, a1 - a0
    x_cm = ((np.arange(a0, a1) + 0.5) / p).astype(np.float32)
    y_cm = ((np.arange(height) + 0.5) / p).astype(np.float32)
    # One contiguous plane per channel: strided channel arithmetic costs several times more.
    planes = [_TRAY_LAB[0] + 1.2 * _sample(sc.tray_grid, _TRAY_CELL, x_cm, y_cm)]
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
        for plane, core in zip(planes, _core_lab(sc, a0 + j0 - cx0, a0 + j1 - cx0)):
            plane[cy0:cy1, j0:j1] = core
    planes[0] += sc.light_x[a0:a1][None, :] + sc.light_y[:, None]
    return cv2.merge(planes)


def _core_lab(sc: _Scene, c0: int, c1: int) -> list[np.ndarray]:
    """L*, a*, b* planes, (Hc, c1 - c0) float32 each, of core columns [c0, c1)."""
    p = sc.p
    code = sc.code_map[:, c0:c1]
    x_cm = ((np.arange(c0, c1) + 0.5) / p).astype(np.float32)
    y_cm = ((np.arange(code.shape[0]) + 0.5) / p).astype(np.float32)
    r = np.abs(y_cm - code.shape[0] / (2 * p)) / (code.shape[0] / (2 * p))
    bow = np.interp(x_cm, sc.bow_t, sc.bow_v).astype(np.float32)
    u = x_cm[None, :] - bow[None, :] * (r**3)[:, None]  # depth of the bed each pixel shows
    weights = {}
    for zone in sc.zones:  # only the columns a zone can reach
        lo, hi = dist.zone_span(zone)
        j0, j1 = np.searchsorted(x_cm, lo), np.searchsorted(x_cm, hi, "right")
        if j1 > j0:
            w = dist.zone_weight(zone, x_cm[j0:j1], y_cm) * (code[:, j0:j1] == zone.code)
            full = weights.setdefault(zone.code, np.zeros(code.shape, np.float32))
            np.maximum(full[:, j0:j1], w, out=full[:, j0:j1])
    soupy = weights.get(DISTURBANCE_CODES["soupy"])
    flow = weights.get(DISTURBANCE_CODES["flow_in"])
    if soupy is not None:  # mousse-like flow: lamination swirled as well as faded
        u += soupy * 1.2 * _sample(sc.warp_grid, _WARP_CELL, x_cm, y_cm)
    # Cleaning the split face with a slide leaves faint striations along depth everywhere.
    streak = _sample(sc.tex_grid, _TEX_CELL, x_cm, y_cm, sx=60.0)
    if flow is not None:  # slurry along the liner drags beds down from above into streaks
        u -= flow * (2.0 + 0.6 * streak)
    base_l, base_a, base_b, lam = cv2.split(cv2.remap(
        sc.profile, (u - sc.u0) / sc.du, np.zeros(u.shape, np.float32), cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE))
    tex = _sample(sc.tex_grid, _TEX_CELL, x_cm, y_cm)
    keep_nat, keep_tex, keep_chroma = (cv2.LUT(code, lut) for lut in _KEEP_LUTS)
    d_l, d_a, d_b = cv2.split(sc.delta_map[:, c0:c1])
    natural = (lam + 2.0 * _sample(sc.mottle_grid, _MOTTLE_CELL, x_cm, y_cm)) * keep_nat
    out_l = base_l + natural + (1.8 * tex + 0.9 * streak) * keep_tex + d_l
    out_a = (base_a + 0.1 * natural) * keep_chroma + d_a
    out_b = (base_b + 0.25 * natural) * keep_chroma + d_b
    if soupy is not None:  # water-saturated: darker and glossier
        out_l -= 2.5 * soupy
    if flow is not None:  # wet slurry: darker, streaked along depth
        out_l += flow * (3.0 * streak - 3.5)
        out_a *= 1 - 0.2 * flow
        out_b *= 1 - 0.2 * flow
    return [out_l, out_a, out_b]


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
