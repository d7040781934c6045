"""Procedural split-core section photographs with exact disturbance masks.

Simulated ground truth, as Hutton (2025, `seeds/000_*`, §5) asks for: a photograph laid out like
an IODP Section Half Imaging Logger image (the tray, card, scale and camera are `scene`'s) with
hemipelagic mud whose colour switches between two CIELAB clusters that differ mostly in redness
(the paper's Fig. 8), and the disturbances of §1.1.5 drawn with exact labels (see `disturbances`
and `raster`). Labels follow the paper's GIMP alpha convention: 1 = undisturbed sediment,
0 = disturbed sediment or background.

Everything is generated in centimetres, so a section renders the same at 20, 40 or 197 px/cm;
`scene` composes the photograph in column tiles, which bounds memory at 500 dpi. NumPy/OpenCV.
"""

from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np

from coretf.synthetic import disturbances as dist
from coretf.synthetic import grids
from coretf.synthetic import raster
from coretf.synthetic import scene
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
           "draw_core", "make_section", "paint_core", "section_mean_lab"]

_TEX_CELL, _MOTTLE_CELL, _WARP_CELL = 0.025, 0.1, 0.25  # cm per grid cell
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
class _Core:
    """Everything the core's tiles need; every random draw is made before the first tile."""

    p: float
    profile: np.ndarray      # (1, N, 4) float32 along depth: L*, a*, b*, lamination L*
    u0: float                # depth (cm) of profile sample 0 and the sample spacing
    du: float
    bow_t: np.ndarray        # depth samples (cm) and bowing of the beds at the liner (cm)
    bow_v: np.ndarray
    tex_grid: np.ndarray     # fine grain texture, _TEX_CELL cells
    mottle_grid: np.ndarray  # faint natural mottling: not labelled, as in the paper
    warp_grid: np.ndarray    # displacement field of soupy flow
    zones: list
    code_map: np.ndarray     # (Hc, Wc) view into the section's disturbance array
    delta_map: np.ndarray    # (Hc, Wc, 3) int8 colour offsets of the stamps


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
    height, width, core_box, card_box = scene.layout(length_cm, core_width_cm, p)
    cx0, cy0, cx1, cy1 = core_box
    disturbance = np.zeros((height, width), np.uint8)
    core, weight, texture_rng, camera_rng = draw_core(
        seed, index, length_cm, core_width_cm, p, disturbance[cy0:cy1, cx0:cx1])
    code_map, u0, du = core.code_map, core.u0, core.du
    # The tray's texture is drawn from texture_rng after the core's: keep this order.
    surroundings = scene.make_scene(p, height, width, core_box, card_box, sid, top, length_cm,
                                    texture_rng, camera_rng)
    image = scene.photograph(surroundings, width, camera_rng, (seed, index),
                             functools.partial(paint_core, core))
    mask = np.zeros((height, width), np.uint8)
    mask[cy0:cy1, cx0:cx1] = code_map == 0
    x_mid = (np.arange(cx1 - cx0) + 0.5) / p
    cluster = np.interp(x_mid, u0 + du * np.arange(len(weight)), weight) >= 0.5
    return SyntheticSection(sid, image, mask, disturbance, core_box, card_box, p, top,
                            (cx1 - cx0) / p, cluster.astype(np.int8))


def draw_core(seed: int, index: int, length_cm: float, core_width_cm: float, p: float,
              code_map: np.ndarray):
    """Makes every random draw of core `index` of the hole `seed` and rasterises its disturbances.

    Args:
      seed, index: the hole and the section, as in `make_section`.
      length_cm, core_width_cm, p: the core's size (cm) and the resolution (px/cm).
      code_map: (round(core_width_cm * p), round(length_cm * p)) uint8 zeros; receives the
        disturbance codes (a view into a section's canvas, or an array of its own).

    Returns:
      (core, weight, texture_rng, camera_rng): the core for `paint_core`, the depth profile's
      cluster weight, and the two streams a photograph of it goes on with (tray, camera).
    """
    # Independent streams, so that e.g. the disturbances do not change with the texture code.
    colour_rng, texture_rng, disturbance_rng, camera_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence([seed, index]).spawn(4))
    delta_map = np.zeros(code_map.shape + (3,), np.int8)
    zones, stamps = dist.generate(disturbance_rng, length_cm, core_width_cm)
    raster.rasterize(stamps, zones, code_map, delta_map, p)
    u0, du, profile, weight = _depth_profile(colour_rng, length_cm)
    bow_t = np.arange(-3.0, length_cm + 1.0, 0.5)
    # Bowed bedding (drilling disturbance b): liner drag bends the beds down at the edges, most
    # in the soft top of a core. Mild, so not labelled.
    bow_v = colour_rng.uniform(0, 0.8) * (0.4 + 0.6 * np.exp(-np.clip(bow_t, 0, None) / 25))
    bow_v *= np.clip(1 + 0.4 * dist.smooth_noise(colour_rng, len(bow_t), 6), 0, 2)
    tex = grids.noise_grid(texture_rng, _TEX_CELL, core_width_cm, length_cm, (0.8,))
    specks = texture_rng.random(tex.shape)  # sand-sized forams and dark grains: not disturbance
    tex += np.where(specks < 0.003, 3.5, 0) - np.where(specks > 0.997, 2.5, 0)
    core = _Core(
        p=p, profile=profile, u0=u0, du=du, bow_t=bow_t, bow_v=bow_v, tex_grid=tex,
        mottle_grid=grids.noise_grid(texture_rng, _MOTTLE_CELL, core_width_cm, length_cm,
                                     (1.5, 6.0)),
        warp_grid=grids.noise_grid(texture_rng, _WARP_CELL, core_width_cm, length_cm, (2.0, 5.0)),
        zones=zones, code_map=code_map, delta_map=delta_map)
    return core, weight, texture_rng, camera_rng


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


def paint_core(core: _Core, c0: int, c1: int) -> list[np.ndarray]:
    """L*, a*, b* planes, (Hc, c1 - c0) float32 each, of core columns [c0, c1)."""
    p = core.p
    code = core.code_map[:, c0:c1]
    x_cm = ((np.arange(c0, c1) + 0.5) / p).astype(np.float32)
    y_cm = ((np.arange(code.shape[0]) + 0.5) / p).astype(np.float32)
    r = np.abs(y_cm - code.shape[0] / (2 * p)) / (code.shape[0] / (2 * p))
    bow = np.interp(x_cm, core.bow_t, core.bow_v).astype(np.float32)
    u = x_cm[None, :] - bow[None, :] * (r**3)[:, None]  # depth of the bed each pixel shows
    weights = {}
    for zone in core.zones:  # only the columns a zone can reach
        lo, hi = dist.zone_span(zone)
        j0, j1 = np.searchsorted(x_cm, lo), np.searchsorted(x_cm, hi, "right")
        if j1 > j0:
            w = dist.zone_weight(zone, x_cm[j0:j1], y_cm) * (code[:, j0:j1] == zone.code)
            full = weights.setdefault(zone.code, np.zeros(code.shape, np.float32))
            np.maximum(full[:, j0:j1], w, out=full[:, j0:j1])
    soupy = weights.get(DISTURBANCE_CODES["soupy"])
    flow = weights.get(DISTURBANCE_CODES["flow_in"])
    if soupy is not None:  # mousse-like flow: lamination swirled as well as faded
        u += soupy * 1.2 * grids.sample(core.warp_grid, _WARP_CELL, x_cm, y_cm)
    # Cleaning the split face with a slide leaves faint striations along depth everywhere.
    streak = grids.sample(core.tex_grid, _TEX_CELL, x_cm, y_cm, sx=60.0)
    if flow is not None:  # slurry along the liner drags beds down from above into streaks
        u -= flow * (2.0 + 0.6 * streak)
    base_l, base_a, base_b, lam = cv2.split(cv2.remap(
        core.profile, (u - core.u0) / core.du, np.zeros(u.shape, np.float32), cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE))
    tex = grids.sample(core.tex_grid, _TEX_CELL, x_cm, y_cm)
    keep_nat, keep_tex, keep_chroma = (cv2.LUT(code, lut) for lut in _KEEP_LUTS)
    d_l, d_a, d_b = cv2.split(core.delta_map[:, c0:c1])
    natural = (lam + 2.0 * grids.sample(core.mottle_grid, _MOTTLE_CELL, x_cm, y_cm)) * keep_nat
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
