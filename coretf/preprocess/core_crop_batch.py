"""The background-removal batch: a folder of section photographs to cropped images, `crops.csv`
and, under `review/`, `flagged.png` (the contact sheet of sections to review), in parallel, with
a progress bar. Review files (`flagged.png`, `<stem>_review.png`, the per-section `<stem>_crop.json`
a rerun resumes from) stay in `review/`, so the next step (predict, colour_record) reads only the
crops in the output folder.

The command is `python -m coretf.preprocess.core_crop` (flags there); the method is in
`background`. Bad files get status "error" with a message naming the file and the problem, and
the batch goes on; every output is written atomically, and a rerun skips sections already done.

A photograph is read band by band (`coretf.image_source`): a tiled TIFF tile by tile, so memory
stays flat however long the section, other files decoded once. A TIFF crop is written as it is
read, in tiles that span the core across and 256 px along it.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import re

import cv2
import numpy as np
import tifffile
from tqdm import tqdm

from coretf import image_source
from coretf import io as coretf_io
from coretf import outputs
from coretf import plots, tables
from coretf.preprocess import background

CSV_COLUMNS = ("file", "status", "x0", "y0", "x1", "y1", "depth_axis", "length_px", "length_cm",
               "expected_length_cm", "px_per_cm", "card_fraction", "method", "lstar_thresholds",
               "output", "message")
_THUMB_LONG, _THUMB_SHORT = 1000, 90  # contact-sheet strip size (px), core along the long side
REVIEW_DIR = "review"  # under the output folder: review files, never read as photographs
# CropParams fields a row of --sections may set for its file (empty cells: the flags').
PARAM_COLUMNS = ("method", "num_classes", "core_classes", "depth_axis", "cross_crop",
                 "max_gap_widths")


@dataclasses.dataclass(frozen=True)
class SectionMeta:
    """What is known about one file beyond its pixels (a row of the sections CSV, or flags)."""

    px_per_cm: float | None = None
    expected_lengths_cm: tuple[float, ...] = (120.0, 150.0)
    depth_axis: str | None = None  # None: the params' depth_axis
    params: tuple[tuple[str, object], ...] = ()  # (CropParams field, value) set for this file

    def crop_params(self, params: background.CropParams) -> background.CropParams:
        """`params` with this file's settings."""
        overrides = dict(self.params)
        if self.depth_axis:
            overrides["depth_axis"] = self.depth_axis
        return dataclasses.replace(params, **overrides) if overrides else params


def crop_file(path: str, output_dir: str, params: background.CropParams, meta: SectionMeta,
              tolerance: float = 0.05, *, band: int = background.BAND) -> dict:
    """Crops one section file into `output_dir`; never raises for a bad file.

    Writes `<stem>.<png|tif>`, the section's own name (TIFF input stays TIFF, so 16 bit is kept) and, for a flagged
    section, `review/<stem>_review.png` (a strip with the crop box) for the contact sheet. The
    photograph is read `band` lines at a time (`background.find_core_box`); the results do not
    depend on `band`.

    Returns:
        A CSV row (dict over CSV_COLUMNS); status "error" with the message for an unreadable file.
    """
    row = dict.fromkeys(CSV_COLUMNS, "")
    row.update(file=os.path.basename(path), method=params.method)
    stem, suffix = os.path.splitext(os.path.basename(path))
    name = stem + (".tif" if suffix.lower() in (".tif", ".tiff") else ".png")
    written = [os.path.join(output_dir, name), os.path.join(output_dir, REVIEW_DIR, stem + "_review.png")]
    try:
        with image_source.open_image(path) as source:
            if source.channels == 1:
                raise coretf_io.ImageError(f"{path}: expected an RGB or RGBA photograph, got a "
                                           f"grayscale image of shape {source.shape}")
            image = background.rgb_source(source)  # an alpha channel (a GIMP label) plays no part
            params = meta.crop_params(params)
            row["method"] = params.method
            result = background.find_core_box(image, params, band=band)
            check = background.check_crop(image, result, params, px_per_cm=meta.px_per_cm,
                                          expected_lengths_cm=meta.expected_lengths_cm, tolerance=tolerance)
            row.update(status=check.status, depth_axis=result.depth_axis, length_px=check.length_px,
                       length_cm=_fmt(check.length_cm), expected_length_cm=_fmt(check.expected_cm),
                       px_per_cm=_fmt(meta.px_per_cm), card_fraction=_fmt(check.card_fraction),
                       lstar_thresholds=" ".join(f"{t:.1f}" for t in result.thresholds),
                       message=check.message)
            with outputs.one_item(written):
                if result.box is not None:
                    x0, y0, x1, y1 = result.box
                    row.update(x0=x0, y0=y0, x1=x1, y1=y1)
                    write_crop(written[0], image, result.box)
                    row["output"] = name
                if check.status != "ok":
                    coretf_io.write_image(written[1], review_strip(
                        image, result, f"{row['file']}: {check.status}", band=band))
    except Exception as error:  # any failure of one file is its row, never the batch's end
        if outputs.disk_full(error):
            raise  # the batch stops (`run_batch`)
        row = error_row(path, outputs.item_error(path, error), method=row["method"])
    return row


def error_row(path: str, message: str, method: str = "") -> dict:
    """The CSV row of a file that gave no crop: status "error" and the reason."""
    return {**dict.fromkeys(CSV_COLUMNS, ""), "file": os.path.basename(path), "method": method,
            "status": "error", "message": message}


def _fmt(value) -> str:
    return "" if value is None or not np.isfinite(value) else f"{value:.4g}"


_CROP_COLOUR, _REGION_COLOUR = (255, 0, 0), (255, 220, 0)


_TILE_ALONG = 256  # px along the core of the crop TIFF's tiles (they span it across)


def write_crop(path: str, source: image_source.ImageSource, box: tuple[int, int, int, int]) -> None:
    """Writes the `box` of a photograph, atomically: a TIFF (any bit depth) tile by tile as it is
    read, the tiles spanning the crop across its long axis so that they come in file order and
    the file reads back tile by tile; other formats (the photograph was decoded whole) at once."""
    x0, y0, x1, y1 = box
    if not path.lower().endswith((".tif", ".tiff")):
        coretf_io.write_image(path, source.read(y0, y1, x0, x1))
        return
    height, width = y1 - y0, x1 - x0
    wide = width >= height
    across = -(-(height if wide else width) // 16) * 16  # tile sides are multiples of 16
    tile = (across, _TILE_ALONG) if wide else (_TILE_ALONG, across)

    def tiles():
        for start in range(0, width if wide else height, _TILE_ALONG):
            stop = min(start + _TILE_ALONG, width if wide else height)
            region = source.read(y0, y1, x0 + start, x0 + stop) if wide else \
                source.read(y0 + start, y0 + stop, x0, x1)
            block = np.zeros(tile + (source.channels,), source.dtype)
            block[:region.shape[0], :region.shape[1]] = region
            yield block

    count = -(-(width if wide else height) // _TILE_ALONG)
    padded = count * tile[0] * tile[1] * source.channels * source.dtype.itemsize
    with coretf_io.atomic_path(path) as tmp:
        tifffile.imwrite(tmp, data=tiles(), shape=(height, width, source.channels), dtype=source.dtype,
                         tile=tile, photometric="rgb" if source.channels >= 3 else "minisblack",
                         bigtiff=padded > 2**32 - 2**25)


def review_strip(image: np.ndarray | image_source.ImageSource, result: background.CropResult,
                 label: str, *, band: int = background.BAND) -> np.ndarray:
    """A (~90, ~1000, 3) uint8 thumbnail, core along x, crop box in red and seed box in yellow.

    The photograph (an (H, W, 3) array or an RGB `ImageSource`) is reduced `band` lines at a
    time, exactly as `cv2.resize(INTER_AREA)` reduces it whole (`image_source.AreaReducer`).
    """
    source = background.rgb_source(image)
    boxes = [b for b in (result.seed_box, result.box) if b is not None]
    if result.depth_axis == "y":
        source = image_source.View(source, transpose=True)
        boxes = [background.transpose_box(b) for b in boxes]
    height, width = source.shape
    scale = min(_THUMB_LONG / width, _THUMB_SHORT / height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if scale >= 1:  # a photograph smaller than the strip: read whole (under 90,000 px)
        thumb = cv2.resize(coretf_io.to_uint8(source.read(0, height, 0, width)), size,
                           interpolation=cv2.INTER_AREA)
    else:
        axis = image_source.long_axis(source)
        reducer = image_source.AreaReducer((height, width), size, axis=axis)
        for _, region in image_source.iter_bands(source, band, axis):
            reducer.add(coretf_io.to_uint8(region))
        thumb = reducer.result()
    for box, colour in zip(boxes, [_REGION_COLOUR, _CROP_COLOUR][-len(boxes):]):
        x0, y0, x1, y1 = (round(v * scale) for v in box)
        cv2.rectangle(thumb, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), colour, 1)
    header = np.full((18, thumb.shape[1], 3), 255, np.uint8)
    cv2.putText(header, label[:120], (2, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([header, thumb])


def contact_sheet(strips: list[np.ndarray]) -> np.ndarray:
    """Stacks review strips (any widths) into one white-padded (H, W, 3) uint8 sheet."""
    width = max(s.shape[1] for s in strips)
    padded = [np.pad(s, ((0, 6), (0, width - s.shape[1]), (0, 0)), constant_values=255)
              for s in strips]
    return np.concatenate(padded)


# --sections: empty cells (and absent columns) take the command's defaults. The rows are named by
# a `file` column (name or stem) or, in the lab's sections.csv that predict, colour_record and the
# manual builder read, by its `section` column (the photograph's stem).
_SETTINGS = (
    tables.Column("px_per_cm", float, default=None, checks=(tables.FINITE, tables.POSITIVE)),
    tables.Column("expected_length_cm", float, default=None, checks=(tables.FINITE, tables.POSITIVE)),
    tables.Column("depth_axis", background.DEPTH_AXES, default=None),
    tables.Column("method", background.METHODS, default=None),
    tables.Column("num_classes", int, default=None, checks=(tables.POSITIVE,)),
    tables.Column("core_classes", tables.Pattern(r"\d+(\s*[ ;,]\s*\d+)*",
                                                 "class numbers separated by spaces or ';'"),
                  default=None),
    tables.Column("cross_crop", float, default=None, checks=(tables.FINITE, tables.NON_NEGATIVE)),
    tables.Column("max_gap_widths", float, default=None,
                  checks=(tables.FINITE, tables.NON_NEGATIVE)),
)
SECTIONS_CSV = tables.Table("file", (tables.Column("file", key=True), *_SETTINGS))
SECTIONS_BY_SECTION = tables.Table("section", (tables.Column("section", key=True), *_SETTINGS))


def read_sections_csv(path: str, default: SectionMeta,
                      params: background.CropParams = background.CropParams()
                      ) -> dict[str, SectionMeta]:
    """Per-file settings: a CSV (or the folder holding `sections.csv`) with a `file` column (name
    or stem), or the lab's sections.csv with its `section` column (stem), and any of `px_per_cm`,
    `expected_length_cm`, `depth_axis` and the crop parameters of PARAM_COLUMNS (`method`,
    `num_classes`, `core_classes` as "1 2" or "1;2", `cross_crop`, `max_gap_widths`); they
    override the flags for that file, and empty cells take `default`'s and `params`' values.

    Raises:
        ValueError: missing file or column, a malformed value, settings the crop refuses (e.g. a
            core class beyond num_classes) or a file listed twice; the message names the line.
    """
    if os.path.isdir(path):
        path = os.path.join(path, "sections.csv")
    table = SECTIONS_CSV
    if os.path.isfile(path):
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            header = [name.strip() for name in next(coretf_io.csv_rows(handle), [])]
        if "file" not in header and "section" in header:
            table = SECTIONS_BY_SECTION
    metas = {}
    for row in table.read(path):
        lengths = default.expected_lengths_cm if row["expected_length_cm"] is None else (
            row["expected_length_cm"],)
        overrides = {c: row[c] for c in PARAM_COLUMNS if c != "depth_axis" and row[c] is not None}
        if "core_classes" in overrides:
            overrides["core_classes"] = tuple(
                int(v) for v in re.split(r"[\s;,]+", overrides["core_classes"].strip()))
        meta = SectionMeta(default.px_per_cm if row["px_per_cm"] is None else row["px_per_cm"],
                           lengths, row["depth_axis"] or default.depth_axis,
                           tuple(sorted(overrides.items())))
        try:
            meta.crop_params(params)
        except ValueError as error:
            raise row.error(str(error)) from None
        metas[os.path.splitext(row.key)[0]] = meta
    return metas


def run_batch(files: list[str], output_dir: str, params: background.CropParams,
              default: SectionMeta, metas: dict[str, SectionMeta] | None = None, *, tolerance: float = 0.05,
              workers: int = 2, overwrite: bool = False, progress: bool = True) -> list[dict]:
    """Crops every file, in `workers` processes, and writes `crops.csv` and `review/flagged.png`.

    A rerun skips files whose result (`review/<stem>_crop.json`) exists, unless `overwrite`. Bad
    files get status "error" with the reason; the others go on. A full output disk stops the
    batch: that file's row says so, the files not reached are "not processed", and the tables
    are left to the rerun.

    Returns:
        The CSV rows, in file order.
    """
    os.makedirs(os.path.join(output_dir, REVIEW_DIR), exist_ok=True)
    metas = metas or {}
    rows, todo = {}, []
    for f in files:
        row = None if overwrite else done_row(output_dir, f)
        if row is not None:
            rows[f] = row
        else:
            todo.append(f)
    meta_of = lambda f: metas.get(os.path.splitext(os.path.basename(f))[0], default)
    full = False
    with concurrent.futures.ProcessPoolExecutor(max(1, workers)) as pool:
        futures = {pool.submit(crop_file, f, output_dir, params, meta_of(f), tolerance): f
                   for f in todo}
        for future in tqdm(concurrent.futures.as_completed(futures), total=len(futures),
                           desc="core_crop", unit="section", disable=not progress):
            f = futures[future]
            try:
                rows[f] = future.result()
                mark_done(output_dir, f, rows[f])
            except OSError as error:
                if not outputs.disk_full(error):
                    raise
                rows[f] = error_row(f, outputs.stopped(f, output_dir))
                for other in futures:
                    other.cancel()
                full = True
                break
    ordered = [rows.get(f) or error_row(f, f"{f}: not processed (the batch stopped)") for f in files]
    if full:
        return ordered  # no room for crops.csv and the contact sheet; a rerun writes them
    write_tables(output_dir, ordered)
    return ordered


def _done_path(output_dir: str, path: str) -> str:
    return os.path.join(output_dir, REVIEW_DIR, os.path.splitext(os.path.basename(path))[0] + "_crop.json")


def done_row(output_dir: str, path: str) -> dict | None:
    """The CSV row of a file cropped by an earlier run (`review/<stem>_crop.json`), or None."""
    done = _done_path(output_dir, path)
    if not os.path.exists(done):
        return None
    with open(done) as handle:
        return json.load(handle)


def mark_done(output_dir: str, path: str, row: dict) -> None:
    """Records a file's row so that a rerun skips it; a bad file is not recorded (it is retried)."""
    if row["status"] != "error":
        coretf_io.write_json(_done_path(output_dir, path), row)


def write_tables(output_dir: str, ordered: list[dict]) -> None:
    """`crops.csv` (the rows, in file order) and the contact sheet `review/flagged.png` of the
    flagged sections (removed when none is flagged any more)."""
    review_dir = os.path.join(output_dir, REVIEW_DIR)
    coretf_io.write_csv(os.path.join(output_dir, "crops.csv"), CSV_COLUMNS, ordered)
    strips = []
    for row in ordered:
        review = os.path.join(review_dir, os.path.splitext(row["file"])[0] + "_review.png")
        if row["status"] not in ("ok", "error") and os.path.exists(review):
            strips.append(coretf_io.read_image(review))
    sheet = os.path.join(review_dir, "flagged.png")
    if strips:
        coretf_io.write_image(sheet, plots.with_legend(contact_sheet(strips), [
            (_CROP_COLOUR, "crop (what the next step reads)"),
            (_REGION_COLOUR, "the core's region found (robust), or the seed box (seeded)")],
            title=f"{len(strips)} section(s) to review: file and status above each"))
    elif os.path.exists(sheet):
        os.remove(sheet)  # nothing flagged any more: no stale sheet
