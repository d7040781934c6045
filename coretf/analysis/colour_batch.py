"""Colour records of section photographs, written to files, and spliced into a composite
(Hutton 2025, `seeds/000_*`, §2.7, Fig. 12; the resolution analysis of §4.5, Fig. 15).

`measure_section` reads a photograph and its mask (`SectionImage`: a `<stem>_mask.png`, or
`_mask.tif`, or the image's alpha) band by band along depth, measures its record
(`coretf.analysis.colour_lines`) as it reads, and writes the section's record, plots and halves'
cross-correlation (`write_outputs`, for any tool with a record in hand). A tiled TIFF image or
mask is read tile by tile (`coretf.image_source`), so memory does not grow with the section's
length beyond the record; other files are decoded once. `read_image_and_mask` reads both
whole. `summary` and `write_status_csv` make the status table; `build_composite` splices the
written records per a splice table (`coretf.analysis.splice`), streaming, into
`composite_colour.csv/.png` and `composite_status.csv`. The files and their columns are those
of `python -m coretf.analysis.colour_record` (its docstring lists them).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import time

import numpy as np

from coretf import image_source
from coretf import io as coretf_io
from coretf.analysis import colour_lines, colour_plots, resolution
from coretf.analysis import splice as splice_lib

OUTPUT_SUFFIXES = ("_colour.csv", "_colour.png", "_xcorr.csv", "_xcorr.png")
NOT_PHOTOGRAPHS = ("_mask", "_overlay", "_colour", "_xcorr", "_confidence", "_uncertainty")
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


MASK_SUFFIXES = ("_mask.png", "_mask.tif", "_mask.tiff")  # the first that exists is the mask


class SectionImage:
    """A section photograph and its mask, read region by region (`coretf.image_source`).

    The mask is the first of `<masks>/<stem>_mask.png`, `_mask.tif`, `_mask.tiff` that exists,
    else the image's alpha channel (GIMP-style: alpha 0 = disturbed). A tiled TIFF image or mask
    is read tile by tile, other files are decoded once. Use as a context manager.

    Raises:
      ValueError: unreadable or grayscale image, a float image outside [0, 1], no mask, or a
        mask of another size or shape; the message names the file.
    """

    def __init__(self, path: str, masks: str | None, invert_label: bool = False):
        self.path, self.invert_label, self.mask = path, invert_label, None
        self.image = image_source.open_image(path)
        try:
            self._open_mask(masks)
        except BaseException:
            self.close()
            raise
        self.shape = self.image.shape

    def _open_mask(self, masks: str | None) -> None:
        """Checks the image, then finds and checks its mask (see the class docstring)."""
        path, image = self.path, self.image
        if image.channels not in (3, 4):
            raise coretf_io.ImageError(f"{path}: expected an RGB or RGBA photograph, got a grayscale image")
        if image.dtype.kind == "f":
            # cv2 would clip silently: a float image in 0-255 would come out nearly white.
            low, high = np.inf, -np.inf
            for _, band in image_source.iter_bands(image, colour_lines.BLOCK_LINES):
                low, high = min(low, band.min()), max(high, band.max())
            if low < 0 or high > 1:
                raise coretf_io.ImageError(f"{path}: float image values must lie in [0, 1], found "
                                           f"{low:g} to {high:g}")
        stem = os.path.splitext(os.path.basename(path))[0]
        candidates = [os.path.join(masks, stem + suffix) for suffix in MASK_SUFFIXES] if masks else []
        mask_path = next((c for c in candidates if os.path.isfile(c)), None)
        if mask_path:
            self.mask = image_source.open_image(mask_path)
            if self.mask.channels != 1:
                raise coretf_io.ImageError(f"{mask_path}: mask must be single-channel, got shape "
                                           f"{tuple(self.mask.shape) + (self.mask.channels,)}")
            if self.mask.shape != image.shape:
                (h, w), (height, width) = self.mask.shape, image.shape
                raise coretf_io.ImageError(f"{mask_path}: mask is {h}x{w} px but "
                                           f"{os.path.basename(path)} is {height}x{width} px")
        elif image.channels != 4:
            where = candidates[0] if candidates else "(no --masks folder given)"
            raise ValueError(f"{path}: RGB image without alpha channel and no mask {where}")

    def read(self, r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
        """A region: (RGB (h, w, 3) in the file's dtype, kept (h, w) bool, True = undisturbed)."""
        region = self.image.read(r0, r1, c0, c1)
        label = region[..., 3] if self.mask is None else self.mask.read(r0, r1, c0, c1)[..., 0]
        keep = label != 0
        return region[..., :3], (~keep if self.invert_label else keep)

    def blocks(self, depth_axis: str, lines: int, start: int = 0):
        """(RGB, kept) blocks of `lines` depth lines from line `start` on, one line per row (the
        input of `colour_lines.block_statistics`)."""
        colour_lines.check_depth_axis(depth_axis)
        axis = 1 if depth_axis == "x" else 0
        for first in range(start, self.shape[axis], lines):
            last = min(self.shape[axis], first + lines)
            if axis == 1:
                rgb, keep = self.read(0, self.shape[0], first, last)
                yield rgb.transpose(1, 0, 2), keep.T
            else:
                yield self.read(first, last, 0, self.shape[1])

    def close(self) -> None:
        self.image.close()
        if self.mask is not None:
            self.mask.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_image_and_mask(path: str, masks: str | None, invert_label: bool = False):
    """A section's RGB image and its mask (True = undisturbed), both whole (`SectionImage`).

    Returns:
      (image (H, W, 3) uint8/uint16/float, mask (H, W) bool).

    Raises:
      ValueError: unreadable or grayscale image, no mask, or a mask of another size or shape;
        the message names the file.
    """
    with SectionImage(path, masks, invert_label) as section:
        return section.read(0, section.shape[0], 0, section.shape[1])


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
                    step_cm: float = 0.1, progress=None,
                    block_lines: int = colour_lines.BLOCK_LINES
                    ) -> tuple[colour_lines.ColourRecord, np.ndarray]:
    """Measures one section and writes its four outputs (`write_outputs`).

    Image and mask are read `block_lines` depth lines at a time (`SectionImage.blocks`); the
    record is that of `colour_lines.section_record` on the whole image, whatever `block_lines`.
    The record CSV is written last, so its presence marks the section as done.

    Returns:
      (the `colour_lines.ColourRecord`, its `resolution.XCORR_COLUMNS` table).
    """
    stem = os.path.splitext(os.path.basename(path))[0]
    with SectionImage(path, masks, placement.invert_label) as section:
        height, width = section.shape
        axis = placement.depth_axis
        if axis == "auto":  # PRODUCT: undeclared orientation means the long axis is depth
            axis = "x" if width >= height else "y"
        along, across = (width, height) if axis == "x" else (height, width)
        if min(along, across) < MIN_SIDE_PX:
            raise coretf_io.ImageError(
                f"{path}: {width} x {height} px is not a core photograph (a record needs at least "
                f"{MIN_SIDE_PX} px across the core, for its two halves, and {MIN_SIDE_PX} depth lines)")
        colour_lines.check_placement(along, placement.px_per_cm, placement.top_px)
        stats = colour_lines.block_statistics(section.blocks(axis, block_lines, placement.top_px),
                                              srgb=srgb, min_kept=min_kept, progress=progress)
    record = colour_lines.record_of(stem, stats, px_per_cm=placement.px_per_cm,
                                    top_depth_cm=placement.top_depth_cm)
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
