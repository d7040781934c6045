"""Reading a lab's ice-core specimens (the `manual` config of ice_ct): metadata table and stacks.

Every error names the file and what is wrong with it.
"""

from __future__ import annotations

import dataclasses
import os

from etils import epath

from coretf import tables

LAYOUT = """\
Put each specimen's two slice stacks and one metadata table in a folder (pass it as `--manual_dir`):

  <manual_dir>/
    specimens.csv
    <specimen>/high/<slice files>   high resolution (e.g. 30 um), 2 slices per low-res slice
    <specimen>/low/<slice files>    low resolution (e.g. 60 um), half the side of the high-res slices

Slices are grayscale PNG or TIFF, 8 or 16 bit, one size and bit depth per stack, ordered by file
name (numbers compare as numbers: s2 before s10), the first slice at the specimen's top.
Low-res slice k must align with high-res slices 2k and 2k+1 (both reconstructed from the same
projections). The lowest 20 % of each specimen is the test split.

specimens.csv has a header row (units in the column names) and one row per specimen:

  specimen,high_voxel_um,low_voxel_um,weight_g,height_mm,diameter_mm
  KohnenQK_D38_KF540,29.105,58.21,397.1,150,100

  specimen       folder name (unique)
  high_voxel_um  high-res voxel size, micrometres (> 0; every number finite)
  low_voxel_um   low-res voxel size, micrometres (> high_voxel_um)
  weight_g       the weighed specimen, grams (> 0)
  height_mm      specimen height, millimetres (> 0)
  diameter_mm    specimen diameter, millimetres (> 0)
  split          optional: train, validation or test puts the whole specimen in that split;
                 empty (the default) splits the specimen by depth (the lowest 20 % test)

All-black slices are skipped (with a warning naming the file); slices of mixed sizes or bit
depths, stacks that do not pair up and missing metadata stop the build with an error.
"""

NUMBER_COLUMNS = ("high_voxel_um", "low_voxel_um", "weight_g", "height_mm", "diameter_mm")
# specimens.csv, as LAYOUT describes it.
TABLE = tables.Table(
    "specimen",
    (tables.Column("specimen", key=True),
     *(tables.Column(name, float, checks=(tables.FINITE, tables.POSITIVE)) for name in NUMBER_COLUMNS),
     tables.Column("split", ("train", "validation", "test"), default="")),
    exceeds=(("low_voxel_um", "high_voxel_um"),))


@dataclasses.dataclass(frozen=True)
class SpecimenRow:
    """A validated row of specimens.csv."""

    specimen_id: str
    high_voxel_um: float
    low_voxel_um: float
    weight_g: float
    height_mm: float
    diameter_mm: float
    split: str = ""


def read_table(manual_dir: epath.PathLike) -> dict[str, SpecimenRow]:
    """Reads and validates `<manual_dir>/specimens.csv` and checks every specimen's folders.

    Raises:
        ValueError: the folder, table, a column, a value or a stack folder is missing or bad;
            the message names the file, the line and the problem.
    """
    manual_dir = epath.Path(manual_dir)
    if not manual_dir.is_dir():
        raise ValueError(f"{manual_dir}: manual data folder does not exist\n\n{LAYOUT}")
    table_path = manual_dir / "specimens.csv"
    if not table_path.exists():
        raise ValueError(f"{table_path}: missing (metadata of every specimen)\n\n{LAYOUT}")
    rows: dict[str, SpecimenRow] = {}
    for row in TABLE.read(table_path):
        for resolution in ("high", "low"):
            if not (manual_dir / row.key / resolution).is_dir():
                raise ValueError(f"{manual_dir / row.key / resolution}: missing stack folder "
                                 f"of specimen {row.key!r}")
        rows[row.key] = SpecimenRow(row.key, *(row[name] for name in NUMBER_COLUMNS), split=row["split"])
    return rows


def stack_dirs(manual_dir: epath.PathLike, specimen_id: str) -> tuple[str, str]:
    """The (high, low) stack folders of a specimen, as local paths."""
    base = os.fspath(epath.Path(manual_dir) / specimen_id)
    return os.path.join(base, "high"), os.path.join(base, "low")
