"""Procedural microscope photo sets of sieved sediment on a plate, with exact boxes and types.

Simulated ground truth for Golikov et al. (2022, `seeds/003_*`, §2): a Levenhuk-like 80x
microscope takes 1280x1024 photographs of one stage position at six focal distances. Particles
lie on a bright green plate (or a dark one, for the plate-colour paths of the extraction): clear
quartz-like grains that let the plate show through, dark grains, whole foraminifera (chambers on
a spiral, sutures between them) and broken tests (a foraminifer cut by a jagged fracture with its
shadowed interior showing), plus the two artefacts the paper's expert found in their own
clusters: touching pairs (two particles closer than the extraction can separate) and "chopped"
particles cut by the frame edge.

Focus: each particle has a height z in [0, 1]; focal layer l (0..5) is sharp at z = l / 5, and a
particle is blurred by a Gaussian whose sigma grows with |z - l/5|, so every particle is sharp in
one or two layers and soft in the others, as in a real focal stack. The true box is the box of
the sharp particle (the union of both for a pair), clipped to the frame.

Sizes are in full-resolution pixels (1280 wide) and scale with the photo width, so a tiny
160x128 set renders the same scene 8x smaller. NumPy/OpenCV only.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

NUM_LAYERS = 6
TYPES = ("quartz", "dark_grain", "foraminifer", "broken_test", "touching_pair", "chopped")
# Share of each type among the placed particles (pairs and chopped ones draw their particles
# from the first four types).
TYPE_SHARES = (0.26, 0.18, 0.2, 0.16, 0.1, 0.1)
PLATES = {"green": (0.16, 0.70, 0.22), "dark": (0.05, 0.05, 0.06)}
# Radius range per base type, px at 1280 px width (paper: crops average ~280 px across).
_RADII = {"quartz": (60, 105), "dark_grain": (50, 95), "foraminifer": (80, 130), "broken_test": (70, 115)}
_BASE_TYPES = TYPES[:4]


@dataclasses.dataclass(frozen=True)
class PhotoSet:
    """One stage position: six focal layers and the truth.

    Attributes:
        position_id: e.g. "P0007".
        layers: (6, H, W, 3) uint8 RGB, focal layer 0 (lowest focal plane) first.
        boxes: (N, 4) int32 true boxes (y0, x0, y1, x1), end-exclusive, clipped to the frame.
        types: (N,) int32 indices into TYPES.
    """

    position_id: str
    layers: np.ndarray
    boxes: np.ndarray
    types: np.ndarray


@dataclasses.dataclass
class _Particle:
    colour: np.ndarray  # (h, w, 3) float32 colour, premultiplied by alpha
    alpha: np.ndarray  # (h, w) float32 coverage
    top: int  # frame coordinates of the patch's top-left corner
    left: int
    z: float  # height in [0, 1]: which focal layer sees it sharp


def make_photo_set(index: int, *, seed: int = 0, height: int = 1024, width: int = 1280,
                   num_particles: tuple[int, int] = (8, 13), plate: str = "green") -> PhotoSet:
    """Renders stage position `index` of the synthetic plate, deterministically for (seed, index).

    Args:
        index: position number (also the position id).
        seed: dataset seed.
        height, width: photo size in px (the paper's microscope: 1024 x 1280).
        num_particles: inclusive range of the number of particles placed (pairs count once).
        plate: "green" (the paper's plate) or "dark".

    Returns:
        A PhotoSet.
    """
    if plate not in PLATES:
        raise ValueError(f"plate {plate!r}: must be one of {sorted(PLATES)}")
    rng = np.random.default_rng([seed, index, 5])
    scale = width / 1280.0
    plate_rgb = np.array(PLATES[plate], np.float32)
    placed: list[tuple[float, float, float]] = []  # (cy, cx, radius) of occupied discs
    particles, boxes, types = [], [], []
    for _ in range(rng.integers(num_particles[0], num_particles[1] + 1)):
        kind = TYPES[rng.choice(len(TYPES), p=TYPE_SHARES)]
        base = [_BASE_TYPES[rng.integers(4)] for _ in range(2 if kind == "touching_pair" else 1)]
        if kind in _BASE_TYPES:
            base = [kind]
        shapes = [_render(b, rng.uniform(*_RADII[b]) * scale, rng, plate_rgb) for b in base]
        spot = _place(rng, shapes, kind, placed, height, width, scale)
        if spot is None:  # the plate is full
            continue
        sharp = np.zeros((height, width), bool)
        z = rng.uniform(0, 1)
        first = len(particles)
        for (colour, alpha), (cy, cx) in zip(shapes, spot):
            particle = _Particle(colour, alpha, int(round(cy)) - alpha.shape[0] // 2,
                                 int(round(cx)) - alpha.shape[1] // 2, float(np.clip(z + rng.normal(0, 0.05), 0, 1)))
            particles.append(particle)
            window, local = _overlap(particle, height, width)
            sharp[window] |= particle.alpha[local] > 0.5
        if not sharp.any():  # a chopped fragment whose visible part is all soft edge: not a particle
            del particles[first:]
            continue
        ys, xs = np.nonzero(sharp)
        boxes.append((ys.min(), xs.min(), ys.max() + 1, xs.max() + 1))
        types.append(TYPES.index(kind))
    layers = np.stack([_photograph(particles, layer, plate_rgb, height, width, scale, rng)
                       for layer in range(NUM_LAYERS)])
    return PhotoSet(f"P{index:04d}", layers, np.array(boxes, np.int32).reshape(-1, 4),
                    np.array(types, np.int32))


def _smooth_noise(rng, shape, cell: float) -> np.ndarray:
    """(h, w) float32 noise with unit SD and features of about `cell` px."""
    small = rng.standard_normal((max(2, int(shape[0] / cell) + 2), max(2, int(shape[1] / cell) + 2)))
    noise = cv2.resize(small.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return noise / (noise.std() + 1e-6)


def _outline(rng, yy, xx, radius: float, rough: float, harmonics: int = 5) -> np.ndarray:
    """Anti-aliased coverage of an irregular disc: random harmonics on the radius."""
    theta, rho = np.arctan2(yy, xx), np.hypot(yy, xx)
    k = np.arange(2, 2 + harmonics)[:, None, None]
    wobble = (rng.normal(0, rough, (harmonics, 1, 1)) / k * np.cos(k * theta + rng.uniform(0, 6.3, (harmonics, 1, 1)))).sum(0)
    stretch = 1 + rng.uniform(-0.2, 0.2) * np.cos(2 * (theta - rng.uniform(0, np.pi)))
    return np.clip(radius * (1 + wobble) * stretch - rho + 0.5, 0, 1).astype(np.float32)


def _render(kind: str, radius: float, rng, plate_rgb) -> tuple[np.ndarray, np.ndarray]:
    """(colour premultiplied, alpha) of one sharp particle on a square patch around its centre."""
    half = int(np.ceil(radius * 1.45)) + 2
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float32)
    texture = _smooth_noise(rng, yy.shape, max(2.0, radius / 6))
    if kind in ("quartz", "dark_grain"):
        alpha = _outline(rng, yy, xx, radius, rough=0.25 if kind == "quartz" else 0.45)
        rim = np.clip(np.hypot(yy, xx) / radius, 0, 1) ** 4
        if kind == "quartz":
            # Clear grains: the plate shows through (a tint of its colour), a bright glint and a
            # darker refracting rim.
            body = 0.7 * np.array([0.86, 0.86, 0.82], np.float32) + 0.3 * plate_rgb
            glint = np.exp(-((yy + radius * 0.35) ** 2 + (xx + radius * 0.25) ** 2) / (0.08 * radius**2))
            shade = 1 - 0.35 * rim + 0.04 * texture
            colour = body * shade[..., None] + 0.25 * glint[..., None]
        else:
            body = np.array([0.22, 0.19, 0.16], np.float32) * rng.uniform(0.7, 1.2)
            colour = body * (1 + 0.2 * texture - 0.3 * rim)[..., None]
    else:
        alpha, colour = _foraminifer(rng, yy, xx, radius, texture)
        if kind == "broken_test":
            # A jagged fracture through the test; the exposed inside of the chambers is in shadow.
            angle = rng.uniform(0, 2 * np.pi)
            across = np.cos(angle) * xx + np.sin(angle) * yy
            jag = radius * 0.08 * _smooth_noise(rng, yy.shape, max(2.0, radius / 8))
            depth = across + jag - radius * rng.uniform(-0.3, 0.15)
            alpha = alpha * np.clip(0.5 - depth, 0, 1)
            shadow = np.clip(1 + depth / (0.35 * radius), 0.35, 1)
            colour = colour * shadow[..., None]
    colour = np.clip(colour, 0, 1).astype(np.float32)
    return colour * alpha[..., None], alpha


def _foraminifer(rng, yy, xx, radius: float, texture) -> tuple[np.ndarray, np.ndarray]:
    """A trochospiral test: 4-6 chambers growing along a spiral, sutures darker, pores speckled."""
    n = int(rng.integers(4, 7))
    growth = rng.uniform(1.2, 1.4)
    sizes = growth ** np.arange(n)
    turn = rng.uniform(1.0, 1.4) * rng.choice([-1, 1])
    angles = rng.uniform(0, 2 * np.pi) + turn * np.arange(n)
    dist = 0.9 * sizes
    centres = np.stack([dist * np.sin(angles), dist * np.cos(angles)], 1)
    centres -= centres.mean(0)
    extent = np.max(np.hypot(*centres.T) + sizes)
    factor = radius / extent
    alpha = np.zeros(yy.shape, np.float32)
    shade = np.zeros(yy.shape, np.float32)
    for (cy, cx), size in zip(centres * factor, sizes * factor):  # later chambers on top
        d = np.hypot(yy - cy, xx - cx) / size
        inside = np.clip((1 - d) * size + 0.5, 0, 1)
        chamber = 1 - 0.22 * d**2 - 0.35 * np.clip((d - 0.86) / 0.14, 0, 1)  # dome, dark suture rim
        shade = np.where(inside > 0.5, chamber, shade)
        alpha = np.maximum(alpha, inside)
    body = np.array([0.94, 0.9, 0.8], np.float32) * rng.uniform(0.92, 1.04)
    pores = (texture > 1.6).astype(np.float32) * 0.08
    return alpha.astype(np.float32), body * (shade - pores)[..., None]


def _place(rng, shapes, kind, placed, height, width, scale):
    """Centres for a particle (two for a pair), or None after 60 failed tries; updates `placed`."""
    radii = [a.shape[0] / 2.9 for _, a in shapes]
    gap = 24 * scale
    for _ in range(60):
        if kind == "chopped":
            # Centre beyond or just inside one frame edge: 30-75 % of the particle is in frame.
            r = radii[0]
            side, inset = rng.integers(4), rng.uniform(-0.4, 0.45) * r
            along = rng.uniform(r, (width if side < 2 else height) - r)
            cy, cx = [(inset, along), (height - inset, along), (along, inset), (along, width - inset)][side]
            centres = [(cy, cx)]
        else:
            margin = radii[0] + gap
            cy, cx = rng.uniform(margin, height - margin), rng.uniform(margin, width - margin)
            centres = [(cy, cx)]
            if kind == "touching_pair":
                angle = rng.uniform(0, 2 * np.pi)
                step = 0.7 * (radii[0] + radii[1])  # overlapping outlines: they touch
                centres.append((cy + step * np.sin(angle), cx + step * np.cos(angle)))
                if not all(radii[1] + gap < c < s - radii[1] - gap
                           for c, s in zip(centres[1], (height, width))):
                    continue
        discs = [(c[0], c[1], r) for c, r in zip(centres, radii)]
        if all(np.hypot(a[0] - b[0], a[1] - b[1]) > a[2] + b[2] + gap for a in discs for b in placed):
            placed.extend(discs)
            return centres
    return None


def _overlap(p: _Particle, height: int, width: int):
    """Slices of the frame and of the particle patch where they overlap."""
    h, w = p.alpha.shape
    y0, x0 = max(p.top, 0), max(p.left, 0)
    y1, x1 = min(p.top + h, height), min(p.left + w, width)
    return np.s_[y0:y1, x0:x1], np.s_[y0 - p.top:y1 - p.top, x0 - p.left:x1 - p.left]


def _photograph(particles, layer: int, plate_rgb, height: int, width: int, scale: float, rng) -> np.ndarray:
    """One focal layer: plate, particles blurred by their focus distance, vignetting, sensor noise."""
    focus = layer / (NUM_LAYERS - 1)
    plate_texture = 0.03 * _smooth_noise(rng, (height, width), 40 * scale)
    image = plate_rgb * (1 + plate_texture)[..., None]
    for p in particles:
        sigma = scale * (0.6 + 9.0 * abs(p.z - focus))
        ksize = 2 * int(np.ceil(3 * sigma)) + 1
        colour = cv2.GaussianBlur(p.colour, (ksize, ksize), sigma)
        alpha = cv2.GaussianBlur(p.alpha, (ksize, ksize), sigma)
        window, local = _overlap(p, height, width)
        image[window] = image[window] * (1 - alpha[local][..., None]) + colour[local]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    vignette = 1 - 0.12 * (((yy - height / 2) / height) ** 2 + ((xx - width / 2) / width) ** 2) * 4
    image = image * vignette[..., None] + rng.normal(0, 0.012, image.shape).astype(np.float32)
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
