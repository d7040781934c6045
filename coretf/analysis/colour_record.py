"""The CIELAB colour record of core sections against depth, spliced into a composite.

  python -m coretf.analysis.colour_record --images=<image or folder> --masks=<folder>
      --sections=<sections.csv> --output=<folder> [--splice=<splice.csv>] [--min_kept=0.9]
      [--rgb=srgb|linear] [--max_lag_cm=5] [--xcorr_step_cm=0.1] [--overwrite]
      (without --sections: --px_per_cm=<scale> [--top_depth_cm=0] [--depth_axis=auto|x|y])

Hutton (2025, `seeds/000_*`): colour in CIELAB as OpenCV computes it (§2.2); for each depth step,
one pixel line across the core, the mean colour over the pixels the mask keeps, only where at
least 90 % of the line is kept (§2.7); sections spliced onto a composite depth scale (§2.7,
Fig. 12); and the resolution analysis of §4.5 (Fig. 15): cross-correlation and differenced
cross-correlation of the two halves of a section, filtered against unfiltered.

Inputs (the conventions of `coretf.predict` and of the sediment_cores manual builder):
  images    RGB (or RGBA) photographs, 8 or 16 bit, cropped to the core (background removal):
            every pixel of a line counts in its kept fraction and in the unfiltered record.
  masks     `<masks>/<stem>_mask.png`, uint8, the image's size, non-zero = undisturbed sediment,
            0 = disturbed or background. Without a mask file, an RGBA image's alpha is the mask
            (GIMP-style: alpha 0 = disturbed). Any lab's or tool's mask works the same way.
  sections  `sections.csv` as the manual builder reads it: section, px_per_cm, top_depth_cm,
            depth_axis (x: depth along the image width; y: down the height), optional top_px
            (pixel of the core top along the depth axis; lines above it are not core and are
            dropped) and invert_label.
  splice    CSV with columns section, top_offset_cm, bottom_offset_cm, composite_depth_m: the
            interval [top_offset_cm, bottom_offset_cm) below each section's top goes into the
            composite, its top placed at composite_depth_m.

Outputs per section `<stem>`, each written atomically (a rerun skips sections already done):
  <stem>_colour.csv    offset_cm, depth_cm, kept_fraction, then mean, SD and median of L*, a*,
                       b* over kept pixels (empty where kept_fraction < min_kept), then the
                       unfiltered means over the whole line.
  <stem>_colour.png    unfiltered and filtered L* against depth, and the kept fraction.
  <stem>_xcorr.csv     lag_cm, cross-correlation and differenced cross-correlation of the two
                       halves' L* records (averaged over --xcorr_step_cm bins), unfiltered and
                       filtered.
  <stem>_xcorr.png     the same, as in the paper's Fig. 15.
and `colour_record_status.csv` (one row per image, failures included), and with --splice
`composite_colour.csv`, `composite_colour.png` and `composite_status.csv`.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import sys
import time

import cv2
import numpy as np

from coretf import io as coretf_io
from coretf.analysis import colour_plots, resolution
from coretf.analysis import splice as splice_lib

CHANNELS = ("L", "a", "b")
STATS = ("mean", "sd", "median")
RECORD_COLUMNS = (("offset_cm", "depth_cm", "kept_fraction")
                  + tuple(f"{c}_{s}" for c in CHANNELS for s in STATS)
                  + tuple(f"{c}_mean_unfiltered" for c in CHANNELS))


@dataclasses.dataclass
class ColourRecord:
    """One section's colour record; N depth lines, the first at the core top.

    Lab values follow OpenCV's float convention: L* in [0, 100], a* and b* signed. Arrays with
    NaN where a statistic is undefined (no kept pixel, or fewer than `min_kept` of the line).
    """

    section_id: str
    offset_cm: np.ndarray        # (N,) float64 distance of the line below the section top, cm
    depth_cm: np.ndarray         # (N,) float64 top_depth_cm + offset_cm
    kept_fraction: np.ndarray    # (N,) float64 fraction of the line the mask keeps, [0, 1]
    mean: np.ndarray             # (N, 3) float64 L*, a*, b* over kept pixels (filtered)
    sd: np.ndarray               # (N, 3) float64 population SD over kept pixels (filtered)
    median: np.ndarray           # (N, 3) float64 median over kept pixels (filtered)
    mean_unfiltered: np.ndarray  # (N, 3) float64 mean over the whole line
    halves: np.ndarray | None = None             # (N, 2) filtered L* of each half, see below
    halves_unfiltered: np.ndarray | None = None  # (N, 2) unfiltered L* of each half

    def __len__(self) -> int:
        return len(self.depth_cm)


def lab_conversion_code(srgb: bool) -> int:
    """OpenCV's code: `COLOR_RGB2Lab` for sRGB-encoded photographs (gamma first), else linear."""
    return cv2.COLOR_RGB2Lab if srgb else cv2.COLOR_LRGB2Lab


def line_statistics(image: np.ndarray, mask: np.ndarray, *, depth_axis: str, srgb: bool = True,
                    min_kept: float = 0.9, block_lines: int = 512, progress=None) -> dict:
    """Per depth line: kept fraction and mean, SD and median of L*, a*, b* over kept pixels.

    The image is converted to CIELAB by `cv2.cvtColor` on float32 RGB in [0, 1] (L* 0-100,
    a*, b* signed; Hutton 2025 §2.2) in blocks of `block_lines` lines, so memory beyond the
    image and mask is a few block-sized float arrays, whatever the section's length.

    The two halves are the two sides of the core's centre line (along depth); for an odd width
    the middle pixel belongs to neither. Their L* records are what §4.5's cross-correlation
    compares: a bed that is real shows in both halves at the same depth.

    Args:
      image: (H, W, 3) RGB, uint8, uint16 or float in [0, 1].
      mask: (H, W), non-zero = undisturbed (kept).
      depth_axis: "x" if depth runs along the width (lines are columns), "y" if down the height.
      srgb: True for sRGB-encoded input (`COLOR_RGB2Lab`), False for linear (`COLOR_LRGB2Lab`).
      min_kept: lines with a smaller kept fraction get NaN filtered statistics (the 90 % rule);
        so do lines with no kept pixel, whatever min_kept.
      block_lines: lines converted at a time.
      progress: optional callable(lines_done) for a progress bar.

    Returns:
      dict of float64 arrays over the N lines: "kept_fraction" (N,), "mean", "sd", "median",
      "mean_unfiltered" (N, 3), "halves", "halves_unfiltered" (N, 2).
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask is {mask.shape[0]}x{mask.shape[1]} px but the image is "
                         f"{image.shape[0]}x{image.shape[1]} px")
    if depth_axis not in ("x", "y"):
        raise ValueError(f"depth_axis must be 'x' or 'y', got {depth_axis!r}")
    if not 0.0 <= min_kept <= 1.0:
        raise ValueError(f"min_kept must be in [0, 1], got {min_kept}")
    # Lines along axis 0 of a view: a transpose, so depth order is kept and nothing is copied.
    lines, keep_lines = (image.transpose(1, 0, 2), mask.T) if depth_axis == "x" else (image, mask)
    n, across = lines.shape[:2]
    half = across // 2
    out = {name: np.full((n, 3), np.nan) for name in ("mean", "sd", "median", "mean_unfiltered")}
    out["kept_fraction"] = np.zeros(n)
    out["halves"] = np.full((n, 2), np.nan)
    out["halves_unfiltered"] = np.full((n, 2), np.nan)
    code = lab_conversion_code(srgb)
    # Integer threshold: 0.9 * 10 px is 9 px, not a float that 9 / 10 may miss by one ulp.
    need = max(1, math.ceil(min_kept * across - 1e-9))
    need_half = max(1, math.ceil(min_kept * half - 1e-9))
    for start in range(0, n, block_lines):
        stop = min(n, start + block_lines)
        rgb = coretf_io.to_float(np.ascontiguousarray(lines[start:stop]))
        # Channels first, so that every reduction runs along a contiguous pixel line (fast, and
        # numpy's pairwise summation); float64 keeps means of 1,300 px exact to ~1e-12.
        lab = np.ascontiguousarray(np.moveaxis(cv2.cvtColor(rgb, code), 2, 0), np.float64)
        del rgb                                            # lab: (3, b, across)
        keep = keep_lines[start:stop] != 0                 # (b, across)
        count = keep.sum(1)
        out["kept_fraction"][start:stop] = count / across
        out["mean_unfiltered"][start:stop] = lab.mean(2).T
        for j, side in enumerate((slice(0, half), slice(across - half, across))):
            lightness, kept_half = lab[0, :, side], keep[:, side]
            out["halves_unfiltered"][start:stop, j] = lightness.mean(1)
            n_half = kept_half.sum(1)
            l_sum = np.where(kept_half, lightness, 0.0).sum(1)
            out["halves"][start:stop, j] = np.where(n_half >= need_half,
                                                    l_sum / np.maximum(n_half, 1), np.nan)
        rows = np.flatnonzero(count >= need)
        if rows.size:
            lab_g, keep_g, count_g = lab[:, rows], keep[rows], count[rows]
            mean = np.where(keep_g, lab_g, 0.0).sum(2) / count_g                   # (3, g)
            # Two passes: a one-pass sum of squares loses digits when the SD is small.
            sd = np.sqrt(np.where(keep_g, (lab_g - mean[..., None]) ** 2, 0.0).sum(2) / count_g)
            # Median of a varying number of kept pixels: the others sort to the end as +inf.
            ordered = np.sort(np.where(keep_g, lab_g, np.inf), axis=2)
            lo = np.broadcast_to(((count_g - 1) // 2)[None, :, None], (3, rows.size, 1))
            hi = np.broadcast_to((count_g // 2)[None, :, None], (3, rows.size, 1))
            median = 0.5 * (np.take_along_axis(ordered, lo, 2) + np.take_along_axis(ordered, hi, 2))
            out["mean"][start + rows] = mean.T
            out["sd"][start + rows] = sd.T
            out["median"][start + rows] = median[..., 0].T
        if progress:
            progress(stop - start)
    return out


def section_record(section_id: str, image: np.ndarray, mask: np.ndarray, *, px_per_cm: float,
                   top_depth_cm: float, depth_axis: str, top_px: int = 0, srgb: bool = True,
                   min_kept: float = 0.9, progress=None) -> ColourRecord:
    """The colour record of one section against depth (see `line_statistics`).

    Line i (along the depth axis, from 0) lies (i - top_px) / px_per_cm cm below the section
    top, at depth top_depth_cm + that offset; lines before top_px are not core and are dropped.

    Args:
      section_id: the section's name.
      image: (H, W, 3) RGB photograph of the core, uint8, uint16 or float in [0, 1].
      mask: (H, W), non-zero = undisturbed.
      px_per_cm: image scale along depth, pixels per cm.
      top_depth_cm: depth of the section top, cm.
      depth_axis: "x" or "y", see `line_statistics`.
      top_px: pixel index of the section top along the depth axis.
      srgb, min_kept, progress: see `line_statistics`.

    Returns:
      A `ColourRecord`.
    """
    if not px_per_cm > 0:
        raise ValueError(f"px_per_cm must be > 0, got {px_per_cm}")
    length = image.shape[1] if depth_axis == "x" else image.shape[0]
    if not 0 <= top_px < length:
        raise ValueError(f"top_px={top_px} is outside the image's {length} px along depth")
    if depth_axis == "x":
        image, mask = image[:, top_px:], mask[:, top_px:]
    else:
        image, mask = image[top_px:], mask[top_px:]
    stats = line_statistics(image, mask, depth_axis=depth_axis, srgb=srgb, min_kept=min_kept,
                            progress=progress)
    offset = np.arange(len(stats["kept_fraction"])) / float(px_per_cm)
    return ColourRecord(section_id=section_id, offset_cm=offset, depth_cm=top_depth_cm + offset,
                        **stats)


def _format(value: float) -> str:
    return "" if not np.isfinite(value) else f"{value:.9g}"


def record_table(record: ColourRecord) -> np.ndarray:
    """The record's CSV columns (`RECORD_COLUMNS`) as an (N, 15) float64 array."""
    return np.column_stack([record.offset_cm, record.depth_cm, record.kept_fraction,
                            np.stack([record.mean, record.sd, record.median], 2).reshape(-1, 9),
                            record.mean_unfiltered])


def write_record_csv(path: str, record: ColourRecord) -> None:
    """Writes `RECORD_COLUMNS` atomically; NaN (filtered-out line) as an empty field."""
    write_csv(path, RECORD_COLUMNS, record_table(record))


def write_csv(path: str, header: tuple[str, ...], table: np.ndarray, labels=None) -> None:
    """Writes a float table as CSV atomically, NaN as an empty field.

    Args:
      path: CSV file.
      header: column names, the label column's first when `labels` is given.
      table: (M, C) numbers.
      labels: optional (M,) strings written as the first column (e.g. section ids).
    """
    with coretf_io.atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for i, row in enumerate(table):
            writer.writerow(([labels[i]] if labels is not None else []) + [_format(v) for v in row])


def read_record_csv(path: str, section_id: str) -> ColourRecord:
    """Reads a `<stem>_colour.csv` back (empty fields as NaN).

    Raises:
      ValueError: the file is missing or its header is not `RECORD_COLUMNS`.
    """
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no colour record for section {section_id!r}")
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = tuple(next(reader, ()))
        if header != RECORD_COLUMNS:
            raise ValueError(f"{path}: not a colour record CSV (header {list(header)})")
        try:
            table = np.array([[float(v) if v else np.nan for v in row] for row in reader],
                             np.float64).reshape(-1, len(RECORD_COLUMNS))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    stats = table[:, 3:12].reshape(-1, 3, 3)
    return ColourRecord(section_id, table[:, 0], table[:, 1], table[:, 2], stats[..., 0],
                        stats[..., 1], stats[..., 2], table[:, 12:15])


# --- the command ---

OUTPUT_SUFFIXES = ("_colour.csv", "_colour.png", "_xcorr.csv", "_xcorr.png")
_NOT_PHOTOGRAPHS = ("_mask", "_overlay", "_colour", "_xcorr", "_confidence")
STATUS_COLUMNS = ("section", "image", "status", "message", "lines", "kept_lines",
                  "mean_kept_fraction", "top_depth_cm", "bottom_depth_cm", "mean_L_filtered",
                  "diff_xcorr_halfwidth_cm_unfiltered", "diff_xcorr_halfwidth_cm_filtered",
                  "seconds")


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a section's lines lie: its scale, top depth and depth axis."""

    px_per_cm: float
    top_depth_cm: float
    depth_axis: str  # "x", "y" or "auto" (the image's long axis)
    top_px: int = 0
    invert_label: bool = False


def read_image_and_mask(path: str, masks: str | None, invert_label: bool = False):
    """A section's RGB image and its mask (True = undisturbed).

    The mask is `<masks>/<stem>_mask.png` when it exists, else the image's alpha channel.

    Returns:
      (image (H, W, 3) uint8/uint16/float, mask (H, W) bool).

    Raises:
      ValueError: unreadable or grayscale image, no mask, or a mask of another size or shape;
        the message names the file.
    """
    image = coretf_io.read_image(path)
    if image.ndim != 3:
        raise coretf_io.ImageError(f"{path}: expected an RGB or RGBA photograph, got a grayscale image")
    if image.dtype.kind == "f" and (image.min() < 0 or image.max() > 1):
        # cv2 would clip silently: a float image in 0-255 would come out nearly white.
        raise coretf_io.ImageError(f"{path}: float image values must lie in [0, 1], found "
                                   f"{image.min():g} to {image.max():g}")
    stem = os.path.splitext(os.path.basename(path))[0]
    mask_path = os.path.join(masks, f"{stem}_mask.png") if masks else None
    if mask_path and os.path.isfile(mask_path):
        mask = coretf_io.read_image(mask_path)
        if mask.ndim != 2:
            raise coretf_io.ImageError(f"{mask_path}: mask must be single-channel, got shape {mask.shape}")
        if mask.shape != image.shape[:2]:
            raise coretf_io.ImageError(f"{mask_path}: mask is {mask.shape[0]}x{mask.shape[1]} px but "
                                       f"{os.path.basename(path)} is {image.shape[0]}x{image.shape[1]} px")
        keep = mask != 0
    elif image.shape[2] == 4:
        keep = image[..., 3] != 0  # GIMP-style label: erased (alpha 0) = disturbed
    else:
        where = mask_path or "(no --masks folder given)"
        raise ValueError(f"{path}: RGB image without alpha channel and no mask {where}")
    return image[..., :3], (~keep if invert_label else keep)


def measure_section(path: str, masks: str | None, output: str, placement: Placement, *,
                    srgb: bool = True, min_kept: float = 0.9, max_lag_cm: float = 5.0,
                    step_cm: float = 0.1, progress=None) -> tuple[ColourRecord, np.ndarray]:
    """Measures one section and writes its four outputs (see the module docstring).

    The record CSV is written last, so its presence marks the section as done.

    Returns:
      (the `ColourRecord`, its `resolution.XCORR_COLUMNS` table).
    """
    stem = os.path.splitext(os.path.basename(path))[0]
    image, mask = read_image_and_mask(path, masks, placement.invert_label)
    axis = placement.depth_axis
    if axis == "auto":  # PRODUCT: undeclared orientation means the long axis is depth
        axis = "x" if image.shape[1] >= image.shape[0] else "y"
    record = section_record(stem, image, mask, px_per_cm=placement.px_per_cm,
                            top_depth_cm=placement.top_depth_cm, depth_axis=axis,
                            top_px=placement.top_px, srgb=srgb, min_kept=min_kept,
                            progress=progress)
    del image, mask
    xcorr = write_outputs(os.path.join(output, stem), record, placement.px_per_cm,
                          min_kept=min_kept, max_lag_cm=max_lag_cm, step_cm=step_cm)
    return record, xcorr


def write_outputs(base: str, record: ColourRecord, px_per_cm: float, *, min_kept: float = 0.9,
                  max_lag_cm: float = 5.0, step_cm: float = 0.1) -> np.ndarray:
    """Writes `<base>_xcorr.csv/.png`, `<base>_colour.png` and, last, `<base>_colour.csv`.

    For any tool that has a record in hand (e.g. from a mask it computed itself).

    Returns:
      The `resolution.XCORR_COLUMNS` table.
    """
    name = os.path.basename(base)
    if record.halves is None:
        raise ValueError(f"{name}: the record has no half records (one read back from CSV?)")
    xcorr = resolution.resolution_analysis(record.halves_unfiltered, record.halves, px_per_cm,
                                           max_lag_cm, step_cm)
    write_csv(base + "_xcorr.csv", resolution.XCORR_COLUMNS, xcorr)
    colour_plots.save_xcorr_plot(base + "_xcorr.png", xcorr,
                                 title=f"{name}: the two halves of the core, L*")
    colour_plots.save_section_plot(
        base + "_colour.png", record.depth_cm, record.mean_unfiltered[:, 0], record.mean[:, 0],
        record.sd[:, 0], record.kept_fraction, min_kept=min_kept,
        title=f"{name}: L* ({np.isfinite(record.mean[:, 0]).mean():.1%} of lines kept)")
    write_record_csv(base + "_colour.csv", record)
    return xcorr


def summary(record: ColourRecord, xcorr: np.ndarray | None) -> dict:
    """The status-table figures of a measured section."""
    kept = np.isfinite(record.mean[:, 0])
    step = record.offset_cm[1] - record.offset_cm[0] if len(record) > 1 else 0.0
    halfwidth = [resolution.peak_halfwidth_cm(xcorr, c) if xcorr is not None else np.nan
                 for c in (3, 4)]
    return {"lines": len(record), "kept_lines": int(kept.sum()),
            "mean_kept_fraction": float(record.kept_fraction.mean()) if len(record) else np.nan,
            "top_depth_cm": float(record.depth_cm[0]) if len(record) else np.nan,
            "bottom_depth_cm": float(record.depth_cm[-1] + step) if len(record) else np.nan,
            "mean_L_filtered": float(record.mean[kept, 0].mean()) if kept.any() else np.nan,
            "diff_xcorr_halfwidth_cm_unfiltered": halfwidth[0],
            "diff_xcorr_halfwidth_cm_filtered": halfwidth[1]}


def write_status_csv(path: str, rows: list[dict], columns: tuple[str, ...]) -> None:
    """One row per item, numbers formatted as in the records, missing fields empty."""
    with coretf_io.atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_format(v) if isinstance(v, float) else v
                             for v in (row.get(c, "") for c in columns)])


def build_composite(output: str, splice_path: str, plot_step_cm: float = 0.1) -> tuple[int, list]:
    """Splices the records in `output` per the splice table into `composite_colour.csv/.png`.

    Streams: one section's record is in memory at a time (a composite of 500 sections at
    500 dpi has 15 million lines), and the plot gets `plot_step_cm` bin means of each interval.

    Returns:
      (lines in the composite, status rows); also written to `composite_status.csv`.

    Raises:
      ValueError: malformed or overlapping splice table.
    """
    table = splice_lib.composite_order(splice_lib.read_splice_table(splice_path))
    header = ("section", "composite_depth_m") + RECORD_COLUMNS
    status, plotted, lines, kept, steps = [], [], 0, 0, []
    with coretf_io.atomic_path(os.path.join(output, "composite_colour.csv")) as tmp, \
            open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in table:
            try:
                record = record_table(read_record_csv(
                    os.path.join(output, f"{row.section_id}_colour.csv"), row.section_id))
            except ValueError as error:
                status.append({"section": row.section_id, "status": "failed", "message": str(error)})
                continue
            depth_m, rows, message = splice_lib.place(record, row)
            for depth, values in zip(depth_m, rows):
                writer.writerow([row.section_id, _format(depth)] + [_format(v) for v in values])
            status.append({"section": row.section_id, "status": "ok", "message": message})
            lines, kept = lines + len(rows), kept + int(np.isfinite(rows[:, 3]).sum())
            if len(record) > 1:
                step_cm = record[1, 0] - record[0, 0]
                steps.append(step_cm)
                # depth, L* unfiltered, filtered and its SD (RECORD_COLUMNS 12, 3, 4)
                series = np.column_stack([depth_m, rows[:, [12, 3, 4]]])
                plotted.append(resolution.bin_record(series, max(1, round(plot_step_cm / step_cm))))
    if plotted:
        series = np.concatenate(plotted)
        colour_plots.save_composite_plot(
            os.path.join(output, "composite_colour.png"), *series.T,
            line_m=max(plot_step_cm, max(steps)) / 100.0,
            title=f"composite: {sum(s['status'] == 'ok' for s in status)} intervals, "
                  f"{kept / max(lines, 1):.1%} of lines kept ({plot_step_cm:g} cm means)")
    write_status_csv(os.path.join(output, "composite_status.csv"), status,
                     ("section", "status", "message"))
    return lines, status


def define_flags() -> None:
    """The command's flags (called only under `__main__`)."""
    from absl import flags

    flags.DEFINE_string("images", None, "A section photograph, or a folder of them (RGB or RGBA, "
                        "8/16-bit TIFF, PNG, JPEG), cropped to the core.", required=True)
    flags.DEFINE_string("masks", None, "Folder of <stem>_mask.png (non-zero = undisturbed), e.g. "
                        "coretf.predict's output; without one, RGBA images use their alpha.")
    flags.DEFINE_string("sections", None, "sections.csv (or its folder): section, px_per_cm, "
                        "top_depth_cm, depth_axis[, top_px, invert_label]. Without it every image "
                        "uses --px_per_cm, --top_depth_cm and --depth_axis.")
    flags.DEFINE_string("output", None, "Folder for the records, plots and status CSV.", required=True)
    flags.DEFINE_string("splice", None, "Splice table CSV (section, top_offset_cm, "
                        "bottom_offset_cm, composite_depth_m): also build the composite.")
    flags.DEFINE_enum("rgb", "srgb", ["srgb", "linear"], "How the images encode colour: srgb "
                      "(cv2.COLOR_RGB2Lab, gamma first) or linear (cv2.COLOR_LRGB2Lab).")
    flags.DEFINE_float("min_kept", 0.9, "Least kept fraction of a line for its filtered "
                       "statistics (the paper's 90 % rule).")
    flags.DEFINE_float("max_lag_cm", 5.0, "Largest lag of the halves' cross-correlation, cm.")
    flags.DEFINE_float("xcorr_step_cm", 0.1, "The halves' records are averaged over bins of "
                       "this length before the cross-correlation, cm (0: single lines).")
    flags.DEFINE_float("px_per_cm", None, "Scale when no --sections table is given, px/cm.")
    flags.DEFINE_float("top_depth_cm", 0.0, "Top depth when no --sections table is given, cm.")
    flags.DEFINE_enum("depth_axis", "auto", ["auto", "x", "y"], "Depth axis when no --sections "
                      "table is given; auto = the image's long axis.")
    flags.DEFINE_boolean("overwrite", False, "Redo sections whose record exists.")


def main(argv) -> None:
    from absl import app, flags
    from tqdm.auto import tqdm

    del argv
    FLAGS = flags.FLAGS
    if not 0 <= FLAGS.min_kept <= 1:
        raise app.UsageError(f"--min_kept={FLAGS.min_kept}: must be in [0, 1]")
    if FLAGS.xcorr_step_cm < 0:
        raise app.UsageError(f"--xcorr_step_cm={FLAGS.xcorr_step_cm}: must be >= 0")
    if FLAGS.max_lag_cm <= 0:
        raise app.UsageError(f"--max_lag_cm={FLAGS.max_lag_cm}: must be > 0")
    if not FLAGS.sections and not (FLAGS.px_per_cm or 0) > 0:
        raise app.UsageError("give --sections=<sections.csv> or --px_per_cm (> 0)")
    try:
        images = coretf_io.list_images(FLAGS.images, exclude_stems=_NOT_PHOTOGRAPHS,
                                        flag="--images")
        table = {}
        if FLAGS.sections:
            from coretf_datasets.sediment_cores.manual_sections import read_table

            table = read_table(FLAGS.sections)
        if FLAGS.splice:  # a malformed splice table should stop the run before any work
            splice_lib.composite_order(splice_lib.read_splice_table(FLAGS.splice))
    except ValueError as error:
        sys.exit(f"error: {error}")
    status, failed = [], []
    for path in tqdm(images, desc="sections", unit="section", disable=len(images) < 2):
        stem = os.path.splitext(os.path.basename(path))[0]
        row = {"section": stem, "image": path}
        base = os.path.join(FLAGS.output, stem)
        started = time.perf_counter()
        try:
            if not FLAGS.overwrite and all(os.path.exists(base + s) for s in OUTPUT_SUFFIXES):
                xcorr = np.genfromtxt(base + "_xcorr.csv", delimiter=",", skip_header=1, ndmin=2)
                row.update(summary(read_record_csv(base + "_colour.csv", stem), xcorr),
                           status="done earlier")
                status.append(row)
                continue
            if FLAGS.sections:
                entry = table.get(stem)
                if entry is None:
                    raise ValueError(f"{path}: section {stem!r} is not listed in {FLAGS.sections}")
                placement = Placement(entry.px_per_cm, entry.top_depth_cm, entry.depth_axis,
                                      entry.top_px, entry.invert_label)
            else:
                placement = Placement(FLAGS.px_per_cm, FLAGS.top_depth_cm, FLAGS.depth_axis)
            with tqdm(desc=stem, unit="line", leave=False) as bar:
                record, xcorr = measure_section(
                    path, FLAGS.masks, FLAGS.output, placement, srgb=FLAGS.rgb == "srgb",
                    min_kept=FLAGS.min_kept, max_lag_cm=FLAGS.max_lag_cm,
                    step_cm=FLAGS.xcorr_step_cm, progress=bar.update)
            row.update(summary(record, xcorr), status="ok",
                       seconds=time.perf_counter() - started)
            tqdm.write(f"{stem}: {row['kept_lines']}/{row['lines']} lines kept, "
                       f"{row['seconds']:.1f} s")
        except (ValueError, OSError) as error:  # ImageError is a ValueError
            row.update(status="failed", message=str(error))
            failed.append(str(error))  # messages name the file
        status.append(row)
    write_status_csv(os.path.join(FLAGS.output, "colour_record_status.csv"), status, STATUS_COLUMNS)
    done = sum(r["status"] == "ok" for r in status)
    print(f"{done} measured, {len(status) - done - len(failed)} done earlier, {len(failed)} failed; "
          f"outputs in {os.path.abspath(FLAGS.output)}")
    if FLAGS.splice:
        try:
            lines, composite = build_composite(FLAGS.output, FLAGS.splice)
        except ValueError as error:
            sys.exit(f"error: {error}")
        bad = [r for r in composite if r["status"] == "failed"]
        print(f"composite: {lines} lines from {len(composite) - len(bad)} intervals")
        failed += [f"{FLAGS.splice}: section {r['section']}: {r['message']}" for r in bad]
    for reason in failed:
        print(f"  FAILED {reason}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    from absl import app

    define_flags()
    app.run(main)
