"""Colour records of section photographs, written to files, and spliced into a composite
(Hutton 2025, `seeds/000_*`, §2.7, Fig. 12; the resolution analysis of §4.5, Fig. 15).

`measure_section` reads a photograph and its mask (`read_image_and_mask`: a `<stem>_mask.png`
or the image's alpha), measures its record (`coretf.analysis.colour_lines`) and writes the
section's record, plots and halves' cross-correlation (`write_outputs`, for any tool with a
record in hand); `summary` and `write_status_csv` make the status table; `build_composite`
splices the written records per a splice table (`coretf.analysis.splice`), streaming, into
`composite_colour.csv/.png` and `composite_status.csv`. The files and their columns are those
of `python -m coretf.analysis.colour_record` (its docstring lists them).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import time

import numpy as np

from coretf import io as coretf_io
from coretf.analysis import colour_lines, colour_plots, resolution
from coretf.analysis import splice as splice_lib

OUTPUT_SUFFIXES = ("_colour.csv", "_colour.png", "_xcorr.csv", "_xcorr.png")
NOT_PHOTOGRAPHS = ("_mask", "_overlay", "_colour", "_xcorr", "_confidence")
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


def placement_of(entry) -> Placement:
    """The placement of a section from its row of the lab's sections.csv (`manual_sections`)."""
    return Placement(entry.px_per_cm, entry.top_depth_cm, entry.depth_axis, entry.top_px, entry.invert_label)


def measure_or_resume(path: str, masks: str | None, output: str, placement: Placement, *,
                      overwrite: bool = False, progress=None, **options) -> dict:
    """One section's row of the status table: measured now (`measure_section` with `options`),
    or "done earlier" with the figures of its records when all four outputs exist.

    Raises:
        Exception: whatever stops the section (the caller reports it by name).
    """
    stem = os.path.splitext(os.path.basename(path))[0]
    row = {"section": stem, "image": path}
    base = os.path.join(output, stem)
    started = time.perf_counter()
    if not overwrite and all(os.path.exists(base + suffix) for suffix in OUTPUT_SUFFIXES):
        xcorr = colour_lines.read_table_csv(base + "_xcorr.csv", resolution.XCORR_COLUMNS)
        earlier = colour_lines.read_record_csv(base + "_colour.csv", stem)
        return {**row, **summary(earlier, xcorr), "status": "done earlier"}
    record, xcorr = measure_section(path, masks, output, placement, progress=progress, **options)
    return {**row, **summary(record, xcorr), "status": "ok", "seconds": time.perf_counter() - started}


MIN_SIDE_PX = 16  # across the core (two halves of 8 px) and along it


def measure_section(path: str, masks: str | None, output: str, placement: Placement, *,
                    srgb: bool = True, min_kept: float = 0.9, max_lag_cm: float = 5.0,
                    step_cm: float = 0.1,
                    progress=None) -> tuple[colour_lines.ColourRecord, np.ndarray]:
    """Measures one section and writes its four outputs (`write_outputs`).

    The record CSV is written last, so its presence marks the section as done.

    Returns:
      (the `colour_lines.ColourRecord`, its `resolution.XCORR_COLUMNS` table).
    """
    stem = os.path.splitext(os.path.basename(path))[0]
    image, mask = read_image_and_mask(path, masks, placement.invert_label)
    axis = placement.depth_axis
    if axis == "auto":  # PRODUCT: undeclared orientation means the long axis is depth
        axis = "x" if image.shape[1] >= image.shape[0] else "y"
    along, across = image.shape[1::-1] if axis == "x" else image.shape[:2]
    if min(along, across) < MIN_SIDE_PX:
        raise coretf_io.ImageError(
            f"{path}: {image.shape[1]} x {image.shape[0]} px is not a core photograph (a record needs "
            f"at least {MIN_SIDE_PX} px across the core, for its two halves, and {MIN_SIDE_PX} depth lines)")
    record = colour_lines.section_record(stem, image, mask, px_per_cm=placement.px_per_cm,
                                         top_depth_cm=placement.top_depth_cm, depth_axis=axis,
                                         top_px=placement.top_px, srgb=srgb, min_kept=min_kept,
                                         progress=progress)
    del image, mask
    xcorr = write_outputs(os.path.join(output, stem), record, placement.px_per_cm,
                          min_kept=min_kept, max_lag_cm=max_lag_cm, step_cm=step_cm)
    return record, xcorr


def write_outputs(base: str, record: colour_lines.ColourRecord, px_per_cm: float, *,
                  min_kept: float = 0.9, max_lag_cm: float = 5.0, step_cm: float = 0.1) -> np.ndarray:
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
    colour_lines.write_table_csv(base + "_xcorr.csv", resolution.XCORR_COLUMNS, xcorr)
    colour_plots.save_xcorr_plot(base + "_xcorr.png", xcorr,
                                 title=f"{name}: the two halves of the core, L*")
    colour_plots.save_section_plot(
        base + "_colour.png", record.depth_cm, record.mean_unfiltered[:, 0], record.mean[:, 0],
        record.sd[:, 0], record.kept_fraction, min_kept=min_kept,
        title=f"{name}: L* ({np.isfinite(record.mean[:, 0]).mean():.1%} of lines kept)")
    colour_lines.write_record_csv(base + "_colour.csv", record)
    return xcorr


def summary(record: colour_lines.ColourRecord, xcorr: np.ndarray | None) -> dict:
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
    def fields(row):
        return [colour_lines.format_number(v) if isinstance(v, float) else v
                for v in (row.get(c, "") for c in columns)]

    coretf_io.write_csv(path, columns, (fields(row) for row in rows))


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
    header = ("section", "composite_depth_m") + colour_lines.RECORD_COLUMNS
    status, plotted, lines, kept, steps = [], [], 0, 0, []
    with coretf_io.atomic_path(os.path.join(output, "composite_colour.csv")) as tmp, \
            open(tmp, "w", newline="") as f:
        f.write(coretf_io.provenance_comment() + "\n")
        writer = csv.writer(f)
        writer.writerow(header)
        for row in table:
            try:
                record = colour_lines.record_table(colour_lines.read_record_csv(
                    os.path.join(output, f"{row.section_id}_colour.csv"), row.section_id))
            except ValueError as error:
                status.append({"section": row.section_id, "status": "failed", "message": str(error)})
                continue
            depth_m, rows, message = splice_lib.place(record, row)
            for depth, values in zip(depth_m, rows):
                writer.writerow([row.section_id]
                                + [colour_lines.format_number(v) for v in (depth, *values)])
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
