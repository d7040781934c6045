"""The field of view of an ice-core micro-CT slice (Bagherzadeh et al. 2023, §III: "crop the ring").

Where the slice holds specimen data, as a circle or a rectangle, in one of three modes (the
`--fov` flag of `python -m coretf.preprocess.ice_labels`):

- `auto`: inside the carbon-fibre tube (`find_field_of_view`), checked against the data. A real
  slice need not show a tube: the SnowEx snow slice in `shared/realdata` is a binary disc with no
  ring, where the search latches onto a 47.5 px cluster of ice grains inside a 267.5 px disc of data.
  So the search is distrusted when the bright region it found is not a closed ring, when the
  circle inside it is much smaller than the region the non-empty data fill (`data_extent`), or
  when it finds nothing; the field of view is then that data extent, with a warning naming the
  slice and what was found;
- `none`: the whole image;
- a given circle `x,y,r` in pixels (`parse_fov`), checked against each slice's size.

Coordinates: a circle's `centre` is (row, col) with pixel (i, j) centred at (i + 0.5, j + 0.5),
so `x,y` is (col, row) in pixels from the image's top-left corner (pixel (0, 0) spans 0 to 1).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from skimage.filters import threshold_otsu

from coretf.io import ImageError

FOV_WORK_SIDE = 1024  # the ring search runs on the slice reduced to at most this side
# The tube's wall is bright all round: at a real ring nearly every angle is; a cluster of ice
# grains or the rim of a specimen without a tube is bright at a fraction of the angles.
MIN_RING_COVERAGE = 0.9
# A field of view whose radius is under half the data's (a quarter of its area) is not a tube's
# inside: scanners put the tube across most of the reconstructed disc.
MIN_RADIUS_RATIO = 0.5
FOV_MODES = ("auto", "none")
SOURCES = ("ring", "data disc", "data rectangle", "image", "given")


class BlankSliceError(ImageError):
    """A slice with no usable contrast (all black, or constant): skipped, never labelled."""


@dataclasses.dataclass(frozen=True)
class FieldOfView:
    """Where a slice holds data: a circle, or the rectangle `box` when one is given.

    Attributes:
        centre: (row, col) of the circle (or the rectangle's centre), px.
        radius: the circle's radius, px (a rectangle's half diagonal).
        box: (top, left, bottom, right) pixel edges of a rectangular field of view, else None.
        source: how it was found, one of SOURCES ("ring": inside the carbon-fibre tube).
    """

    centre: tuple[float, float]
    radius: float
    box: tuple[float, float, float, float] | None = None
    source: str = "ring"

    @classmethod
    def rectangle(cls, top: float, left: float, bottom: float, right: float,
                  source: str) -> FieldOfView:
        centre = ((top + bottom) / 2.0, (left + right) / 2.0)
        return cls(centre, float(np.hypot(bottom - top, right - left) / 2.0),
                   (float(top), float(left), float(bottom), float(right)), source)

    def scaled(self, factor: float) -> FieldOfView:
        """The same field on a grid `factor` times as fine (0.5 for the low resolution)."""
        box = None if self.box is None else tuple(v * factor for v in self.box)
        return FieldOfView((self.centre[0] * factor, self.centre[1] * factor), self.radius * factor,
                           box, self.source)

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """(H, W) bool, True for pixels inside (a circle drawn by OpenCV to 1/16 px)."""
        if self.box is not None:
            rows, cols = np.arange(shape[0]) + 0.5, np.arange(shape[1]) + 0.5
            top, left, bottom, right = self.box
            return (((rows >= top) & (rows <= bottom))[:, None]
                    & ((cols >= left) & (cols <= right))[None, :])
        mask = np.zeros(shape, np.uint8)
        # OpenCV's pixel (i, j) has its centre at (i, j); ours at (i + 0.5, j + 0.5).
        centre = tuple(int(round((c - 0.5) * 16)) for c in self.centre[::-1])
        cv2.circle(mask, centre, int(round(max(self.radius - 0.5, 0.0) * 16)), 1, -1, cv2.LINE_8, 4)
        return mask.view(bool)

    def narrower(self, other: FieldOfView, shape: tuple[int, int]) -> FieldOfView:
        """The field of view of a pair of slices: for two circles the first's centre and the
        smaller radius (the circles of consecutive slices differ by a fraction of a pixel);
        otherwise the one with fewer pixels on a grid of `shape`."""
        if self.box is None and other.box is None:
            return dataclasses.replace(self, radius=min(self.radius, other.radius))
        return self if self.mask(shape).sum() <= other.mask(shape).sum() else other

    def describe(self) -> str:
        """For messages: 'circle x=267.5, y=267.5, r=267.8 px' or 'rectangle x 0-535, y 0-535 px'."""
        if self.box is not None:
            top, left, bottom, right = self.box
            return f"rectangle x {left:g}-{right:g}, y {top:g}-{bottom:g} px"
        return f"circle x={self.centre[1]:.1f}, y={self.centre[0]:.1f}, r={self.radius:.1f} px"

    def record(self) -> dict:
        """Flat fields for a slice's JSON and CSV row (x, y: centre; r for circles, else width
        and height), the same keys for every kind."""
        width = height = radius = None
        if self.box is None:
            radius = round(self.radius, 2)
        else:
            height, width = self.box[2] - self.box[0], self.box[3] - self.box[1]
        return {"fov_source": self.source, "fov_x": round(self.centre[1], 2),
                "fov_y": round(self.centre[0], 2), "fov_r": radius, "fov_width": width,
                "fov_height": height}


def whole_image(shape: tuple[int, int]) -> FieldOfView:
    """The field of view of `--fov=none`."""
    return FieldOfView.rectangle(0, 0, shape[0], shape[1], "image")


def parse_fov(text: str) -> str | FieldOfView:
    """`auto`, `none` or `x,y,r` (pixels: centre column and row, radius) as a mode or a circle.

    Raises:
        ValueError: one line saying what is expected.
    """
    value = text.strip().lower()
    if value in FOV_MODES:
        return value
    parts = value.split(",")
    try:
        x, y, r = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"--fov={text}: expected auto, none or x,y,r (the circle's centre column, "
                         f"row and radius in pixels, e.g. 267.5,267.5,260)") from None
    if not all(np.isfinite((x, y, r))) or r <= 0:
        raise ValueError(f"--fov={text}: the radius must be a positive number of pixels")
    return FieldOfView((y, x), r, source="given")


def check_field_of_view(fov: FieldOfView, shape: tuple[int, int], name: str) -> None:
    """Raises ImageError, naming the slice, unless `fov` has its centre on the slice and a
    radius from 1 px up to the slice's diagonal."""
    (y, x), (h, w) = fov.centre, shape
    if not (0 <= x <= w and 0 <= y <= h):
        raise ImageError(f"{name}: the field of view's centre x={x:g}, y={y:g} is outside the "
                         f"{w}x{h} px slice (x across, y down, from the top-left corner)")
    if not 1 <= fov.radius <= np.hypot(h, w):
        raise ImageError(f"{name}: the field of view's radius {fov.radius:g} px does not fit a "
                         f"{w}x{h} px slice (1 to {np.hypot(h, w):.0f} px)")


def find_field_of_view(image: np.ndarray, name: str = "slice") -> FieldOfView:
    """Finds the circle inside the carbon-fibre tube of a denoised slice.

    The tube is the outermost bright ring: the widest connected bright region (above Otsu's
    threshold of the reduced slice) gives the tube's outer circle; the inner wall is the outermost
    step of the mean radial profile at least half as steep as its steepest step within the outer
    15 % of that radius (8 px at least); the field of view stops 2.5 reduced pixels inside it, so
    no ring pixel blurred by the scanner is kept. Not checked: `auto_field_of_view` checks it.

    Args:
        image: (H, W) uint8 or uint16 slice, salt-and-pepper removed.
        name: the slice's name, for errors.

    Returns:
        The field of view in the slice's pixels.

    Raises:
        ImageError: no ring is found (BlankSliceError: a constant slice).
    """
    return _search_ring(image, name)[0]


def _search_ring(image: np.ndarray, name: str) -> tuple[FieldOfView, float]:
    """`find_field_of_view` and the share of angles at which the region found is a bright wall."""
    scale = min(1.0, FOV_WORK_SIDE / max(image.shape))
    small = image
    if scale < 1.0:
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    small = small.astype(np.float32)
    if small.max() <= small.min():
        raise BlankSliceError(f"{name}: blank slice (every pixel is {small.max():g})")
    threshold = threshold_otsu(small)
    bright = (small > threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=8)
    if count < 2:
        raise ImageError(f"{name}: no bright carbon-fibre ring found")
    # The ring encloses everything else: the component with the largest bounding box.
    extent = stats[1:, cv2.CC_STAT_WIDTH].astype(np.int64) * stats[1:, cv2.CC_STAT_HEIGHT]
    largest = 1 + int(np.argmax(extent))
    region = (labels == largest).astype(np.uint8)
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    (cx, cy), outer = cv2.minEnclosingCircle(np.concatenate(contours))
    if outer < 8:
        raise ImageError(f"{name}: no carbon-fibre ring found (brightest region {outer:.0f} px)")
    # Mean radial profile at 1 px steps, from a polar resampling (angles x radii).
    bins = int(np.ceil(outer)) + 2
    polar = cv2.warpPolar(small, (bins, 360), (cx, cy), float(bins),
                          cv2.WARP_POLAR_LINEAR | cv2.INTER_LINEAR | cv2.WARP_FILL_OUTLIERS)
    profile = polar.mean(axis=0)
    lo, hi = min(int(0.85 * outer), int(outer) - 8), int(outer) - 2
    if hi - lo < 2 or hi >= len(profile):
        raise ImageError(f"{name}: the ring at radius {outer / scale:.0f} px is too thin or cut off")
    steps = np.diff(profile[lo : hi + 1])
    # The wall's inner edge is the outermost strong step: a specimen touching the wall may show
    # a larger step further in (ice against the air gap), which is still inside the field of
    # view. Where the tube has air around it, the blurred fall at the wall's outside can reach
    # into the window: a fall that drops below the bright threshold within 3 px, with a strong
    # rise further in, is that outside, and the rise (air gap to wall) is the inside.
    strong = np.nonzero(np.abs(steps) >= 0.5 * np.abs(steps).max())[0]
    edge, rises = int(strong[-1]), strong[steps[strong] > 0]
    if steps[edge] < 0 and rises.size and profile[lo + edge + 1 : lo + edge + 4].min() < threshold:
        edge = int(rises[-1])
    inner = lo + edge + 1.0  # first radius in the wall
    fov = FieldOfView(((cy + 0.5) / scale, (cx + 0.5) / scale), (inner - 2.5) / scale)
    wall = cv2.warpPolar(region.astype(np.float32), (bins, 360), (cx, cy), float(bins),
                         cv2.WARP_POLAR_LINEAR | cv2.INTER_NEAREST | cv2.WARP_FILL_OUTLIERS)
    band = wall[:, int(inner) : max(int(outer), int(inner) + 1)]
    return fov, float(np.mean(band.mean(axis=1) >= 0.5))


def data_extent(image: np.ndarray, name: str = "slice") -> FieldOfView:
    """The disc or rectangle that a slice's non-empty pixels fill.

    Empty pixels hold the value most common on the image's border (a reconstruction leaves the
    outside of its circle at one value, usually 0; in a binary slice that is also the air, which
    the geometry then tells apart). Of the smallest circle around the non-empty pixels and their
    bounding rectangle, the one covering fewer pixels of the image is the extent.

    Args:
        image: (H, W) uint8 or uint16, denoised (a stray salt pixel would stretch the extent).
        name: for errors.

    Raises:
        BlankSliceError: every pixel is empty.
    """
    border = np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])
    values, counts = np.unique(border, return_counts=True)
    filled = image != values[np.argmax(counts)]
    rows = np.nonzero(filled.any(axis=1))[0]
    if rows.size == 0:
        raise BlankSliceError(f"{name}: blank slice (every pixel is {values[np.argmax(counts)]})")
    cols = np.nonzero(filled.any(axis=0))[0]
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    box = FieldOfView.rectangle(top, left, bottom, right, "data rectangle")
    # The convex hull needs only each row's outermost non-empty pixels (x, y).
    inner = filled[top:bottom]
    first = inner.argmax(axis=1)
    last = inner.shape[1] - 1 - inner[:, ::-1].argmax(axis=1)
    keep = inner[np.arange(inner.shape[0]), first]
    ys = np.arange(top, bottom)[keep]
    points = np.concatenate([np.stack([first[keep], ys], 1), np.stack([last[keep], ys], 1)])
    (cx, cy), radius = cv2.minEnclosingCircle(cv2.convexHull(points.astype(np.int32)))
    # The circle passes through the outermost pixels' centres: half a pixel more keeps them whole.
    disc = FieldOfView((cy + 0.5, cx + 0.5), radius + 0.5, source="data disc")
    # A disc that covers 98 % of the rectangle or more is the rectangle (data filling the image).
    area = (bottom - top) * (right - left)
    return disc if disc.mask(image.shape).sum() < 0.98 * area else box


def auto_field_of_view(image: np.ndarray, name: str = "slice") -> tuple[FieldOfView, str | None]:
    """The ring's field of view if it passes the checks, else the data extent and why.

    Args:
        image: (H, W) uint8 or uint16, denoised.
        name: the slice's name, for the messages.

    Returns:
        (field of view, None) when the ring is trusted, else (the data extent, a one-line
        warning naming the slice, what was found and what is used instead).

    Raises:
        BlankSliceError: a constant slice.
    """
    try:
        ring, coverage = _search_ring(image, name)
    except BlankSliceError:
        raise
    except ImageError as error:
        extent = data_extent(image, name)
        return extent, f"{error}; field of view = the data extent ({extent.describe()})"
    # The check needs only the extent's size: measured on every n-th pixel (n: the ring
    # search's reduction), which keeps the empty value exact and costs little on 4096^2 slices.
    step = max(1, int(max(image.shape) // FOV_WORK_SIDE))
    sample = image[::step, ::step]
    rough = data_extent(sample, name)
    data_radius = float(np.sqrt(rough.mask(sample.shape).sum() / np.pi)) * step
    if ring.radius < MIN_RADIUS_RATIO * data_radius:
        if rough.box is None:
            data = f"a disc of radius {rough.radius * step:.0f} px"
        else:
            top, left, bottom, right = (v * step for v in rough.box)
            data = f"a {right - left:.0f}x{bottom - top:.0f} px rectangle"
        found = (f"the ring search found a {ring.radius:.1f} px circle at x={ring.centre[1]:.0f}, "
                 f"y={ring.centre[0]:.0f} where the data fill {data}")
    elif coverage < MIN_RING_COVERAGE:
        found = (f"no closed carbon-fibre ring (the bright region around the {ring.radius:.0f} px "
                 f"circle at x={ring.centre[1]:.0f}, y={ring.centre[0]:.0f} is bright at "
                 f"{coverage:.0%} of angles)")
    else:
        return ring, None
    extent = data_extent(image, name)
    return extent, f"{name}: {found}; field of view = the data extent ({extent.describe()})"


def resolve(image: np.ndarray, name: str, fov: FieldOfView | None = None,
            fov_mode: str = "auto") -> tuple[FieldOfView, str | None]:
    """The field of view of a denoised slice: `fov` if given (checked), else by `fov_mode`.

    Returns:
        (field of view, the warning of an automatic search that fell back, or None).

    Raises:
        ImageError: a given circle that does not fit the slice, or an unknown mode.
    """
    if fov is not None:
        check_field_of_view(fov, image.shape, name)
        return fov, None
    if fov_mode == "none":
        return whole_image(image.shape), None
    if fov_mode == "auto":
        return auto_field_of_view(image, name)
    raise ImageError(f"{name}: unknown field-of-view mode {fov_mode!r} (expected one of {FOV_MODES})")
