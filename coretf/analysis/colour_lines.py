"""The CIELAB colour record of a core section against depth (Hutton 2025, `seeds/000_*`, §2.2, §2.7).

Colour in CIELAB as OpenCV computes it (§2.2); for each depth step, one pixel line across the
core, the mean colour over the pixels the mask keeps, only where at least 90 % of the line is
kept (§2.7). Also the L* records of the core's two halves, which the resolution analysis of §4.5
(`coretf.analysis.resolution`) compares, and the record's CSV (`RECORD_COLUMNS`, written and
read back). The command is `python -m coretf.analysis.colour_record`; measuring section files
and splicing their records is `coretf.analysis.colour_batch`.
"""

from __future__ import annotations

import dataclasses
import math
import os

import cv2
import numpy as np

from coretf import io as coretf_io

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


BLOCK_LINES = 512  # depth lines converted and reduced at a time
_STATISTICS = ("kept_fraction", "mean", "sd", "median", "mean_unfiltered", "halves", "halves_unfiltered")


def line_statistics(image: np.ndarray, mask: np.ndarray, *, depth_axis: str, srgb: bool = True,
                    min_kept: float = 0.9, block_lines: int = BLOCK_LINES, progress=None) -> dict:
    """Per depth line: kept fraction and mean, SD and median of L*, a*, b* over kept pixels.

    The image is converted to CIELAB by `cv2.cvtColor` on float32 RGB in [0, 1] (L* 0-100,
    a*, b* signed; Hutton 2025 §2.2) in blocks of `block_lines` lines (`block_statistics`), so
    memory beyond the image and mask is a few block-sized float arrays, whatever the section's
    length.

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
    check_depth_axis(depth_axis)
    # Lines along axis 0 of a view: a transpose, so depth order is kept and nothing is copied.
    lines, keep_lines = (image.transpose(1, 0, 2), mask.T) if depth_axis == "x" else (image, mask)
    blocks = ((lines[start:start + block_lines], keep_lines[start:start + block_lines])
              for start in range(0, len(lines), block_lines))
    return block_statistics(blocks, srgb=srgb, min_kept=min_kept, progress=progress)


def block_statistics(blocks, *, srgb: bool = True, min_kept: float = 0.9, progress=None) -> dict:
    """`line_statistics` over blocks of depth lines, in depth order, e.g. read band by band from
    a file (`coretf.analysis.colour_batch`): memory is one block and the record.

    Args:
      blocks: iterable of (rgb (b, across, 3), keep (b, across)) pairs, one line per row:
        RGB uint8, uint16 or float in [0, 1], and non-zero = kept. The lines' statistics do not
        depend on how they are cut into blocks.
      srgb, min_kept, progress: see `line_statistics`.

    Returns:
      As `line_statistics`.
    """
    if not 0.0 <= min_kept <= 1.0:
        raise ValueError(f"min_kept must be in [0, 1], got {min_kept}")
    code = lab_conversion_code(srgb)
    parts = []
    for rgb_lines, keep_lines in blocks:
        parts.append(_block_statistics(rgb_lines, keep_lines, code, min_kept))
        if progress:
            progress(len(rgb_lines))
    if not parts:
        widths = {"kept_fraction": (), "halves": (2,), "halves_unfiltered": (2,)}
        return {name: np.zeros((0,) + widths.get(name, (3,))) for name in _STATISTICS}
    return {name: np.concatenate([part[name] for part in parts]) for name in _STATISTICS}


def _block_statistics(rgb_lines: np.ndarray, keep_lines: np.ndarray, code: int, min_kept: float) -> dict:
    """The statistics of one block of lines (see `block_statistics`)."""
    n, across = rgb_lines.shape[:2]
    half = across // 2
    out = {name: np.full((n, 3), np.nan) for name in ("mean", "sd", "median", "mean_unfiltered")}
    out["halves"] = np.full((n, 2), np.nan)
    out["halves_unfiltered"] = np.full((n, 2), np.nan)
    # Integer threshold: 0.9 * 10 px is 9 px, not a float that 9 / 10 may miss by one ulp.
    need = max(1, math.ceil(min_kept * across - 1e-9))
    need_half = max(1, math.ceil(min_kept * half - 1e-9))
    rgb = coretf_io.to_float(np.ascontiguousarray(rgb_lines))
    # Channels first, so that every reduction runs along a contiguous pixel line (fast, and
    # numpy's pairwise summation); float64 keeps means of 1,300 px exact to ~1e-12.
    lab = np.ascontiguousarray(np.moveaxis(cv2.cvtColor(rgb, code), 2, 0), np.float64)
    del rgb                                            # lab: (3, b, across)
    keep = keep_lines != 0                             # (b, across)
    count = keep.sum(1)
    out["kept_fraction"] = count / across
    out["mean_unfiltered"] = lab.mean(2).T
    for j, side in enumerate((slice(0, half), slice(across - half, across))):
        lightness, kept_half = lab[0, :, side], keep[:, side]
        out["halves_unfiltered"][:, j] = lightness.mean(1)
        n_half = kept_half.sum(1)
        l_sum = np.where(kept_half, lightness, 0.0).sum(1)
        out["halves"][:, j] = np.where(n_half >= need_half, l_sum / np.maximum(n_half, 1), np.nan)
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
        out["mean"][rows] = mean.T
        out["sd"][rows] = sd.T
        out["median"][rows] = median[..., 0].T
    return out


def check_depth_axis(depth_axis: str) -> None:
    """Raises ValueError unless `depth_axis` is "x" or "y"."""
    if depth_axis not in ("x", "y"):
        raise ValueError(f"depth_axis must be 'x' or 'y', got {depth_axis!r}")


def check_placement(length: int, px_per_cm: float, top_px: int) -> None:
    """Raises ValueError for a scale that is not positive or a top outside the section's `length`
    lines along depth."""
    if not px_per_cm > 0:
        raise ValueError(f"px_per_cm must be > 0, got {px_per_cm}")
    if not 0 <= top_px < length:
        raise ValueError(f"top_px={top_px} is outside the image's {length} px along depth")


def record_of(section_id: str, stats: dict, *, px_per_cm: float, top_depth_cm: float) -> ColourRecord:
    """The `ColourRecord` of `line_statistics`/`block_statistics` output, line 0 at the section top."""
    offset = np.arange(len(stats["kept_fraction"])) / float(px_per_cm)
    return ColourRecord(section_id=section_id, offset_cm=offset, depth_cm=top_depth_cm + offset,
                        **stats)


def section_record(section_id: str, image: np.ndarray, mask: np.ndarray, *, px_per_cm: float,
                   top_depth_cm: float, depth_axis: str, top_px: int = 0, srgb: bool = True,
                   min_kept: float = 0.9, progress=None) -> ColourRecord:
    """The colour record of one section against depth (see `line_statistics`).

    Line i (along the depth axis, from 0) lies (i - top_px) / px_per_cm cm below the section
    top, at depth top_depth_cm + that offset; lines before top_px are not core and are dropped.
    `colour_batch.measure_section` makes the same record from a file, band by band.

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
    check_placement(image.shape[1] if depth_axis == "x" else image.shape[0], px_per_cm, top_px)
    if depth_axis == "x":
        image, mask = image[:, top_px:], mask[:, top_px:]
    else:
        image, mask = image[top_px:], mask[top_px:]
    stats = line_statistics(image, mask, depth_axis=depth_axis, srgb=srgb, min_kept=min_kept,
                            progress=progress)
    return record_of(section_id, stats, px_per_cm=px_per_cm, top_depth_cm=top_depth_cm)


def format_number(value: float) -> str:
    """A CSV field of the records: 9 significant digits, NaN as an empty field."""
    return "" if not np.isfinite(value) else f"{value:.9g}"


def record_table(record: ColourRecord) -> np.ndarray:
    """The record's CSV columns (`RECORD_COLUMNS`) as an (N, 15) float64 array."""
    return np.column_stack([record.offset_cm, record.depth_cm, record.kept_fraction,
                            np.stack([record.mean, record.sd, record.median], 2).reshape(-1, 9),
                            record.mean_unfiltered])


def write_record_csv(path: str, record: ColourRecord) -> None:
    """Writes `RECORD_COLUMNS` atomically; NaN (filtered-out line) as an empty field."""
    write_table_csv(path, RECORD_COLUMNS, record_table(record))


def write_table_csv(path: str, header: tuple[str, ...], table: np.ndarray) -> None:
    """Writes a float table as CSV atomically, NaN as an empty field.

    Args:
      path: CSV file.
      header: column names.
      table: (M, C) numbers.
    """
    coretf_io.write_csv(path, header, ([format_number(v) for v in row] for row in table))


def read_table_csv(path: str, header: tuple[str, ...], what: str = "the table") -> np.ndarray:
    """Reads a `write_table_csv` file back as an (M, C) float64 array (empty fields as NaN).

    Raises:
      ValueError: the header is not `header`, or a field is not a number.
    """
    with open(path, newline="") as f:
        rows = coretf_io.csv_rows(f)
        found = tuple(next(rows, ()))
        if found != tuple(header):
            raise ValueError(f"{path}: not {what} (header {list(found)})")
        try:
            return np.array([[float(v) if v else np.nan for v in row] for row in rows],
                            np.float64).reshape(-1, len(header))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None


def read_record_csv(path: str, section_id: str) -> ColourRecord:
    """Reads a `<stem>_colour.csv` back (empty fields as NaN).

    Raises:
      ValueError: the file is missing or its header is not `RECORD_COLUMNS`.
    """
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no colour record for section {section_id!r}")
    table = read_table_csv(path, RECORD_COLUMNS, "a colour record CSV")
    stats = table[:, 3:12].reshape(-1, 3, 3)
    return ColourRecord(section_id, table[:, 0], table[:, 1], table[:, 2], stats[..., 0],
                        stats[..., 1], stats[..., 2], table[:, 12:15])

