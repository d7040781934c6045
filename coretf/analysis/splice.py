"""Splicing section colour records onto a composite depth scale (Hutton 2025 §2.7, Fig. 12).

A splice table (CSV: section, top_offset_cm, bottom_offset_cm, composite_depth_m) says which
interval of each section goes into the composite and where its top lies. Used by
`python -m coretf.analysis.colour_record --splice=...`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from coretf import tables

SPLICE_COLUMNS = ("section", "top_offset_cm", "bottom_offset_cm", "composite_depth_m")


@dataclasses.dataclass(frozen=True)
class SpliceRow:
    """One interval of a splice table; offsets below the section top, cm."""

    section_id: str
    top_offset_cm: float
    bottom_offset_cm: float
    composite_depth_m: float  # composite depth of top_offset_cm


SPLICE_TABLE = tables.Table(
    "interval",
    (tables.Column("section"),
     *(tables.Column(name, float, checks=(tables.FINITE,)) for name in SPLICE_COLUMNS[1:])),
    exceeds=(("bottom_offset_cm", "top_offset_cm"),))


def read_splice_table(path: str) -> list[SpliceRow]:
    """Reads and validates a splice table (`SPLICE_COLUMNS`), in file order.

    Raises:
      ValueError: missing file or column, a malformed number, or bottom <= top; the message
        names the file and line.
    """
    return [SpliceRow(*(row[c] for c in SPLICE_COLUMNS)) for row in SPLICE_TABLE.read(path)]


def composite_order(table: list[SpliceRow]) -> list[SpliceRow]:
    """The intervals sorted by composite depth.

    Raises:
      ValueError: two intervals overlap on the composite scale (gaps are allowed).
    """
    ordered = sorted(table, key=lambda r: r.composite_depth_m)
    for upper, lower in zip(ordered, ordered[1:]):
        bottom_m = upper.composite_depth_m + (upper.bottom_offset_cm - upper.top_offset_cm) / 100.0
        if lower.composite_depth_m < bottom_m - 1e-9:
            raise ValueError(f"splice intervals overlap: {upper.section_id} reaches "
                             f"{bottom_m:.4f} m, below the top of {lower.section_id} at "
                             f"{lower.composite_depth_m:.4f} m")
    return ordered


def place(record: np.ndarray, row: SpliceRow) -> tuple[np.ndarray, np.ndarray, str]:
    """One interval of a section's record on the composite depth scale.

    A line at offset o (cm below its section top) with top_offset <= o < bottom_offset goes to
    composite depth composite_depth_m + (o - top_offset) / 100 m: no stretch or squeeze, as in
    the paper's splice onto the composite of Hodell et al. (2015).

    Args:
      record: the section's record, (N, C) float, column 0 offset_cm increasing (the other
        columns are carried along).
      row: the interval.

    Returns:
      (composite_depth_m (M,), the interval's rows (M, C), a message: empty, or saying that the
      record ends above the interval's bottom).
    """
    offset = record[:, 0]
    take = (offset >= row.top_offset_cm - 1e-9) & (offset < row.bottom_offset_cm - 1e-9)
    step = offset[1] - offset[0] if len(offset) > 1 else 0.0
    end = offset[-1] + step if len(offset) else 0.0  # bottom edge of the last line
    message = ""
    if end < row.bottom_offset_cm - 1e-6:
        message = f"record ends at {end:.2f} cm, above the interval's bottom {row.bottom_offset_cm:g} cm"
    return row.composite_depth_m + (offset[take] - row.top_offset_cm) / 100.0, record[take], message


def splice(records: dict[str, np.ndarray], table: list[SpliceRow]):
    """Places every splice interval on the composite scale (`place`), in memory.

    Args:
      records: section id -> its record as an (N, C) float array, column 0 offset_cm.
      table: the splice intervals (`read_splice_table`).

    Returns:
      (composite_depth_m (M,) float64, sections (M,) object array of ids, rows (M, C), status),
      sorted by composite depth; status is a list of (section, "ok" | "failed", message), one
      per splice row in composite order. A section without a record fails (the rest are
      spliced); an interval reaching below its record's end is spliced with a message.

    Raises:
      ValueError: two intervals overlap on the composite scale.
    """
    status, parts = [], []
    for row in composite_order(table):
        record = records.get(row.section_id)
        if record is None:
            status.append((row.section_id, "failed", "no colour record for this section"))
            continue
        depth, rows, message = place(record, row)
        parts.append((depth, np.full(len(depth), row.section_id, object), rows))
        status.append((row.section_id, "ok", message))
    if not parts:
        width = next(iter(records.values())).shape[1] if records else 1
        return np.zeros(0), np.zeros(0, object), np.zeros((0, width)), status
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3)) + (status,)
