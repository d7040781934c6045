"""Green-plate photo sets drawn unlike the `sediment_grains` builder's, with exact boxes per particle.

`coretf.synthetic.grains.make_photo_set` renders the builder's scenes (even light, particles
apart, a touching pair counted as one particle). A lab's photographs are less kind, and this
generator widens them for tests and `scripts/benchmark_grains.py` (the builder's data are not
touched): per photo set it draws

- illumination: a linear light gradient across the frame (up to +-35 %), vignetting (0-40 % dark
  corners), a colour cast (white balance off by ~8 % per channel), exposure (0.7-1.15), sensor
  noise (0.4-2.5 %), and the plate's own green varied;
- sizes and counts: one size factor per set (0.45-1.4 x the builder's radii), the count set by a
  plate coverage of 10-30 %;
- particle kinds: clear quartz grains, dark grains, whole foraminifera and broken tests (the
  builder's renderers, `grains._render`), and small fragments of tests (a broken test at 0.4 of
  the size);
- overlapping particles: a share of the particles (0-40 % per set) lies partly on top of another
  one (centres 0.55-0.85 of the sum of the radii apart; the upper particle a little higher, so
  sharp in another focal layer);
- frame-edge cuts: a share (0-25 %) lies across the frame edge with 30-75 % of it in view.

Every particle is its own true box: the box of its visible sharp outline (coverage > 0.5, minus
what the particles on top of it hide), clipped to the frame, with flags for overlapping
particles and frame-edge cuts. Focus is the builder's: layer l is sharp at height z = l / 5.
Sizes scale with the photo width (1280 px is the paper's microscope). NumPy/OpenCV only.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from coretf.synthetic import grains

KINDS = ("quartz", "dark_grain", "foraminifer", "broken_test", "fragment")
_KIND_SHARES = (0.26, 0.18, 0.24, 0.17, 0.15)
_FRAGMENT_SCALE = 0.4  # a fragment is a broken test at 0.4 of a whole test's size


@dataclasses.dataclass(frozen=True)
class VariedPhotoSet:
    """One stage position drawn with `make_varied_photo_set`.

    Attributes:
        position_id: e.g. "V0007".
        layers: (L, H, W, 3) uint8 RGB focal layers, lowest focal plane first.
        boxes: (N, 4) int32 true boxes (y0, x0, y1, x1), end-exclusive, one per particle.
        kinds: (N,) int32 indices into KINDS.
        overlapping: (N,) bool: the particle overlaps another one (lies on it or under it).
        cut: (N,) bool: the particle is cut by the frame edge.
        scene: the set's draws (illumination, size factor, shares), for reports.
    """

    position_id: str
    layers: np.ndarray
    boxes: np.ndarray
    kinds: np.ndarray
    overlapping: np.ndarray
    cut: np.ndarray
    scene: dict


def make_varied_photo_set(index: int, *, seed: int = 0, height: int = 1024, width: int = 1280,
                          num_layers: int = grains.NUM_LAYERS) -> VariedPhotoSet:
    """Renders varied stage position `index`, deterministically for (seed, index).

    Args:
        index: position number (also the position id).
        seed: dataset seed.
        height, width: photo size in px (the paper's microscope: 1024 x 1280).
        num_layers: focal layers (6 as in the paper; 1 for single photos).

    Returns:
        A VariedPhotoSet.
    """
    rng = np.random.default_rng([seed, index, 14])
    scale = width / 1280.0
    scene = _draw_scene(rng, height, width, scale)
    particles, kinds, placed = [], [], []  # placed: (cy, cx, radius, particle index) of discs on the plate
    target = scene["coverage"] * height * width
    covered, tries = 0.0, 0
    while covered < target and tries < 400:
        tries += 1
        kind = KINDS[rng.choice(len(KINDS), p=_KIND_SHARES)]
        base = "broken_test" if kind == "fragment" else kind
        factor = scene["size"] * scale * (_FRAGMENT_SCALE if kind == "fragment" else 1.0)
        radius = rng.uniform(*grains._RADII[base]) * factor
        colour, alpha = grains._render(base, radius, rng, scene["plate"])
        if max(alpha[0].max(), alpha[-1].max(), alpha[:, 0].max(), alpha[:, -1].max()) > 0:
            continue  # a rough outline reached its patch's side: it would show a straight cut
        mode = rng.choice(3, p=[1 - scene["overlap_share"] - scene["cut_share"], scene["overlap_share"],
                                scene["cut_share"]])
        spot = _place(rng, mode, radius, placed, height, width, scale)
        if spot is None:
            continue
        (cy, cx), under = spot
        z = rng.uniform(0, 1) if under is None else float(np.clip(particles[under].z + rng.uniform(0.1, 0.3), 0, 1))
        particles.append(grains._Particle(colour, alpha, int(round(cy)) - alpha.shape[0] // 2,
                                          int(round(cx)) - alpha.shape[1] // 2, z))
        kinds.append(KINDS.index(kind))
        placed.append((cy, cx, radius, len(particles) - 1, under))
        covered += float(alpha.sum())
    boxes, keep, overlapping, cut = _truth(particles, placed, height, width)
    layers = np.stack([_photograph(particles, layer, num_layers, scene, height, width, scale, rng)
                       for layer in range(num_layers)])
    return VariedPhotoSet(f"V{index:04d}", layers, np.array(boxes, np.int32).reshape(-1, 4),
                          np.array(kinds, np.int32)[keep], np.array(overlapping, bool), np.array(cut, bool),
                          {key: value.tolist() if isinstance(value, np.ndarray) else value
                           for key, value in scene.items()})


def _draw_scene(rng, height: int, width: int, scale: float) -> dict:
    """The per-set draws: plate colour, illumination, particle size, coverage and shares."""
    green = np.array(grains.PLATES["green"], np.float32)
    plate = np.clip(green * rng.uniform(0.8, 1.1) + rng.normal(0, 0.03, 3), 0.02, 0.95).astype(np.float32)
    return {
        "plate": plate,
        "gradient": float(rng.uniform(0, 0.35)),  # half the light difference across the frame
        "gradient_angle": float(rng.uniform(0, 2 * np.pi)),
        "vignette": float(rng.uniform(0, 0.4)),
        "cast": np.exp(rng.normal(0, 0.08, 3)).astype(np.float32),
        "exposure": float(rng.uniform(0.7, 1.15)),
        "noise": float(rng.uniform(0.004, 0.025)),
        "size": float(np.exp(rng.uniform(np.log(0.45), np.log(1.4)))),
        "coverage": float(rng.uniform(0.1, 0.3)),
        "overlap_share": float(rng.uniform(0, 0.4)),
        "cut_share": float(rng.uniform(0, 0.25)),
    }


def _place(rng, mode: int, radius: float, placed, height: int, width: int, scale: float):
    """((cy, cx), index of the particle it lies on or None), or None after 40 failed tries.

    mode 0: free on the plate, 1: on top of a free particle, 2: across the frame edge. A particle
    keeps a gap of 12 px (at 1280 px) from every other one except the one it lies on.
    """
    gap = 12 * scale
    bases = [p for p in placed if p[4] is None and min(p[0], p[1], height - p[0], width - p[1]) > p[2]]
    for _ in range(40):
        under = None
        if mode == 1 and bases:
            base = bases[rng.integers(len(bases))]
            angle = rng.uniform(0, 2 * np.pi)
            step = rng.uniform(0.55, 0.85) * (base[2] + radius)
            cy, cx = base[0] + step * np.sin(angle), base[1] + step * np.cos(angle)
            under = base[3]
            if not (radius < cy < height - radius and radius < cx < width - radius):
                continue
        elif mode == 2:
            side, inset = rng.integers(4), rng.uniform(-0.4, 0.45) * radius
            along = rng.uniform(radius, (width if side < 2 else height) - radius)
            cy, cx = [(inset, along), (height - inset, along), (along, inset), (along, width - inset)][side]
        else:
            margin = radius + gap
            if height <= 2 * margin or width <= 2 * margin:
                return None
            cy, cx = rng.uniform(margin, height - margin), rng.uniform(margin, width - margin)
        # An overlapping particle touches only its base: the others (and whatever lies on the
        # base already) keep their distance, so that every overlap is between two particles.
        if all(np.hypot(cy - p[0], cx - p[1]) > radius + p[2] + gap for p in placed if p[3] != under) and \
                all(p[4] != under for p in placed if under is not None):
            return (cy, cx), under
    return None


def _truth(particles, placed, height: int, width: int):
    """True boxes of the visible sharp outlines (a particle hidden below 40 % of its in-frame area,
    or with under 20 px in view, is dropped), the kept indices, and overlap and cut flags."""
    sharp = []
    for p in particles:
        mask = np.zeros((height, width), bool)
        window, local = grains._overlap(p, height, width)
        mask[window] = p.alpha[local] > 0.5
        sharp.append(mask)
    covers = np.zeros((height, width), bool)
    visible = [None] * len(particles)
    for i in range(len(particles) - 1, -1, -1):  # later particles lie on top
        visible[i] = sharp[i] & ~covers
        covers |= sharp[i]
    boxes, keep, cut = [], [], []
    for i, (p, mask) in enumerate(zip(particles, visible)):
        area = int(mask.sum())
        if area < 20 or area < 0.4 * sharp[i].sum():
            continue
        ys, xs = np.nonzero(mask)
        boxes.append((ys.min(), xs.min(), ys.max() + 1, xs.max() + 1))
        keep.append(i)
        cut.append(sharp[i].sum() < float((p.alpha > 0.5).sum()) - 0.5)
    # Overlapping: lies on, or under, a particle that is counted too, and their outlines meet
    # (a broken test placed on another may miss it with its broken side).
    kept = set(keep)
    pairs = [(i, placed[i][4]) for i in keep if placed[i][4] in kept
             and (sharp[i] & cv2.dilate(sharp[placed[i][4]].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0).any()]
    partners = {i for pair in pairs for i in pair}
    return boxes, keep, [i in partners for i in keep], cut


def _photograph(particles, layer: int, num_layers: int, scene: dict, height: int, width: int,
                scale: float, rng) -> np.ndarray:
    """One focal layer: plate, particles blurred by their focus distance, then the set's light
    (gradient x vignetting x exposure x colour cast) and sensor noise."""
    focus = layer / max(1, num_layers - 1)
    texture = 0.03 * grains._smooth_noise(rng, (height, width), 40 * scale)
    image = scene["plate"] * (1 + texture)[..., None]
    for p in particles:
        sigma = scale * (0.6 + 9.0 * abs(p.z - focus))
        ksize = 2 * int(np.ceil(3 * sigma)) + 1
        colour = cv2.GaussianBlur(p.colour, (ksize, ksize), sigma)
        alpha = cv2.GaussianBlur(p.alpha, (ksize, ksize), sigma)
        window, local = grains._overlap(p, height, width)
        image[window] = image[window] * (1 - alpha[local][..., None]) + colour[local]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    v, u = (yy - height / 2) / (height / 2), (xx - width / 2) / (width / 2)  # -1..1 across the frame
    angle = scene["gradient_angle"]
    light = (1 + scene["gradient"] * (np.cos(angle) * u + np.sin(angle) * v)) \
        * (1 - scene["vignette"] * (u**2 + v**2) / 2) * scene["exposure"]
    image = image * light[..., None] * scene["cast"] + rng.normal(0, scene["noise"], image.shape).astype(np.float32)
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
