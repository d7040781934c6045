"""Particle extraction from microscope photo sets (Golikov et al. 2022, `seeds/003_*`, §2, Fig. 1).

The paper's pipeline, per focal layer: SLIC superpixels; background superpixels rejected by their
mean HSV saturation (the bright green plate is the most saturated thing in the photo); touching
particle superpixels merged; an axis-aligned box per particle. The six layers' boxes differ
slightly (each layer has its own focus), and the widest of them encloses the particle; all six
layers are cropped with it and resized (280x280 in the paper; `grain_photos.crop_layers`).

Beyond the paper: the threshold is chosen automatically (Otsu over the superpixel means, where
the paper drew a line by hand on a histogram), other plates work (a dark plate is background by
low HSV value; `plate="auto"` picks the feature that splits the superpixels best and calls the
larger class background), single-layer photos work, particles touching the frame are flagged
(the paper's "chopped" particles), and frames with no particle or an overexposed frame are
refused with a message naming the file. On a dark plate the threshold is Otsu's on log value.
The defaults go further for a lab's photographs (`PAPER_SETTINGS` keeps the paper's method,
which the `sediment_grains` builder uses): on a green or light plate the superpixel
classification only seeds a model of the plate's colour and light across the frame
(`plate_model`, `coretf.preprocess.grain_plate`: gradients, vignetting, colour casts cancel),
and particles are the pixels departing from it; touching and overlapping particles are split
(`split_touching`: a per-pixel mask with the thin gaps between grains cut, split by a
distance-transform watershed of the layers' combined mask, `split_particles`); the smallest
particle is given in px or square micrometres (`min_area_px`, `min_area_um2`). This module is
the method: NumPy, OpenCV, scikit-image, no Keras. Reading a lab's photo sets and cropping the
particles out of their layers are in `coretf.preprocess.grain_photos`; the command is
`python -m coretf.preprocess.grains` and the batch over folders `coretf.preprocess.grains_batch`.
Settings can be kept in a JSON file (`read_settings`), which the command and the
`sediment_grains` builder's manual configs read.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from scipy import ndimage
from skimage import filters, morphology, segmentation

from coretf import io as coretf_io
from coretf.preprocess import grain_plate
from coretf.preprocess.grain_settings import DEFAULT_MIN_AREA_PX  # noqa: F401 (the settings' names, here too)
from coretf.preprocess.grain_settings import PAPER_SETTINGS  # noqa: F401
from coretf.preprocess.grain_settings import PLATES  # noqa: F401
from coretf.preprocess.grain_settings import SETTINGS_FILE  # noqa: F401
from coretf.preprocess.grain_settings import ExtractionSettings
from coretf.preprocess.grain_settings import read_settings  # noqa: F401

# Plate -> (HSV channel used, background side): the green plate is the most saturated thing in
# the photo (the paper's criterion); a dark plate is the darkest, a white one the brightest.
_PLATE_RULES = {"green": ("saturation", "high"), "dark": ("value", "low"), "light": ("value", "high")}


@dataclasses.dataclass(frozen=True)
class Particle:
    """One extracted particle.

    Attributes:
        box: (y0, x0, y1, x1) px, end-exclusive, in the frame: the widest of the layers' boxes.
        edge: the box touches the frame (the particle may be cut: the paper's "chopped" ones).
        widest_layer: the layer whose box was taken.
        area_px: pixels of the particle's mask (union over the layers).
    """

    box: tuple[int, int, int, int]
    edge: bool
    widest_layer: int
    area_px: int


def foreground_mask(image: np.ndarray, settings: ExtractionSettings = ExtractionSettings(),
                    name: str = "image") -> tuple[np.ndarray, dict]:
    """Particle pixels of one RGB frame by SLIC superpixels and a plate-colour threshold.

    Args:
        image: (H, W, 3) uint8 RGB frame.
        settings: extraction settings.
        name: the file (or set/layer) name used in error messages.

    Returns:
        (mask, info): (H, W) bool particle mask (holes filled; with `split_touching`, per pixel
        with the gaps between particles cut) and {"feature", "threshold", "background"} of the
        decision.

    Raises:
        ImageError: the frame is overexposed, or holds no particle (it is all plate).
    """
    mask, _, info = _working_mask(image, settings, name)
    return _resize_nearest(mask, image.shape[:2]), info


def _working_mask(image: np.ndarray, settings: ExtractionSettings,
                  name: str) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """`foreground_mask` on the working copy (at most `settings.work_width` wide), and the gaps cut
    from it (`split_touching`; None otherwise)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise coretf_io.ImageError(f"{name}: expected an (H, W, 3) uint8 RGB frame, got {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    clipped = np.mean(np.all(image >= 250, axis=-1))
    if clipped > 0.5:
        raise coretf_io.ImageError(f"{name}: overexposed ({clipped:.0%} of the pixels are clipped white)")
    factor = min(1.0, settings.work_width / width)
    small = image if factor == 1.0 else cv2.resize(image, (max(1, round(width * factor)), max(1, round(height * factor))),
                                                   interpolation=cv2.INTER_AREA)
    labels = segmentation.slic(small, n_segments=settings.n_segments, compactness=settings.compactness,
                               start_label=0, channel_axis=-1)
    hsv = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)
    channels = {"saturation": hsv[..., 1], "value": hsv[..., 2]}
    counts = np.bincount(labels.ravel()).astype(np.float64)
    present = counts > 0
    means = {key: np.bincount(labels.ravel(), channel.ravel())[present] / counts[present]
             for key, channel in channels.items()}
    counts = counts[present]
    if settings.plate == "auto":
        feature, side = _auto_rule(means, counts)
    else:
        feature, side = _PLATE_RULES[settings.plate]
    values = means[feature]
    threshold = settings.threshold if settings.threshold is not None else _otsu(values)
    high = values > threshold
    background_high = side == "high" if side != "larger" else counts[high].sum() >= counts[~high].sum()
    if settings.threshold is None and feature == "value" and not background_high:
        # A dark plate: Otsu on log value (+0.02, ~5 grey levels, keeps black finite). Brightness
        # is light x reflectance, and on the linear scale the spread of bright grains pulls the
        # threshold up into the dim ones (shadowed or dark grains were lost as plate).
        threshold = float(np.exp(_otsu(np.log(values + 0.02)))) - 0.02
        high = values > threshold
    if not high.any() or high.all() or abs(values[high].mean() - values[~high].mean()) < settings.min_contrast:
        raise coretf_io.ImageError(f"{name}: no particles found (the frame is all plate: superpixel "
                                   f"{feature} {values.min():.2f}-{values.max():.2f})")
    info = {"feature": feature, "threshold": float(threshold),
            "background": "high" if background_high else "low"}
    particle_segments = ~high if background_high else high
    lookup = np.zeros(len(present), bool)
    lookup[np.nonzero(present)[0]] = particle_segments
    plate_model = settings.plate_model and background_high
    if plate_model:  # (a black plate reflects no light to model: its departures would be noise)
        # Particle-ness: the departure from the plate in units of twice its threshold, capped at
        # 1 so that a particle's own pattern (sutures, glints) makes no valley between particles.
        smooth = cv2.GaussianBlur(small.astype(np.float32) / 255.0, (0, 0), 1.0)
        distance, low, high = grain_plate.departure(smooth, ndimage.binary_erosion(~lookup[labels], iterations=2),
                                                    labels)
        info.update(departure_low=low, departure_high=high)
        particle, level = np.minimum(distance / (2 * low), 1.0), 0.5
    elif settings.split_touching:
        particle = filters.gaussian(1.0 - channels[feature] if background_high else channels[feature], sigma=1.0)
        level = 1.0 - threshold if background_high else threshold
    else:
        return ndimage.binary_fill_holes(lookup[labels]), None, info
    if not settings.split_touching:
        mask, gaps = ndimage.binary_fill_holes(particle > level), None
    else:
        mask, gaps = _separated_pixels(particle, level, settings)
    if plate_model:
        mask = grain_plate.strong_regions(mask, distance, high)
    return mask, gaps, info


def _separated_pixels(particle: np.ndarray, level: float,
                      settings: ExtractionSettings) -> tuple[np.ndarray, np.ndarray]:
    """Particle pixels by the plate threshold per pixel, with the thin gaps between particles cut.

    Superpixels (~23 px) are coarser than the gaps between touching grains, and filling the holes
    of their mask fills the plate enclosed by a ring of grains. Here each pixel (lightly smoothed)
    is thresholded; valleys towards the plate narrower than the top-hat disk are gaps (a black
    top-hat of the "particle-ness", the feature turned so that particles are high); and only
    specks are filled back (`_fill_specks`), so a longer cut stays even where it ends inside.

    Args:
        particle: (h, w) float32 particle-ness of the working copy, lightly smoothed (the plate
            feature turned so that particles are high: saturation or value, 0-1; or the capped
            departure from the plate model).
        level: the plate threshold on it.
        settings: extraction settings (gap_radius, gap_contrast).

    Returns:
        (mask, gaps): (h, w) bool particle mask with the gaps cut, and the gaps.
    """
    gaps = morphology.black_tophat(particle, morphology.disk(settings.gap_radius)) > settings.gap_contrast
    return _fill_specks((particle > level) & ~gaps, settings), gaps


def _fill_specks(mask: np.ndarray, settings: ExtractionSettings) -> np.ndarray:
    """The mask with its holes no larger than a disk one px wider than the gap top-hat's filled
    (dark specks inside a particle; a larger hole is plate enclosed by touching particles)."""
    return morphology.remove_small_holes(mask, max_size=int(np.pi * (settings.gap_radius + 1) ** 2))


def _resize_nearest(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A mask or label image resized to (height, width) by nearest neighbour (same dtype)."""
    if array.shape == tuple(shape):
        return array
    resized = cv2.resize(array.astype(np.uint8 if array.dtype == bool else np.int32), (shape[1], shape[0]),
                         interpolation=cv2.INTER_NEAREST)
    return resized.astype(array.dtype)


def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold, moved to the middle of the empty gap between the two classes (it sits at
    the edge of a histogram bin; with no values in between, the classes are the same but a per-pixel
    threshold at a cluster's edge cuts through its noise)."""
    if np.ptp(values) == 0:
        return float(values[0])
    threshold = filters.threshold_otsu(values)
    return float((values[values <= threshold].max() + values[values > threshold].min()) / 2)


def _auto_rule(means: dict, counts: np.ndarray) -> tuple[str, str]:
    """The feature whose Otsu split explains most of its variance; background = the larger class."""
    best, best_score = "saturation", -1.0
    for feature, values in means.items():
        if np.ptp(values) == 0:
            continue
        high = values > _otsu(values)
        between = high.mean() * (1 - high.mean()) * (values[high].mean() - values[~high].mean()) ** 2 \
            if high.any() and not high.all() else 0.0
        score = between / (values.var() + 1e-12)
        if score > best_score:
            best, best_score = feature, score
    return best, "larger"


def extract_particles(layers: np.ndarray, settings: ExtractionSettings = ExtractionSettings(),
                      name: str = "photo set") -> list[Particle]:
    """Particles of one stage position over all its focal layers (`extract_labelled` without
    the label image)."""
    return extract_labelled(layers, settings, name)[0]


def extract_labelled(layers: np.ndarray, settings: ExtractionSettings = ExtractionSettings(),
                     name: str = "photo set") -> tuple[list[Particle], np.ndarray, float]:
    """Particles of one stage position over all its focal layers, and their outlines.

    Each layer is segmented on its own; a particle is a connected region of the union of the
    layers' masks (with `split_touching`, one watershed region of it: `split_particles`), and its
    box is the widest (largest) of the layers' boxes of that region.

    Args:
        layers: (L, H, W, 3) uint8 RGB, L focal layers (1 for single-layer photos).
        settings: extraction settings.
        name: used in error messages.

    Returns:
        (particles, labels, px_per_label): the particles ordered top to bottom, left to right;
        their regions as an (h, w) int32 image on the working copy (particle i is label i + 1,
        0 = plate), the resolution the outlines were found at; and the frame's px per label px
        (W / w), to measure sizes in the frame's pixels (`coretf.analysis.grain_sizes`).

    Raises:
        ImageError: a layer is overexposed, or no layer holds a particle.
    """
    masks, gaps, empty = [], [], []
    for index, frame in enumerate(layers):
        try:
            mask, gap, _ = _working_mask(frame, settings, f"{name} layer {index}")
            masks.append(mask)
            gaps.append(gap)
        except coretf_io.ImageError as error:
            if "no particles" not in str(error):
                raise
            empty.append(index)
    if not masks:
        raise coretf_io.ImageError(f"{name}: no particles found in any of its {len(layers)} layers")
    height, width = layers.shape[1:3]
    union = np.any(masks, axis=0)
    if settings.split_touching:  # a gap seen sharp in one layer is blurred over in the others
        union = _fill_specks(union & ~np.any(gaps, axis=0), settings)
    count, small, regions, areas = _particle_regions(union, (height, width), settings)
    masks = [_resize_nearest(mask, (height, width)) for mask in masks]
    keep = areas >= settings.min_area(height, width)
    keep[0] = False
    found_particles = []
    layer_boxes = [ndimage.find_objects(np.where(mask, regions, 0), max_label=count - 1) for mask in masks]
    layer_ids = [i for i in range(len(layers)) if i not in empty]
    for label in np.nonzero(keep)[0]:
        best, best_area, best_layer = None, -1, 0
        for layer, boxes in zip(layer_ids, layer_boxes):
            found = boxes[label - 1]
            if found is None:
                continue
            box = (found[0].start, found[1].start, found[0].stop, found[1].stop)
            area = (box[2] - box[0]) * (box[3] - box[1])
            if area > best_area:
                best, best_area, best_layer = box, area, layer
        if best is None:  # (split) a region made only of filled-back specks
            continue
        y0, x0, y1, x1 = (int(v) for v in best)
        found_particles.append((Particle((y0, x0, y1, x1), edge=y0 == 0 or x0 == 0 or y1 == height or x1 == width,
                                         widest_layer=best_layer, area_px=int(areas[label])), label))
    if not found_particles:
        raise coretf_io.ImageError(f"{name}: no particles found (every region is smaller than "
                                   f"{settings.min_area(height, width):.0f} px)")
    found_particles.sort(key=lambda pair: (pair[0].box[0], pair[0].box[1]))
    relabel = np.zeros(count, np.int32)
    relabel[[label for _, label in found_particles]] = np.arange(1, len(found_particles) + 1)
    return [p for p, _ in found_particles], relabel[small], width / small.shape[1]


def _particle_regions(union: np.ndarray, shape: tuple[int, int],
                      settings: ExtractionSettings) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Particle regions of the layers' union mask (working copy).

    Returns:
        (count, small, regions, areas): labels 1..count-1 (0 = plate) on the working copy and
        resized to the frame (nearest neighbour: the same 8-connected regions), and the area in
        frame px of each label (areas[0] is the plate's).
    """
    if settings.split_touching:
        small = split_particles(union, settings).astype(np.int32)
    else:
        small = cv2.connectedComponents(union.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S)[1]
    regions = _resize_nearest(small, shape)
    count = int(small.max()) + 1
    return count, small, regions, np.bincount(regions.ravel(), minlength=count)


def split_particles(mask: np.ndarray, settings: ExtractionSettings = ExtractionSettings()) -> np.ndarray:
    """Touching particles of a mask split into one label each (distance-transform watershed).

    Each particle's centre is a peak of the (lightly smoothed) distance d to the plate; a peak is
    a particle of its own when the neck joining it to a higher one is narrow enough:
    (1 + d_neck) <= settings.neck_ratio * (1 + d_peak), i.e. h-maxima of log(1 + d) with
    h = -log(neck_ratio). A watershed of -d from those markers, within the mask, cuts the regions
    at their necks.

    Args:
        mask: (h, w) bool particle mask.
        settings: extraction settings (neck_ratio).

    Returns:
        (h, w) int32 labels, 0 = plate.
    """
    distance = filters.gaussian(ndimage.distance_transform_edt(mask), sigma=1.0)
    depth = -np.log(settings.neck_ratio)
    markers = ndimage.label(morphology.h_maxima(np.log1p(distance), depth).astype(bool) & mask)[0]
    return segmentation.watershed(-distance, markers, mask=mask).astype(np.int32)
