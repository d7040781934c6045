"""Reading a lab's labelled micro-CT stacks (the `manual` config of rock_ct).

Files are read through `etils.epath`, so a manual folder may live on any filesystem TFDS
supports. Every error names the stack and, where there is one, the file.
"""

from __future__ import annotations

import numpy as np
from etils import epath

from coretf import io as coretf_io
from coretf import tables
from coretf_datasets.rock_ct.stack import Stack

LAYOUT = """\
Put your labelled stacks in one folder (pass it as `--manual_dir`):

  <manual_dir>/
    stacks.csv
    <stack>/images/<slice>.tif | .tiff | .png   grayscale CT slices, 8 or 16 bit
    <stack>/labels/<slice>.tif | .tiff | .png   pore labels, same file stems as the images

stacks.csv has a header row and one row per stack:

  stack,rock_type
  carbonate_1,carbonate
  soil_1,soil

  stack       folder name; letters, digits and underscores (it becomes a TFDS split name)
  rock_type   any name (e.g. carbonate, soil, sandstone); models are trained per rock type

Slices are ordered by file name. A label slice has the size of its image and two values:
0 = solid and 1 or 255 = pore. A stack needs at least two slices. 16-bit images are stretched
to 8 bit between the stack's 0.1 and 99.9 percentiles (one mapping per stack, so slices of a
stack stay comparable).
"""

SUFFIXES = (".tif", ".tiff", ".png")
# stacks.csv, as LAYOUT describes it.
TABLE = tables.Table("stack", (
    tables.Column("stack", tables.Pattern(r"[A-Za-z][A-Za-z0-9_]*",
                                          "letters, digits and underscores, starting with a letter"),
                  key=True),
    tables.Column("rock_type", missing="{noun} {key!r} has no rock type"),
))


def read_table(manual_dir) -> dict[str, str]:
    """{stack: rock_type} from stacks.csv, checked against the stack folders present.

    Raises:
        ValueError: missing folder or CSV, bad header, a bad stack name, a stack without a rock
            type, a listed stack without a folder or a stack folder missing from the CSV.
    """
    if manual_dir is None or not epath.Path(manual_dir).is_dir():
        raise ValueError(f"manual folder {manual_dir} does not exist\n\n{LAYOUT}")
    root = epath.Path(manual_dir)
    table_path = root / "stacks.csv"
    if not table_path.exists():
        raise ValueError(f"{table_path}: missing (one row per stack: stack,rock_type)")
    table = {row.key: row["rock_type"] for row in TABLE.read(table_path)}
    folders = {p.name for p in root.iterdir() if p.is_dir()}
    for stack in sorted(folders - set(table)):
        raise ValueError(f"stack {stack!r}: folder {root / stack} has no rock type in {table_path}")
    for stack in table:
        if stack not in folders:
            raise ValueError(f"stack {stack!r}: listed in {table_path} but {root / stack} is missing")
    return table


def _slices(folder: epath.Path, stack: str) -> dict[str, epath.Path]:
    if not folder.is_dir():
        raise ValueError(f"stack {stack!r}: {folder} is missing")
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in SUFFIXES}


def _decode(path: epath.Path, stack: str) -> np.ndarray:
    try:
        image = coretf_io.decode_image(path.read_bytes(), str(path))
    except coretf_io.ImageError as error:
        raise ValueError(f"stack {stack!r}: {error}") from error
    if image.ndim != 2:
        raise ValueError(f"stack {stack!r}: {path} is not grayscale (shape {image.shape})")
    return image


def to_uint8_stack(image: np.ndarray) -> np.ndarray:
    """(D, H, W) 8- or 16-bit stack to uint8; 16-bit stretched between its 0.1/99.9 percentiles."""
    if image.dtype == np.uint8:
        return image
    low, high = np.percentile(image, [0.1, 99.9])
    scaled = (image.astype(np.float32) - low) / max(float(high - low), 1.0)
    return np.clip(np.rint(scaled * 255), 0, 255).astype(np.uint8)


def read_stack(manual_dir, stack: str, rock_type: str) -> Stack:
    """Reads and checks one stack.

    Raises:
        ValueError naming the stack: fewer than two slices, an image without its label (or a label
        without its image), slices of different sizes, a label whose size differs from its image,
        or a label that is not binary.
    """
    root = epath.Path(manual_dir) / stack
    images = _slices(root / "images", stack)
    labels = _slices(root / "labels", stack)
    for name in sorted(set(images) ^ set(labels)):
        which = "label" if name in images else "image"
        raise ValueError(f"stack {stack!r}: slice {name!r} has no {which} file")
    if len(images) < 2:
        raise ValueError(f"stack {stack!r}: has {len(images)} slice(s); a stack needs at least 2")
    volume, pores = [], []
    for name in sorted(images):
        image = _decode(images[name], stack)
        label = _decode(labels[name], stack)
        if volume and image.shape != volume[0].shape:
            raise ValueError(f"stack {stack!r}: {images[name].name} is {image.shape[0]}x"
                             f"{image.shape[1]} px but the stack's first slice is "
                             f"{volume[0].shape[0]}x{volume[0].shape[1]}")
        if label.shape != image.shape:
            raise ValueError(f"stack {stack!r}: label {labels[name].name} is {label.shape[0]}x"
                             f"{label.shape[1]} px but its image {images[name].name} is "
                             f"{image.shape[0]}x{image.shape[1]}")
        values = np.unique(label)
        if not (set(values.tolist()) <= {0, 1} or set(values.tolist()) <= {0, 255}):
            raise ValueError(f"stack {stack!r}: label {labels[name].name} is not binary (values "
                             f"{values[:8].tolist()}{'...' if values.size > 8 else ''}; expected "
                             "0 = solid and 1 or 255 = pore)")
        volume.append(image)
        pores.append((label > 0).astype(np.uint8))
    if len({v.dtype for v in volume}) > 1:
        raise ValueError(f"stack {stack!r}: slices mix 8- and 16-bit images")
    return Stack(stack_id=stack, rock_type=rock_type, image=to_uint8_stack(np.stack(volume)),
                 pores=np.stack(pores), slice_names=tuple(sorted(images)))
