"""Reading a lab's labelled core sections (the `manual` configs of sediment_cores).

Files are read through `etils.epath`, so a manual folder may live on any filesystem TFDS
supports. Every error names the file and what is wrong with it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from etils import epath

from coretf import io as coretf_io
from coretf import labels as labels_lib
from coretf import tables

LAYOUT = """\
Put your labelled sections in one folder (pass it as `--manual_dir`):

  <manual_dir>/
    sections.csv
    <section>.tif | .tiff | .png | .jpg | .jpeg   RGB or RGBA, 8 or 16 bit
    <section>_mask.png                            only for RGB images (see below)
    labels.csv                                    optional: what the mask values mean

or with the photographs in `images/` and the masks in `masks/` (paired by file stem; a mask may
be `<section>.png`, `<section>_mask.png` or a TIFF), sections.csv beside the two folders.

sections.csv has a header row and one row per section:

  section,px_per_cm,top_depth_cm,depth_axis
  U1385A-01H-01,197.0,0.0,x
  U1385A-01H-02,197.0,150.0,x

  section       file stem of the image (unique)
  px_per_cm     image scale, pixels per centimetre (> 0, finite)
  top_depth_cm  depth of the core top, cm (finite)
  depth_axis    x if depth increases along the image width (the usual photograph), y if it
                increases down the image height
  top_px        optional: pixel position of the core top along the depth axis (default 0)
  invert_label  optional: true (or 1, yes) if opaque alpha / non-zero mask marks DISTURBED
                sediment; false, 0, no or empty otherwise
  split         optional: train, validation or test, to choose which sections are held out;
                sections left empty are assigned at random (seeded) to the splits

The label is GIMP-style: in an RGBA image, erased pixels (alpha 0) are disturbed sediment or
background and opaque pixels (alpha > 0) are undisturbed sediment. An RGB image needs a mask of
the same size, non-zero = undisturbed, unless labels.csv (columns value,class) says otherwise:
grey values or #rrggbb colour codes (colour-coded or palette masks) -> undisturbed, disturbed
(or background) or ignore; `*` stands for every value not listed. Ignored pixels (not
labelled, outside the core) count in no loss, metric or figure. `invert_label` flips
undisturbed and disturbed. 16-bit images are scaled to 8 bit (v / 257). A section narrower (or
shorter) than one patch is mirror-padded to a patch, the padding ignored.
"""

# sections.csv, as LAYOUT describes it.
TABLE = tables.Table("section", (
    tables.Column("section", key=True),
    tables.Column("px_per_cm", float, checks=(tables.FINITE, tables.POSITIVE)),
    tables.Column("top_depth_cm", float, checks=(tables.FINITE,)),
    tables.Column("depth_axis", ("x", "y")),
    tables.Column("top_px", int, default=0, checks=(tables.NON_NEGATIVE,)),
    tables.Column("invert_label", bool, default=False),
    tables.Column("split", ("train", "validation", "test"), default=""),
))
CLASS_NAMES = ("disturbed_or_background", "undisturbed")  # label 0 and 1 (the paper's GIMP masks)
CLASS_ALIASES = {"disturbed": "disturbed_or_background", "background": "disturbed_or_background"}
DEFAULT_LABELS = labels_lib.LabelMap.parse("0=disturbed_or_background, *=undisturbed",
                                           source="the default labels (non-zero = undisturbed)")
MASK_SUFFIXES = (".png", ".tif", ".tiff")


@dataclasses.dataclass(frozen=True)
class Section:
    """One section in canonical orientation: depth along x, core top at x = top_px."""

    section_id: str
    image: np.ndarray  # (H, W, 3) uint8 RGB
    mask: np.ndarray  # (H, W) uint8, 1 = undisturbed, 0 = disturbed, IGNORE (255) = not counted
    px_per_cm: float
    top_depth_cm: float  # depth at x = top_px
    source: str  # file name or description, for error messages
    top_px: int = 0


@dataclasses.dataclass(frozen=True)
class SectionRow:
    """A validated row of sections.csv."""

    section_id: str
    px_per_cm: float
    top_depth_cm: float
    depth_axis: str
    top_px: int
    invert_label: bool
    split: str = ""


def read_table(manual_dir: epath.PathLike) -> dict[str, SectionRow]:
    """Reads and validates `<manual_dir>/sections.csv`, or the table itself if given a .csv file.

    Raises:
        ValueError: the folder or table is missing or empty, or a row is malformed; the message
            names the file, the row and the problem.
    """
    manual_dir = epath.Path(manual_dir)
    if manual_dir.suffix.lower() == ".csv" and manual_dir.is_file():
        return _read_rows(manual_dir)
    if not manual_dir.is_dir():
        raise ValueError(f"{manual_dir}: manual data folder does not exist\n\n{LAYOUT}")
    table_path = manual_dir / "sections.csv"
    if not table_path.exists():
        raise ValueError(f"{table_path}: missing (the folder holds {len(list(manual_dir.iterdir()))} "
                         f"entries but no sections.csv)\n\n{LAYOUT}")
    return _read_rows(table_path)


def _read_rows(table_path: epath.Path) -> dict[str, SectionRow]:
    return {row.key: SectionRow(row.key, row["px_per_cm"], row["top_depth_cm"], row["depth_axis"],
                                row["top_px"], row["invert_label"], row["split"])
            for row in TABLE.read(table_path)}


def find_image(manual_dir: epath.Path, section_id: str) -> epath.Path:
    """The single image file of a section (beside sections.csv or in images/); a clear error if
    there is none or several."""
    folders = [manual_dir, manual_dir / "images"]
    found = [folder / f"{section_id}{suffix}" for folder in folders for suffix in coretf_io.IMAGE_SUFFIXES
             if (folder / f"{section_id}{suffix}").exists()]
    if not found:
        raise ValueError(f"{manual_dir / section_id}.*: no image for section {section_id!r} "
                         f"(looked for {', '.join(coretf_io.IMAGE_SUFFIXES)})")
    if len(found) > 1:
        raise ValueError(f"{manual_dir}: section {section_id!r} has several images: "
                         f"{[p.name for p in found]}")
    return found[0]


def find_mask(manual_dir: epath.Path, section_id: str) -> epath.Path | None:
    """The mask file of a section: `<section>_mask.png` beside sections.csv, or `<section>` /
    `<section>_mask` (PNG or TIFF) in masks/; None when there is none."""
    candidates = [manual_dir / f"{section_id}_mask.png"] + [
        manual_dir / "masks" / f"{stem}{suffix}" for stem in (section_id, f"{section_id}_mask")
        for suffix in MASK_SUFFIXES]
    return next((path for path in candidates if path.exists()), None)


def read_section(manual_dir: epath.PathLike, row: SectionRow) -> Section:
    """Reads one section's image and label and puts them in canonical orientation.

    Raises:
        ValueError: unreadable image, wrong channels, missing mask, a mask whose size differs
            from the image, or mask values the folder's labels.csv does not list; the message
            names the file.
    """
    manual_dir = epath.Path(manual_dir)
    path = find_image(manual_dir, row.section_id)
    image = coretf_io.check_unit_range(coretf_io.decode_image(path.read_bytes(), str(path)), str(path))
    if image.ndim != 3:
        raise ValueError(f"{path}: expected an RGB or RGBA photograph, got a grayscale image")
    mask_path = find_mask(manual_dir, row.section_id)
    if image.shape[2] == 4 and mask_path is None:
        label = (image[..., 3] > 0).astype(np.uint8)
    elif mask_path is None:
        raise ValueError(f"{path}: RGB image without alpha channel and no {row.section_id}_mask.png "
                         f"beside it (nor masks/{row.section_id}.png)")
    else:
        mask = coretf_io.decode_image(mask_path.read_bytes(), str(mask_path))
        if mask.shape[:2] != image.shape[:2]:
            raise ValueError(f"{mask_path}: mask is {mask.shape[0]}x{mask.shape[1]} px but "
                             f"{path.name} is {image.shape[0]}x{image.shape[1]} px")
        label_map = labels_lib.folder_label_map(manual_dir, DEFAULT_LABELS)
        label = label_map.apply(mask, CLASS_NAMES, str(mask_path), CLASS_ALIASES)
    if row.invert_label:
        label = np.where(label == labels_lib.IGNORE, label, 1 - label).astype(np.uint8)
    image = coretf_io.to_uint8(image[..., :3])
    if row.depth_axis == "y":
        # Transpose, not rotate: row index becomes column index, depth order is kept.
        image = np.ascontiguousarray(image.transpose(1, 0, 2))
        label = np.ascontiguousarray(label.T)
    return Section(section_id=row.section_id, image=image, mask=label,
                   px_per_cm=row.px_per_cm, top_depth_cm=row.top_depth_cm, source=str(path),
                   top_px=row.top_px)
