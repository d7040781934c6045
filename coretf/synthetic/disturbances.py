"""Disturbance geometry for synthetic split-core photographs (Hutton 2025, §1.1.5).

Every disturbance is generated in centimetres, so one section renders the same at 20, 40 or
197 px/cm. Two kinds exist:

* a `Stamp`: layers of filled polygons, thick polylines, ellipses or dots, each with its own
  CIELAB offset (a crack's dark core inside its lighter rim, a burrow's fill inside its halo);
* a `Zone`: an area between two curves, for soupy/mousse-like intervals across the core and
  flow-in along the liner edges, whose appearance the renderer blends in with `zone_weight`.

`raster.rasterize` draws each shape into the label map and writes its colour offset only inside
that same shape, so the label is exact ground truth for what the photograph shows.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from scipy import ndimage

DISTURBANCE_CODES: dict[str, int] = {
    "none": 0,            # undisturbed sediment, and everything outside the core
    "crack": 1,           # (f) cracked or fractured, from drying and coring
    "void": 2,            # gaps and holes in the split surface
    "planolites": 3,      # (p) 2-7 mm subcircular burrows
    "thalassinoides": 4,  # (m) 6-11 mm ovals and 22-43 mm cylinders
    "chondrites": 5,      # (n) clusters of 0.5-3 mm dots
    "scrape": 6,          # (j, l) slide scratches and cutting scrapes (gouges)
    "soupy": 7,           # (d, a) soupy / mousse-like sediment, fall-in at the section top
    "oxidation": 8,       # (i) pyrite and iron-oxide spots
    "flow_in": 9,         # (c) slurry flowed in along the liner
}


@dataclasses.dataclass(frozen=True)
class Layer:
    """One drawn shape; x runs down the core (depth), y across it, both in cm."""

    kind: str                        # "poly", "line", "ellipse" or "dots"
    pts: np.ndarray                  # (N, 2) vertices, centres or the ellipse centre
    size: np.ndarray                 # line (N-1,) widths, ellipse (2,) semi-axes, dots (N,) radii
    lab: tuple[float, float, float]  # offsets added to L*, a*, b* inside the shape
    angle: float = 0.0               # ellipse rotation in degrees

    def reach(self) -> float:  # how far the shape extends beyond its points, cm
        return {"poly": 0.0, "line": 0.5}.get(self.kind, 1.0) * float(np.max(self.size, initial=0))


@dataclasses.dataclass(frozen=True)
class Stamp:
    """A disturbance drawn as shapes; `code` is its DISTURBANCE_CODES value."""

    code: int
    layers: tuple[Layer, ...]        # drawn in order; later layers overwrite earlier ones
    soft: float = 0.0                # cm over which the colour offset fades in from the edge
    blur: float = 0.0                # cm of smoothing of the offset inside the shape


@dataclasses.dataclass(frozen=True)
class Zone:
    """Pixels whose coordinate `s` lies in [lo(t), hi(t)); along="y": t = y, s = x (soupy
    intervals across the core); along="x": t = x, s = y (flow-in along an edge)."""

    code: int
    along: str
    t: np.ndarray                    # (K,) increasing sample positions, cm
    lo: np.ndarray                   # (K,) cm
    hi: np.ndarray                   # (K,) cm
    ramp: float                      # cm over which the appearance fades in from the boundary


def zone_weight(zone: Zone, x_cm: np.ndarray, y_cm: np.ndarray) -> np.ndarray:
    """Blending weight of a zone on a pixel grid.

    Args:
      zone: the zone.
      x_cm: (n,) float32 depth of each pixel column's centre below the core top, cm.
      y_cm: (m,) float32 position of each pixel row's centre across the core, cm.

    Returns:
      (m, n) float32, 0 outside the zone and in (0, 1] inside it.
    """
    if zone.along == "y":
        lo = np.interp(y_cm, zone.t, zone.lo).astype(np.float32)[:, None]
        hi = np.interp(y_cm, zone.t, zone.hi).astype(np.float32)[:, None]
        s = x_cm[None, :]
    else:  # np.interp clamps to the end samples, which are empty (lo == hi)
        lo = np.interp(x_cm, zone.t, zone.lo).astype(np.float32)[None, :]
        hi = np.interp(x_cm, zone.t, zone.hi).astype(np.float32)[None, :]
        s = y_cm[:, None]
    d = np.minimum(s - lo, hi - s)
    return np.where(d > 0, np.clip(d / zone.ramp, 1e-3, 1.0), 0.0).astype(np.float32)


def zone_span(zone: Zone) -> tuple[float, float]:
    """Depth range (x0, x1) in cm that a zone can touch."""
    if zone.along == "y":
        return float(zone.lo.min()), float(zone.hi.max())
    return float(zone.t[0]), float(zone.t[-1])


def smooth_noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """(n,) float64 noise smoothed by a Gaussian of `sigma` samples, unit standard deviation."""
    x = ndimage.gaussian_filter1d(rng.standard_normal(n + 8), max(sigma, 0.5), mode="wrap")[4:-4]
    return x / (x.std() + 1e-9)


def _wander(rng, start, m: int, step: float, turn: float) -> np.ndarray:
    """(m, 2) points of a random walk from `start`: steps of `step` cm, turns of ~`turn` rad."""
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, turn, m))
    return start + np.cumsum(step * np.stack([np.cos(heading), np.sin(heading)], 1), 0)


def _blob(rng, centre, radius, aspect, angle, n=24, rough=0.25) -> np.ndarray:
    """(n, 2) outline of an irregular oval: a few random low harmonics on the radius."""
    phi = np.linspace(0, 2 * np.pi, n, endpoint=False)
    k = np.arange(2, 6)[:, None]
    wobble = rng.normal(0, rough, (4, 1)) / k * np.cos(k * phi + rng.uniform(0, 2 * np.pi, (4, 1)))
    rr = radius * (1 + wobble.sum(0))
    x, y = rr * np.cos(phi) * np.sqrt(aspect), rr * np.sin(phi) / np.sqrt(aspect)
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * x - s * y, s * x + c * y], 1) + centre


def _fill_tone(rng, dark_p: float, lo: float, hi: float) -> tuple[float, float, float]:
    # Organic-rich burrow fills are darker and greener, reworked fills of lighter sediment paler:
    # lighter disturbances keep "dark = disturbed" from being the whole story.
    if rng.random() < dark_p:
        return (-rng.uniform(lo, hi), -rng.uniform(0, 1.5), -rng.uniform(0.5, 2.5))
    return (rng.uniform(lo * 0.7, hi * 0.8), -rng.uniform(0, 0.5), rng.uniform(-0.5, 1.0))


def _crack(rng, L, W) -> Stamp:
    x0, w0 = rng.uniform(0.3, L - 0.3), rng.uniform(0.1, 0.4)  # 1-4 mm wide
    full, part, from_top = rng.random() < 0.7, rng.uniform(0.25, 0.8) * W, rng.random() < 0.5
    ya, yb = (-0.3, W + 0.3) if full else (-0.3, part) if from_top else (W - part, W + 0.3)
    ys = np.linspace(ya, yb, max(int((yb - ya) / 0.15), 3))
    n = len(ys)
    xs = x0 + rng.normal(0, 0.15) * (ys - ys.mean()) + np.cumsum(rng.normal(0, 0.04, n))
    xs += rng.normal(0, 0.02, n)  # jagged on the mm scale
    widths = w0 * np.clip(1 + 0.35 * smooth_noise(rng, n - 1, 2), 0.35, 1.7)
    if not full:  # partial cracks taper to a tip inside the core
        widths *= np.linspace(1, 0.3, n - 1) if ya < 0 else np.linspace(0.3, 1, n - 1)
    pts = np.stack([xs, ys], 1)
    paths = [(pts, widths)]
    if rng.random() < 0.3:  # a side branch
        k, m = int(rng.integers(1, n - 1)), int(rng.integers(4, 12))
        paths.append((np.vstack([pts[k], _wander(rng, pts[k], m, 0.12, 0.25)]),
                      widths[k - 1] * np.linspace(0.7, 0.25, m)))
    rims = [Layer("line", q, w, (-16, -1, -2)) for q, w in paths]
    gaps = [Layer("line", q, 0.45 * w, (-36, -2, -5)) for q, w in paths]
    return Stamp(DISTURBANCE_CODES["crack"], tuple(rims + gaps))


def _void(rng, L, W) -> Stamp:
    r = np.exp(rng.uniform(np.log(0.25), np.log(1.3)))
    edge = rng.random() < 0.35  # half-voids against the liner are common
    y = rng.choice([0.0, W]) + rng.uniform(-0.2, 0.2) if edge else rng.uniform(0.5, W - 0.5)
    c = np.array([rng.uniform(0.5, L - 0.5), y])
    outer = _blob(rng, c, r, rng.uniform(1, 2.5), rng.uniform(0, np.pi))
    # The deep part sits off-centre: the wall nearer the light casts a shadow into the hole.
    inner = c + 0.65 * (outer - c) + np.array([-0.035, 0.042]) * r
    return Stamp(DISTURBANCE_CODES["void"], (Layer("poly", outer, np.zeros(0), (-20, -2, -5)),
                                             Layer("poly", inner, np.zeros(0), (-40, -3, -7))),
                 blur=0.2 * r)


def _oval_burrow(rng, c, code: int, d_lo: float, d_hi: float, dark_p: float) -> Stamp:
    # Bedding-parallel burrows cut by the split face are ovals flattened by compaction along
    # depth (x), so the long axis lies across the core.
    d = rng.uniform(d_lo, d_hi)
    axes = np.array([d / 2 * rng.uniform(0.5, 0.9), d / 2])
    tone = _fill_tone(rng, dark_p, 4, 10)
    ang = rng.normal(0, 15)
    halo = tuple(1.35 * np.array(tone))
    return Stamp(code, (Layer("ellipse", c[None], axes, halo, ang),
                        Layer("ellipse", c[None], 0.72 * axes, tone, ang)),
                 soft=0.25 * d, blur=0.1 * d)


def _thalassinoides(rng, c) -> Stamp:
    code = DISTURBANCE_CODES["thalassinoides"]
    if rng.random() < 0.5:
        return _oval_burrow(rng, c, code, 0.6, 1.1, 0.5)
    d, length = rng.uniform(0.6, 1.1), rng.uniform(2.2, 4.3)
    ang = np.pi / 2 + rng.normal(0, 0.35)  # mostly along the bedding, i.e. across the core
    along = np.linspace(-0.5, 0.5, 5)[:, None] * length * np.array([np.cos(ang), np.sin(ang)])
    pts = c + along + rng.normal(0, 0.12, (5, 1)) * np.array([1.0, 0.0])
    tone = _fill_tone(rng, 0.5, 5, 12)
    halo = tuple(1.3 * np.array(tone))
    return Stamp(code, (Layer("line", pts, np.full(4, d), halo),
                        Layer("line", pts, np.full(4, 0.7 * d), tone)),
                 soft=0.25 * d, blur=0.1 * d)


def _chondrites(rng, c) -> Stamp:
    # Branching tunnel systems: the split face cuts the branches into scattered small dots.
    pts = np.vstack([_wander(rng, c, int(rng.integers(3, 9)), 0.25, 0.5)
                     for _ in range(int(rng.integers(3, 7)))])
    pts += rng.normal(0, 0.08, pts.shape)
    radii = rng.uniform(0.025, 0.15, len(pts))  # 0.5-3 mm diameter
    return Stamp(DISTURBANCE_CODES["chondrites"],
                 (Layer("dots", pts, radii, (-rng.uniform(7, 13), -1.5, -2.0)),))


def _scrape(rng, L, W) -> Stamp:
    gouge = rng.random() < 0.25
    x0 = rng.uniform(0, L - 1)
    length = min(rng.uniform(1, 8) if gouge else rng.lognormal(np.log(8), 0.7), L - x0)
    n = max(int(length / 0.5), 2)
    xs = np.linspace(x0, x0 + length, n)
    ys = rng.uniform(0.3, W - 0.3) + rng.normal(0, 0.03) * (xs - x0)
    pts = np.stack([xs, ys + 0.08 * smooth_noise(rng, n, 3)], 1)
    code = DISTURBANCE_CODES["scrape"]
    if gouge:  # a chunk dragged along the cut: shadowed floor, lit wall, tapered ends
        w = rng.uniform(0.2, 0.6) * np.sin(np.pi * (np.arange(n - 1) + 0.5) / (n - 1)) ** 0.5
        return Stamp(code, (Layer("line", pts, w, (-8, -0.5, -1)),
                            Layer("line", pts + [0, 0.25 * w.max()], 0.3 * w, (6, -0.5, -1))),
                     soft=0.1)
    w = np.full(n - 1, rng.uniform(0.05, 0.25))  # slide scratch: smoothed, wet, reflective
    return Stamp(code, (Layer("line", pts, w, (rng.uniform(3, 6), -0.5, -1.5)),
                        Layer("line", pts, 0.3 * w, (9, -1, -2.5))), soft=0.4 * w[0])


def _oxidation(rng, L, W) -> Stamp:
    c = np.array([rng.uniform(0.2, L - 0.2), rng.uniform(0.2, W - 0.2)])
    tone = (-30, -2, -7) if rng.random() < 0.7 else (-16, 4, 9)  # black pyrite or rusty oxide
    spots = []
    for _ in range(int(rng.integers(1, 9))):
        radius = np.exp(rng.uniform(np.log(0.04), np.log(0.3)))
        outline = _blob(rng, c + rng.normal(0, 0.3, 2), radius, rng.uniform(1, 2),
                        rng.uniform(0, np.pi), 12, 0.3)
        spots.append(Layer("poly", outline, np.zeros(0), tone))
    return Stamp(DISTURBANCE_CODES["oxidation"], tuple(spots))


def _soupy(rng, L, W, top: bool) -> tuple[Zone, Stamp | None]:
    t = np.arange(-0.5, W + 0.6, 0.1)
    r = (t - W / 2) / (W / 2)
    if top:  # from above the core top down to a contact, often sagging in the middle
        ext = float(np.clip(rng.lognormal(np.log(10), 0.6), 2, 0.4 * L))
        lo = np.full(len(t), -5.0)
    else:
        ext = rng.uniform(2, 12)
        lo = rng.uniform(0.2, 0.85) * L + 0.3 * smooth_noise(rng, len(t), 8)
    hi = max(lo.mean(), 0) + ext + rng.uniform(-0.5, 1.5) * (1 - r**2)
    hi += 0.3 * smooth_noise(rng, len(t), 8)
    zone = Zone(DISTURBANCE_CODES["soupy"], "y", t, lo, hi, 1.0)
    x0, x1 = max(lo.max(), 0) + 0.1, hi.min() - 0.1
    k = rng.poisson(rng.uniform(0, 1.2) * max(x1 - x0, 0) * W)  # mousse: gas vesicles
    if k == 0:
        return zone, None
    pts = np.stack([rng.uniform(x0, x1, k), rng.uniform(0, W, k)], 1)
    return zone, Stamp(DISTURBANCE_CODES["soupy"],
                       (Layer("dots", pts, rng.uniform(0.02, 0.07, k), (-12, -1, -3)),))


def _flow_in(rng, L, W) -> Zone:
    length = float(np.clip(rng.lognormal(np.log(25), 0.7), 3, 90))
    x0 = rng.uniform(-5, L)
    t = np.arange(x0, x0 + length + 0.1, 0.1)
    env = np.sin(np.pi * np.clip((t - x0) / length, 0, 1)) ** 0.6
    wobble = np.clip(0.7 + 0.35 * smooth_noise(rng, len(t), 10), 0.2, 1.3)
    width = rng.uniform(0.3, 1.2) * env * wobble
    width[[0, -1]] = 0  # empty ends: zone_weight clamps to them beyond the zone
    code = DISTURBANCE_CODES["flow_in"]
    if rng.random() < 0.5:
        return Zone(code, "x", t, np.full(len(t), -1.0), width, 0.15)
    return Zone(code, "x", t, W - width, np.full(len(t), W + 1.0), 0.15)


def generate(rng: np.random.Generator, length_cm: float, width_cm: float
             ) -> tuple[list[Zone], list[Stamp]]:
    """Random disturbances for one section, all in cm.

    A section-wide intensity (gamma distributed, mean 1) scales every count, so some sections
    come out nearly clean and others heavily disturbed; bioturbated intervals concentrate the
    burrows. Over many 150 cm sections about a fifth of the core is disturbed (the paper's
    model discards 26.6 %); short sections more, as the soupy top weighs more.

    Args:
      rng: the generator; nothing here depends on the pixel resolution.
      length_cm: core length.
      width_cm: core width across the split face.

    Returns:
      (zones, stamps), in drawing order.
    """
    L, W = length_cm, width_cm
    lf = L / 150.0
    s = float(np.clip(rng.gamma(2.0, 0.5), 0.05, 3.0))
    zones, stamps = [], []
    for top, prob in ((True, 0.55), (False, 0.15 * lf)):
        if rng.random() < prob:
            zone, vesicles = _soupy(rng, L, W, top)
            zones.append(zone)
            stamps += [vesicles] if vesicles is not None else []
    zones += [_flow_in(rng, L, W) for _ in range(rng.poisson(4.5 * lf * (0.4 + s)))]

    def scatter(make, x0, x1, k):
        return [(make, c) for c in np.stack([rng.uniform(x0, x1, k), rng.uniform(0, W, k)], 1)]

    burrows = []
    planolites = functools.partial(_oval_burrow, code=DISTURBANCE_CODES["planolites"],
                                   d_lo=0.2, d_hi=0.7, dark_p=0.65)
    for make, n in ((planolites, 18), (_thalassinoides, 6), (_chondrites, 2)):
        burrows += scatter(make, 0, L, rng.poisson(n * lf * s))
    for _ in range(rng.poisson(2.5 * lf * s)):  # bioturbated intervals
        x0 = rng.uniform(-5, L)
        x1 = x0 + rng.uniform(5, 35)
        for make, density in ((planolites, rng.uniform(0.15, 1.0)),
                              (_thalassinoides, rng.uniform(0.02, 0.1)), (_chondrites, 0.02)):
            burrows += scatter(make, x0, x1, rng.poisson(density * (x1 - x0) * W))
    # Soupy sediment has lost its structure: no burrow survives in it.
    stamps += [make(rng, c) for make, c in burrows if not any(
        z.along == "y" and z.lo.max() < c[0] < z.hi.min() for z in zones)]
    s_crack = s * rng.gamma(1.0, 1.0)  # drying makes some sections far more cracked than others
    for make, n in ((_oxidation, 3 * s), (_scrape, 4.5 * s), (_crack, 7 * s_crack), (_void, 4 * s)):
        stamps += [make(rng, L, W) for _ in range(rng.poisson(n * lf))]
    return zones, stamps
