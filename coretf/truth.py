"""A prediction against a lab's true mask: reading the mask (and its label map), and the
paper's Image-IoU with the pooled IoU and accuracy over the pixels the truth does not ignore.
Used by `coretf.inference.predict_image` (predict's `--truth`).
"""

from __future__ import annotations

import os

import numpy as np

from coretf import io as coretf_io
from coretf import labels as labels_lib
from coretf import metrics as metrics_lib
from coretf import tiling


def image_iou(predicted_kept: np.ndarray, true_kept: np.ndarray, tile: int, *, of_kept: bool = False,
              valid: np.ndarray | None = None) -> dict:
    """The paper's Image-IoU (mean Patch-IoU over the section's tiles) and the pooled IoU of one class.

    Inputs are boolean (H, W), True = the confidence class (undisturbed sediment for cores, pore
    for rocks). The IoU is that of the other class (the disturbance, as in Hutton 2025), or of the
    confidence class itself with `of_kept` (the export's iou_class is its confidence_class).
    Pixels outside `valid` (ignored in the truth) count nowhere, and a tile with none counts in no
    figure.
    """
    valid = np.ones(predicted_kept.shape, bool) if valid is None else valid
    predicted, true = (predicted_kept, true_kept) if of_kept else (~predicted_kept, ~true_kept)
    predicted, true = predicted & valid, true & valid
    ious = []
    for r in tiling.tile_starts(predicted.shape[0], tile, 0):
        for c in tiling.tile_starts(predicted.shape[1], tile, 0):
            if not valid[r:r + tile, c:c + tile].any():
                continue
            p, t = predicted[r:r + tile, c:c + tile], true[r:r + tile, c:c + tile]
            ious.append((np.sum(p & t) + metrics_lib.SMOOTH) / (np.sum(p | t) + metrics_lib.SMOOTH))
    union = np.sum(predicted | true)
    counted = int(valid.sum())
    return {"image_iou": float(np.mean(ious)) if ious else None, "patches": len(ious),
            "pooled_iou": float(np.sum(predicted & true) / union) if union else 1.0,
            "accuracy": float(np.sum((predicted == true) & valid) / counted) if counted else None,
            "ignored_share": float(1 - counted / valid.size)}


def read_truth(truth: str, image_path: str, shape: tuple[int, int], class_names=(),
               confidence_class: int = 1, label_map: labels_lib.LabelMap | None = None):
    """The true mask of an image: (kept, valid) boolean (H, W) arrays, kept = the confidence class
    (undisturbed for cores), valid = not ignored.

    The mask is `<truth>/<name>_mask.png` (or .tif, or `<truth>/<name>.png` in a folder of masks),
    or the input's alpha channel when `truth == "alpha"`. Without a label map (`label_map`, else `<truth>/labels.csv`), non-zero = the
    confidence class and nothing is ignored.
    """
    stem = os.path.splitext(os.path.basename(image_path))[0]
    if truth == "alpha":
        image = coretf_io.read_image(image_path)
        if image.ndim != 3 or image.shape[2] != 4:
            raise coretf_io.ImageError(f"{image_path}: --truth=alpha but the image has no alpha channel")
        mask, name = image[..., 3], image_path
    else:
        # <name>_mask first; a masks/ folder may also name a mask after its image (not the image's own folder)
        stems = [f"{stem}_mask"] + ([stem] if os.path.abspath(truth) != os.path.dirname(os.path.abspath(image_path)) else [])
        names = [os.path.join(truth, f"{s}{suffix}") for s in stems for suffix in (".png", ".tif", ".tiff")]
        name = next((n for n in names if os.path.isfile(n)), names[0])
        mask = coretf_io.read_image(name)
    if mask.shape[:2] != tuple(shape):
        raise coretf_io.ImageError(f"{name}: mask is {mask.shape[1]}x{mask.shape[0]} px but the image "
                                   f"is {shape[1]}x{shape[0]} px")
    if label_map is None and truth != "alpha":
        label_map = labels_lib.folder_label_map(truth, None)
    if label_map is None:
        grey = mask if mask.ndim == 2 else mask[..., 0]
        return grey > 0, np.ones(grey.shape, bool)
    if not class_names:
        raise ValueError(f"{name}: the model's export names no classes, so a label map cannot say which is which")
    classes = label_map.apply(mask, class_names, name)
    return classes == confidence_class, classes != labels_lib.IGNORE
