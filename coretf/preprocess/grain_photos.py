"""A lab's microscope photo sets (Golikov et al. 2022, `seeds/003_*`, §2, Fig. 1): finding and
reading them, cropping a particle out of all its focal layers, and scoring detected boxes.

A photo set is one stage position photographed at six focus depths (`NUM_LAYERS`; 1 for
single-layer photos). `find_photo_sets` recognises a lab's folder layouts, `read_photo_set`
reads one set as a layer stack, and `crop_layers` cuts the particle box that
`coretf.preprocess.grain_extraction` found out of every layer, resized as in the paper (280 px).
The detection scores (`box_iou`, `match_boxes`, `detection_scores`, and true boxes from a grain
mask: `boxes_from_label_mask`) judge extracted boxes against known ones. NumPy, OpenCV,
scikit-image; no Keras.
"""

from __future__ import annotations

import dataclasses
import os
import re

import cv2
import numpy as np
from scipy import ndimage
from skimage import segmentation

from coretf import io as coretf_io

NUM_LAYERS = 6
_LAYER_NAME = re.compile(r"^(?P<position>.+?)[_-](?:l|layer|f|focus)?(?P<layer>\d+)$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class PhotoSetFiles:
    """The files of one stage position: sample and position ids and its layer files in order."""

    sample: str
    position: str
    paths: tuple[str, ...]


def find_photo_sets(folder: str, layers: int = NUM_LAYERS) -> list[PhotoSetFiles]:
    """Finds the photo sets of a lab's folder.

    Layouts (sample = the folder holding the positions, relative to `folder`; "." -> its name):
      - one folder per stage position holding its layer images (sorted by name = layer order):
        `<sample>/<position>/<any name>.png`;
      - or layer files named `<position>_L<k>` (also `_layer<k>`, `_<k>`), k = layer number:
        `<sample>/<position>_L1.png ... _L6.png` (a folder with one such position counts as a
        position folder);
      - with `layers=1`, every image is its own single-layer position.
    Hidden files and masks (stems ending in `coretf.io.MASK_STEMS`, e.g. `*_mask.tif`) are not photos.

    Sets are not checked here (incomplete ones are reported when read, so a batch carries on).

    Raises:
        ValueError: the folder does not exist or holds no image.
    """
    if not os.path.isdir(folder):
        raise ValueError(f"{folder}: input folder does not exist")
    found: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        images = sorted(f for f in files if os.path.splitext(f)[1].lower() in coretf_io.IMAGE_SUFFIXES
                        and not f.startswith(".")
                        and not os.path.splitext(f)[0].endswith(coretf_io.MASK_STEMS))
        if not images:
            continue
        relative = os.path.relpath(root, folder)
        parent = os.path.dirname(relative) or "."
        named = [_LAYER_NAME.match(os.path.splitext(f)[0]) for f in images]
        if layers == 1:
            for f in images:
                found[(relative, os.path.splitext(f)[0])] = [(0, os.path.join(root, f))]
        elif all(named) and 1 < len({m["position"] for m in named}) < len(images):
            for f, m in zip(images, named):
                found.setdefault((relative, m["position"]), []).append((int(m["layer"]), os.path.join(root, f)))
        else:
            found[(parent, os.path.basename(root) if relative != "." else os.path.basename(os.path.abspath(folder)))] = \
                list(enumerate(os.path.join(root, f) for f in images))
    if not found:
        raise ValueError(f"{folder}: no images ({', '.join(coretf_io.IMAGE_SUFFIXES)}) found")

    def sample_name(rel):
        return os.path.basename(os.path.abspath(folder)) if rel == "." else rel.replace(os.sep, "/")

    return [PhotoSetFiles(sample_name(sample), position, tuple(p for _, p in sorted(entries)))
            for (sample, position), entries in sorted(found.items())]


def read_photo_set(files: PhotoSetFiles, layers: int = NUM_LAYERS) -> np.ndarray:
    """Reads a set's layers as (L, H, W, 3) uint8 RGB (grey is repeated, alpha dropped, 16 bit scaled).

    Raises:
        ImageError: a file cannot be read, the set has another number of layers than `layers`,
            or the layers differ in size.
    """
    label = f"{files.sample}/{files.position}"
    if len(files.paths) != layers:
        raise coretf_io.ImageError(f"{label}: {len(files.paths)} layer image(s), expected {layers} "
                                   f"({', '.join(os.path.basename(p) for p in files.paths)})")
    frames = []
    for path in files.paths:
        image = coretf_io.to_uint8(coretf_io.read_image(path))
        image = np.repeat(image[..., None], 3, -1) if image.ndim == 2 else image[..., :3]
        if frames and image.shape != frames[0].shape:
            raise coretf_io.ImageError(f"{label}: {os.path.basename(path)} is {image.shape[1]}x{image.shape[0]} px "
                                       f"but {os.path.basename(files.paths[0])} is "
                                       f"{frames[0].shape[1]}x{frames[0].shape[0]} px")
        frames.append(image)
    return np.stack(frames)


def crop_layers(layers: np.ndarray, box, size: int) -> np.ndarray:
    """All layers cropped with one box and resized to size x size (area interpolation).

    Args:
        layers: (L, H, W, 3) uint8.
        box: (y0, x0, y1, x1), end-exclusive.
        size: output side in px (the paper: 280).

    Returns:
        (L, size, size, 3) uint8.
    """
    y0, x0, y1, x1 = box
    interpolation = cv2.INTER_AREA if max(y1 - y0, x1 - x0) >= size else cv2.INTER_LINEAR
    return np.stack([cv2.resize(np.ascontiguousarray(layer[y0:y1, x0:x1]), (size, size),
                                interpolation=interpolation) for layer in layers])


def box_iou(a, b) -> float:
    """IoU of two (y0, x0, y1, x1) end-exclusive boxes."""
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_boxes(predicted, true, min_iou: float = 0.5) -> list[tuple[int, int, float]]:
    """One-to-one matches (predicted index, true index, IoU), greedily by IoU, IoU >= min_iou."""
    pairs = sorted(((box_iou(p, t), i, j) for i, p in enumerate(predicted) for j, t in enumerate(true)),
                   reverse=True)
    used_p, used_t, matches = set(), set(), []
    for iou, i, j in pairs:
        if iou < min_iou:
            break
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            matches.append((i, j, iou))
    return matches


def detection_scores(predicted, true, min_iou: float = 0.5) -> dict:
    """Detection precision and recall at an IoU threshold (one-to-one matching).

    Returns:
        {"precision", "recall", "matched", "predicted", "true"}; precision (recall) is 1.0 when
        nothing was predicted (nothing was there).
    """
    matched = len(match_boxes(predicted, true, min_iou))
    return {"precision": matched / len(predicted) if len(predicted) else 1.0,
            "recall": matched / len(true) if len(true) else 1.0,
            "matched": matched, "predicted": len(predicted), "true": len(true)}


def boxes_from_label_mask(mask: np.ndarray, *, grain: int = 1, edge: int = 2,
                          min_area: int = 50) -> list[tuple[int, int, int, int]]:
    """True boxes from a 3-class grain mask (segmenteverygrain: 0 background, 1 grain, 2 edge).

    Grain interiors are separated by edge pixels, so each interior component is one grain; it is
    grown into the surrounding edge pixels (nearest interior wins) before its box is taken.
    """
    interior = ndimage.label(mask == grain)[0]
    grown = segmentation.expand_labels(interior, distance=10) * (mask > 0)
    return [(s[0].start, s[1].start, s[0].stop, s[1].stop)
            for label, s in enumerate(ndimage.find_objects(grown), 1)
            if s is not None and (interior == label).sum() >= min_area]


def detection_tally(predicted, true, groups: dict | None = None, min_iou: float = 0.5) -> dict:
    """Matched, predicted and true counts of one photo, overall and per group of true boxes.

    Args:
        predicted, true: lists or (N, 4) arrays of (y0, x0, y1, x1) boxes.
        groups: name -> (N_true,) bool, e.g. {"overlapping": ..., "cut": ...}.
        min_iou: IoU at which a box matches.

    Returns:
        {"matched", "predicted", "true", "groups": {name: {"matched", "true"}}}; tallies of
        several photos add up with `pooled_scores`.
    """
    found = np.zeros(len(true), bool)
    found[[j for _, j, _ in match_boxes(predicted, true, min_iou)]] = True
    return {"matched": int(found.sum()), "predicted": len(predicted), "true": len(true),
            "groups": {name: {"matched": int(found[np.asarray(member, bool)].sum()),
                              "true": int(np.sum(member))} for name, member in (groups or {}).items()}}


def pooled_scores(tallies: list[dict]) -> dict:
    """Precision and recall pooled over photos (`detection_tally`), and the recall per group.

    Returns:
        {"precision", "recall", "matched", "predicted", "true", "<group>_recall", ...}; a ratio
        with nothing to count is None.
    """
    def ratio(a, b):
        return round(a / b, 4) if b else None

    total = {key: sum(t[key] for t in tallies) for key in ("matched", "predicted", "true")}
    scores = {"precision": ratio(total["matched"], total["predicted"]),
              "recall": ratio(total["matched"], total["true"]), **total}
    for name in sorted({name for t in tallies for name in t["groups"]}):
        matched = sum(t["groups"][name]["matched"] for t in tallies if name in t["groups"])
        scores[f"{name}_recall"] = ratio(matched, sum(t["groups"][name]["true"] for t in tallies if name in t["groups"]))
    return scores
