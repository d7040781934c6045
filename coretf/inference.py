"""Whole-image inference from an exported SavedModel (the method of `python -m coretf.predict`).

Only TensorFlow and the SavedModel are needed: the model's `metadata` signature says the job,
training scale (px/cm), tile size and class meaning. Each image is cut into overlapping tiles
(`coretf.tiling`: none dropped, mirror padding at the borders, blended seams), after resampling
to the model's training scale (times `resolution_factor`, to segment at reduced resolution, as
Hutton 2025 §5.1.1 suggests; the result is resampled back). Tiles are streamed along the
section's depth axis and the confidence map is written as it is computed, so memory is the
decoded image, its mask and a constant; a tiled (Big)TIFF is read tile by tile and not held at
all. The model sees every tile in its training orientation (depth along x).

Per image `<name>`, `predict_image` writes, each atomically:
  <name>_mask.png        uint8, the input's size: 255 = the export's confidence class (undisturbed
                         sediment for cores, pore for rocks, ice for ice cores), 0 = the rest
  <name>_confidence.tif  float32 tiled BigTIFF: probability of the confidence class
  <name>_uncertainty.tif float32 tiled BigTIFF: predictive entropy / ln C (0 sure, 1 uniform;
                         `coretf.uncertainty`), and <name>_uncertainty.png its picture
  <name>_overlay.png     a preview (at most `preview_size` px long) with the rest tinted red
  <name>.json            the run: model hash, metadata, parameters, timings, the fraction of the
                         confidence class (`<class>_fraction`, e.g. `undisturbed_fraction`), and
                         with a true mask the paper's Image-IoU (mean Patch-IoU over the section's
                         tiles) and the pooled IoU of the export's iou_class.
The JSON is written last, so its presence marks the image as done.
"""

from __future__ import annotations

import math
import os
import time

import cv2
import numpy as np

from coretf import image_source
from coretf import io as coretf_io
from coretf import labels as labels_lib
from coretf import outputs, plots, provenance, serving, tiling
from coretf import truth as truth_lib
from coretf import tta as coretf_tta
from coretf import uncertainty
from coretf.analysis import colour_batch, colour_lines

DEFAULT_TILE, DEFAULT_OVERLAP = 512, 64
OUTPUT_SUFFIXES = ("_mask.png", "_confidence.tif", "_uncertainty.tif", "_uncertainty.png", "_overlay.png", ".json")


class Predictor:
    """A loaded SavedModel and what its metadata says about inference."""

    def __init__(self, model_dir: str):
        self.served = serving.load(model_dir)
        self.metadata = self.served.metadata
        self.confidence_class = int(self.metadata["confidence_class"])
        names = self.metadata.get("class_names") or []
        # what the mask's 255 means, in the job's words: undisturbed, pore, ice
        self.class_name = names[self.confidence_class] if self.confidence_class < len(names) else "confidence_class"

    @property
    def model_dir(self) -> str:
        return self.served.path

    @property
    def channels(self) -> int:
        return self.served.channels

    @property
    def hash(self) -> str:
        return self.served.hash

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(B, H, W, C) float32 in [0, 1], model orientation -> (B, H, W, K) probabilities."""
        return self.served(batch)["probabilities"]


def _to_model_input(region: np.ndarray, channels: int, name: str = "image") -> np.ndarray:
    """A raw region (H, W, C) of any supported dtype -> float32 [0, 1] with the model's channels.

    Raises:
        ImageError: a float region with values outside [0, 1] (e.g. 0-255 saved as float).
    """
    region = coretf_io.to_float(coretf_io.check_unit_range(region, name))
    if region.shape[-1] == 4:
        region = region[..., :3]  # alpha is a label (GIMP-style), not colour
    if channels == 1 and region.shape[-1] == 3:
        region = cv2.cvtColor(np.ascontiguousarray(region), cv2.COLOR_RGB2GRAY)[..., None]
    elif channels == 3 and region.shape[-1] == 1:
        region = np.repeat(region, 3, axis=-1)
    return region


def check_input(source: image_source.ImageSource, predictor: "Predictor", convert_grayscale: bool = False) -> None:
    """Refuses, naming the file, an image the model was not made for: a grayscale image for a
    model of RGB photographs (unless `convert_grayscale`), or a side shorter than the model's
    minimum (`min_side` in the export's metadata, else its downsampling factor)."""
    if predictor.channels == 3 and source.channels == 1 and not convert_grayscale:
        raise coretf_io.ImageError(
            f"{source.name}: a grayscale image for a model of RGB photographs; give "
            "--convert_grayscale to repeat its grey into R, G and B")
    metadata = predictor.metadata
    least = max(2, int(metadata.get("min_side", metadata.get("input_multiple", 1))))
    if min(source.shape) < least:
        raise coretf_io.ImageError(f"{source.name}: {source.shape[1]} x {source.shape[0]} px, smaller than "
                                   f"the model's minimum of {least} px a side")


def _open_input(path: str, transform) -> image_source.ImageSource:
    """The image as the model expects it: the export's declared input transform applied to the
    whole image (e.g. ice-core CT slices denoised and normalised in their field of view, as in
    training), or the image itself, tile by tile for a tiled TIFF."""
    if transform is None:
        return image_source.open_image(path)
    return image_source.ArraySource(transform(coretf_io.read_image(path), path), path)


def _sample_grid(scale: float, start: int, stop: int) -> np.ndarray:
    """Input coordinates of output pixels [start, stop) under `out = in * scale` (pixel centres)."""
    return (np.arange(start, stop) + 0.5) / scale - 0.5


class _ScaledReader:
    """Reads regions of the stream-frame image resampled to the inference grid (bilinear)."""

    def __init__(self, read, shape: tuple[int, int], inference_shape: tuple[int, int]):
        self.read, self.shape, self.inference_shape = read, shape, inference_shape
        self.scale = (inference_shape[0] / shape[0], inference_shape[1] / shape[1])
        smallest = min(self.scale)
        # Anti-aliasing when shrinking: a Gaussian of sigma ~ half the shrink factor.
        self.sigma = 0.5 / smallest if smallest < 1 else 0.0
        self.margin = int(math.ceil(3 * self.sigma)) + 2

    def __call__(self, r0, r1, c0, c1):
        if self.inference_shape == self.shape:
            return self.read(r0, r1, c0, c1)
        ys = _sample_grid(self.scale[0], r0, r1)
        xs = _sample_grid(self.scale[1], c0, c1)
        y0 = max(0, int(np.floor(ys[0])) - self.margin)
        y1 = min(self.shape[0], int(np.floor(ys[-1])) + 2 + self.margin)
        x0 = max(0, int(np.floor(xs[0])) - self.margin)
        x1 = min(self.shape[1], int(np.floor(xs[-1])) + 2 + self.margin)
        region = np.ascontiguousarray(self.read(y0, y1, x0, x1))
        if self.sigma:
            region = cv2.GaussianBlur(region, (0, 0), self.sigma, borderType=cv2.BORDER_REFLECT)
            region = region.reshape(y1 - y0, x1 - x0, -1)
        map_x, map_y = np.meshgrid((xs - x0).astype(np.float32), (ys - y0).astype(np.float32))
        out = cv2.remap(region, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return out.reshape(r1 - r0, c1 - c0, -1)


def _resample_bands(bands, inference_shape: tuple[int, int], shape: tuple[int, int]):
    """Turns stream bands on the inference grid into bands on the image's own grid (bilinear)."""
    if inference_shape == shape:
        yield from bands
        return
    scale_rows = inference_shape[0] / shape[0]
    rows = np.clip(_sample_grid(1 / scale_rows, 0, shape[0]), 0, inference_shape[0] - 1)
    buffer, buffer_start, emitted = None, 0, 0
    for first, band in bands:
        buffer = band if buffer is None else np.concatenate([buffer, band])
        available = first + len(band)
        ready = emitted
        while ready < shape[0] and (min(int(rows[ready]) + 1, inference_shape[0] - 1) < available):
            ready += 1
        if ready > emitted:
            u = rows[emitted:ready]
            low = np.floor(u).astype(int)
            high = np.minimum(low + 1, inference_shape[0] - 1)
            weight = (u - low).astype(np.float32)[:, None, None]
            block = buffer[low - buffer_start] * (1 - weight) + buffer[high - buffer_start] * weight
            block = cv2.resize(block, (shape[1], len(block)), interpolation=cv2.INTER_LINEAR)
            yield emitted, block.reshape(len(u), shape[1], -1)
            emitted = ready
            keep_from = int(np.floor(rows[emitted])) if emitted < shape[0] else available
            buffer = buffer[keep_from - buffer_start:]
            buffer_start = keep_from


def _preview(source: image_source.ImageSource, mask: np.ndarray, size: int) -> np.ndarray:
    """RGB uint8 preview at most `size` px long, the mask's zero class tinted red (read in chunks)."""
    def rgb(region):
        region = coretf_io.to_uint8(region)
        return region[..., :3] if region.shape[-1] >= 3 else np.repeat(region, 3, -1)

    image = image_source.downsampled(source, size, rgb).astype(np.float32)
    height, width = image_source.whole_blocks(source.shape, size)
    kept = cv2.resize(mask[:height, :width], (image.shape[1], image.shape[0]),
                      interpolation=cv2.INTER_AREA).astype(np.float32)[..., None] / 255.0
    tinted = image * 0.55 + np.array([255.0, 0.0, 0.0], np.float32) * 0.45
    return np.clip(image * kept + tinted * (1 - kept), 0, 255).astype(np.uint8)


def predict_image(
    predictor: Predictor,
    path: str,
    output_dir: str,
    *,
    px_per_cm: float | None = None,
    um_per_voxel: float | None = None,
    depth_axis: str = "auto",
    resolution_factor: float = 1.0,
    tile: int = 0,
    overlap: int = -1,
    blend: str = "linear",
    batch_size: int = 4,
    truth: str | None = None,
    label_map: labels_lib.LabelMap | None = None,
    preview_size: int = 4000,
    colour_record: bool = False,
    top_depth_cm: float = 0.0,
    convert_grayscale: bool = False,
    tta: bool = False,
    progress: bool = True,
) -> dict:
    """Segments one image and writes its outputs (listed in the module docstring). Returns the record.

    Args:
        px_per_cm: the image's scale; None = the model's training scale (no resampling).
        um_per_voxel: the same for CT slices (an ice_ct export's training voxel size): a 20 um
            slice is shrunk to a 60 um model's scale; None = no resampling.
        depth_axis: "x" or "y" (the image axis along which depth runs), or "auto" (the longer).
        resolution_factor: infer at the training scale times this, e.g. 0.5 for half resolution.
        tile, overlap: tile side and least overlap in inference pixels. 0: 512 px, or the
            model's training tile if larger (a fully convolutional model takes any tile; larger
            tiles waste less on overlap: (tile / (tile - overlap))^2 of the pixels are computed).
            -1: 64 px, or a quarter of a smaller tile. blend: the window (`tiling.blend_window`).
        truth, label_map: a folder of true masks and how they encode the classes (`read_truth`):
            adds the Image-IoU, pooled IoU and accuracy over the pixels the truth does not ignore.
        colour_record: also write the colour record (`coretf.analysis.colour_batch`) over the
            predicted undisturbed pixels; for photographs cropped to the core
            (`coretf.preprocess.core_crop`), since every pixel of a line counts. Needs px/cm.
        top_depth_cm: depth of the section top, for the colour record.
        convert_grayscale: give a grayscale image to an RGB model (grey repeated in R, G, B);
            without it such an image is refused.
        tta: average each tile over the views that keep the job's physics (`coretf.tta`).

    Raises:
        ImageError: the image does not suit the model (`check_input`), or cannot be read.
    """
    started = time.perf_counter()
    metadata = predictor.metadata
    class_names = metadata.get("class_names") or []
    class_name = predictor.class_name
    stem = os.path.splitext(os.path.basename(path))[0]
    out = {suffix: os.path.join(output_dir, stem + suffix) for suffix in OUTPUT_SUFFIXES}
    written = [*out.values(), *(os.path.join(output_dir, stem + suffix) for suffix in
                                (colour_batch.OUTPUT_SUFFIXES if colour_record else ()))]
    with outputs.one_item(written):  # a failure after the first file leaves none of them
        with _open_input(path, predictor.served.transform) as source:
            height, width = source.shape
            check_input(source, predictor, convert_grayscale)
            if truth:  # read first: a truth that does not fit leaves no outputs behind
                true_kept, valid = truth_lib.read_truth(truth, path, (height, width), class_names,
                                              predictor.confidence_class, label_map)
            if depth_axis == "auto":
                depth_axis = "x" if width >= height else "y"
            if depth_axis not in ("x", "y"):
                raise ValueError(f"{path}: depth axis must be x, y or auto, got {depth_axis!r}")
            model_scale = metadata.get("px_per_cm")
            model_voxel = metadata.get("um_per_voxel")
            scale = resolution_factor * (model_scale / px_per_cm if (px_per_cm and model_scale) else 1.0)
            if um_per_voxel and model_voxel:
                scale *= um_per_voxel / model_voxel
            tile = tile or max(DEFAULT_TILE, int(metadata.get("tile_size", 0)))
            multiple = int(metadata.get("input_multiple", 1))
            if tile % multiple:
                raise ValueError(f"--tile={tile}: must be a multiple of {multiple} for this model")
            overlap = min(DEFAULT_OVERLAP, tile // 4) if overlap < 0 else overlap
            # Stream frame: rows run along depth. The model frame has depth along x, i.e. it is the
            # stream frame transposed.
            along_x = depth_axis == "x"
            shape = (width, height) if along_x else (height, width)

            def read_stream(r0, r1, c0, c1):
                region = source.read(c0, c1, r0, r1).swapaxes(0, 1) if along_x else source.read(r0, r1, c0, c1)
                return _to_model_input(region, predictor.channels, path)

            model = coretf_tta.augmented(predictor, coretf_tta.views_for_job(metadata.get("job"))) if tta else predictor

            def predict_stream(batch):
                return model(np.ascontiguousarray(batch.transpose(0, 2, 1, 3))).transpose(0, 2, 1, 3)

            inference_shape = (max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale)))
            reader = _ScaledReader(read_stream, shape, inference_shape)
            bands = tiling.iter_bands(predict_stream, reader, inference_shape, tile=tile, overlap=overlap,
                                      blend=blend, batch_size=batch_size, progress=progress, description=stem)
            mask = np.zeros((height, width), np.uint8)
            # Confidence TIFF tiles span the whole image across depth and 256 px along it, so they
            # arrive in file order as the bands stream in.
            across = -(-shape[1] // 16) * 16
            tiff_tile = (across, 256) if along_x else (256, across)

            def confidence_tiles():
                pending, pending_start = None, 0
                for first, band in _resample_bands(bands, inference_shape, shape):
                    kept = band.argmax(-1) == predictor.confidence_class
                    rows = slice(first, first + len(band))
                    if along_x:
                        mask[:, rows] = kept.T * np.uint8(255)
                    else:
                        mask[rows] = kept * np.uint8(255)
                    maps = np.stack([band[..., predictor.confidence_class], uncertainty.normalised_entropy(band)], -1)
                    pending = maps if pending is None else np.concatenate([pending, maps])
                    while len(pending) >= 256 or (pending_start + len(pending) == shape[0] and len(pending)):
                        chunk, pending = pending[:256], pending[256:]
                        block = np.zeros((256, across, 2), np.float32)
                        block[:len(chunk), :shape[1]] = chunk
                        pending_start += len(chunk)
                        block = block.transpose(1, 0, 2) if along_x else block
                        spool.add(block[..., 1])  # the uncertainty map's tile, written after this one
                        yield np.ascontiguousarray(block[..., 0])

            os.makedirs(output_dir, exist_ok=True)
            with uncertainty.TileSpool(output_dir, tiff_tile) as spool:
                uncertainty.write_map(out["_confidence.tif"], confidence_tiles(), (height, width), tiff_tile)
                uncertainty.write_map(out["_uncertainty.tif"], spool.tiles(), (height, width), tiff_tile)
            inference_seconds = time.perf_counter() - started
            uncertainty.save_picture(out["_uncertainty.png"], out["_uncertainty.tif"], preview_size,
                                     f"{stem}: uncertainty (entropy / ln {len(metadata.get('class_names') or [0, 0])})")
            coretf_io.write_image(out["_mask.png"], mask)
            names = metadata.get("class_names") or []
            tinted = (names[1 - predictor.confidence_class] if len(names) == 2
                      else f"not {predictor.class_name}")
            coretf_io.write_image(out["_overlay.png"], plots.with_legend(
                _preview(source, mask, preview_size), [((255, 60, 60), f"predicted {tinted} (tinted red)")],
                title=f"{stem}: {metadata.get('job', 'model')} prediction"))
            source_dtype = str(source.dtype)
            if colour_record:
                section_scale = px_per_cm or model_scale
                if not section_scale:
                    raise ValueError(f"{path}: the colour record needs the section's px/cm")
                colour = colour_lines.section_record(
                    stem, source.read(0, height, 0, width)[..., :3], mask, px_per_cm=section_scale,
                    top_depth_cm=top_depth_cm, depth_axis=depth_axis)
                colour_batch.write_outputs(os.path.join(output_dir, stem), colour, section_scale)
        record = {
            "input": os.path.abspath(path),
            "outputs": {k.strip("_").split(".")[0]: os.path.abspath(v) for k, v in out.items() if k != ".json"},
            "model": {"path": os.path.abspath(predictor.model_dir), "sha256": predictor.hash,
                      "metadata": metadata},
            "parameters": {"px_per_cm": px_per_cm or model_scale, "model_px_per_cm": model_scale,
                           "um_per_voxel": um_per_voxel or model_voxel, "model_um_per_voxel": model_voxel,
                           "depth_axis": depth_axis, "resolution_factor": resolution_factor,
                           "inference_scale": scale, "tile": tile, "overlap": overlap,
                           "blend": blend, "batch_size": batch_size, "tta": tta},
            "image": {"height": height, "width": width, "dtype": source_dtype,
                      "inference_height": inference_shape[1] if along_x else inference_shape[0],
                      "inference_width": inference_shape[0] if along_x else inference_shape[1]},
            f"{class_name}_fraction": float(np.mean(mask > 0)),
            "colour_record": os.path.join(os.path.abspath(output_dir), f"{stem}_colour.csv") if colour_record else None,
            "seconds": {"inference": inference_seconds},
            "provenance": provenance.record(),
        }
        if truth:
            record["truth"] = truth_lib.image_iou(mask > 0, true_kept, int(metadata.get("tile_size", tile)),
                                        of_kept=metadata.get("iou_class") == metadata.get("confidence_class"),
                                        valid=valid)
            record["truth"]["iou_of"] = class_names[metadata.get("iou_class", 0)] if class_names else None
        record["seconds"]["total"] = time.perf_counter() - started
        coretf_io.write_json(out[".json"], record)
        return record


def predict_path(predictor: Predictor, path: str, output: str, table: dict | None = None, *,
                 overwrite: bool = False, px_per_cm: float | None = None, depth_axis: str = "auto",
                 **options) -> dict | None:
    """Segments one image (`predict_image` with `options`), its scale, depth axis and
    top depth from its row of the lab's sections table when one is given (else `px_per_cm`,
    `depth_axis`). Returns its record, or None when an earlier run did it (its JSON exists).

    Raises:
        ValueError: the image is not listed in `table`; whatever stops the image.
    """
    stem = os.path.splitext(os.path.basename(path))[0]
    if not overwrite and os.path.exists(os.path.join(output, f"{stem}.json")):
        return None
    row = None
    if table is not None:
        row = table.get(stem)
        if row is None:
            raise ValueError(f"{path}: not listed in the sections table (sections.csv)")
        px_per_cm, depth_axis = row.px_per_cm, row.depth_axis
    return predict_image(predictor, path, output, px_per_cm=px_per_cm, depth_axis=depth_axis,
                         top_depth_cm=row.top_depth_cm if row else 0.0, **options)
