"""Reading a lab's labelled micro-CT stacks (the `manual` config of rock_ct), in the layouts labs have.

Files are read through `etils.epath`, so a manual folder may live on any filesystem TFDS
supports. Every error names the stack and, where there is one, the file.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
from etils import epath

from coretf import io as coretf_io
from coretf import labels as labels_lib
from coretf import tables
from coretf_datasets.rock_ct.stack import CLASS_NAMES, Stack

LAYOUT = """\
Put your labelled stacks in one folder (pass it as `--manual_dir`), one folder per stack:

  <manual_dir>/
    stacks.csv
    <stack>/images/<slice>.tif | .tiff | .png   grey CT slices, 8 or 16 bit
    <stack>/labels/<slice>.tif | .tiff | .png   labels, same file stems as the images
    labels.csv                                  optional: what the label values mean

or flat, the image and label folders side by side (a lab's `Train_images/` + `Train_masks/`,
`Test_images/` + `Test_masks/`; or just `images/` + `masks/`, one stack named after the folder):

  <manual_dir>/<prefix>images/ and <prefix>masks/ (or <prefix>labels/), stacks.csv optional

Image folders are named `images`, `imgs` or `slices` (or end so, e.g. `Train_images`), label
folders `labels` or `masks` (or end so); a label file may carry a `_mask` or `_label` suffix on
its image's stem. stacks.csv has a header row and one row per stack:

  stack,rock_type,split
  carbonate_1,carbonate,train
  soil_1,soil,

  stack       the stack folder's name (flat layouts: the prefix, e.g. Train); letters, digits and
              underscores (it becomes a TFDS split name)
  rock_type   any name (e.g. carbonate, soil, sandstone); models are trained per rock type
  split       optional: train marks the stacks the rock_ct job trains on by default (otherwise
              the first stack of each rock type)

Without stacks.csv (flat layouts only) the rock type is "unknown". Slices are ordered by file
name. Labels are 0 = solid and 1 or 255 = pore, unless labels.csv (columns value,class) says
otherwise: grey values or #rrggbb colour codes (RGB colour-coded or palette masks) -> solid,
pore or ignore; `*` stands for every value not listed. Ignored pixels (outside the rock, not
labelled) count in no loss, metric or figure. A stack needs at least two slices. RGB or palette
CT slices are read as grey (with a warning). 16-bit images are stretched to 8 bit between the
stack's 0.1 and 99.9 percentiles (one mapping per stack, so slices of a stack stay comparable).
"""

SUFFIXES = (".tif", ".tiff", ".png")
IMAGE_WORDS = ("images", "imgs", "slices")
LABEL_WORDS = ("labels", "masks")
LABEL_STEM_SUFFIX = re.compile(r"[_-](mask|masks|label|labels)$", re.IGNORECASE)
STACK_NAME = tables.Pattern(r"[A-Za-z][A-Za-z0-9_]*", "letters, digits and underscores, starting with a letter")
DEFAULT_LABELS = labels_lib.LabelMap.parse("0=solid, 1=pore, 255=pore", source="the default labels")
# stacks.csv, as LAYOUT describes it.
TABLE = tables.Table("stack", (
    tables.Column("stack", STACK_NAME, key=True),
    tables.Column("rock_type", missing="{noun} {key!r} has no rock type"),
    tables.Column("split", ("train", "validation", "test"), default=""),
))


@dataclasses.dataclass(frozen=True)
class StackFolders:
    """Where one stack's files are, and what stacks.csv says of it."""

    stack: str
    rock_type: str
    images: epath.Path
    labels: epath.Path
    split: str = ""


def _word_prefix(name: str, words) -> str | None:
    """The prefix before an image/label word ending `name` ("Train_images" -> "Train"), or None."""
    lower = name.lower()
    for word in words:
        if lower.endswith(word):
            return name[:len(name) - len(word)].rstrip("_- ")
    return None


def _pairs(folder: epath.Path) -> dict[str, tuple[epath.Path, epath.Path]]:
    """{prefix: (image folder, label folder)} of the image/label folder pairs directly in `folder`
    (prefixes compared in any case; the image folder's spelling is kept)."""
    images, labels = {}, {}
    for child in sorted(folder.iterdir()):
        if not child.is_dir():
            continue
        for words, found in ((IMAGE_WORDS, images), (LABEL_WORDS, labels)):
            prefix = _word_prefix(child.name, words)
            if prefix is not None:
                found[prefix.lower()] = (prefix, child)
    return {images[key][0]: (images[key][1], labels[key][1]) for key in images if key in labels}


def _stack_name(prefix: str, folder: epath.Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", prefix or folder.name).strip("_") or "stack"
    return name if name[0].isalpha() else f"stack_{name}"


def find_stacks(manual_dir) -> dict[str, StackFolders]:
    """Every stack of a lab's folder, in either layout (see LAYOUT), checked against stacks.csv.

    Raises:
        ValueError: a missing folder or table, a bad row, a stack without folders or rock type.
    """
    if manual_dir is None or not epath.Path(manual_dir).is_dir():
        raise ValueError(f"manual folder {manual_dir} does not exist\n\n{LAYOUT}")
    root = epath.Path(manual_dir)
    table_path = root / "stacks.csv"
    rows = {row.key: row for row in TABLE.read(table_path)} if table_path.exists() else None
    flat = _pairs(root)
    if flat:
        found = {_stack_name(prefix, root): folders for prefix, folders in flat.items()}
    else:
        if rows is None:
            raise ValueError(f"{table_path}: missing (one row per stack: stack,rock_type), and "
                             f"{root} holds no images/ + masks/ folders either")
        found = {}
        for child in sorted(p for p in root.iterdir() if p.is_dir()):
            pairs = _pairs(child)
            if not pairs:
                raise ValueError(f"stack {child.name!r}: {child} holds no images/ and labels/ (or "
                                 "masks/) folders")
            found[child.name] = next(iter(pairs.values()))
    if rows is None:
        return {name: StackFolders(name, "unknown", *folders) for name, folders in found.items()}
    for stack in sorted(set(found) - set(rows)):
        folder = found[stack][0] if flat else root / stack
        raise ValueError(f"stack {stack!r}: folder {folder} has no rock type in {table_path}")
    for stack in rows:
        if stack not in found:
            raise ValueError(f"stack {stack!r}: listed in {table_path} but {root / stack} is missing")
    return {name: StackFolders(name, rows[name]["rock_type"], *found[name], split=rows[name]["split"])
            for name in rows}


def read_table(manual_dir) -> dict[str, str]:
    """{stack: rock_type} of a lab's folder (see `find_stacks`)."""
    return {name: folders.rock_type for name, folders in find_stacks(manual_dir).items()}


def _slices(folder: epath.Path, strip_suffix: bool = False) -> dict[str, epath.Path]:
    files = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in SUFFIXES and not path.name.startswith("."):
            files[LABEL_STEM_SUFFIX.sub("", path.stem) if strip_suffix else path.stem] = path
    return files


def _decode(path: epath.Path, stack: str) -> np.ndarray:
    try:
        return coretf_io.decode_image(path.read_bytes(), str(path))
    except coretf_io.ImageError as error:
        raise ValueError(f"stack {stack!r}: {error}") from error


def to_uint8_stack(image: np.ndarray) -> np.ndarray:
    """(D, H, W) 8- or 16-bit stack to uint8; 16-bit stretched between its 0.1/99.9 percentiles."""
    if image.dtype == np.uint8:
        return image
    low, high = np.percentile(image, [0.1, 99.9])
    scaled = (image.astype(np.float32) - low) / max(float(high - low), 1.0)
    return np.clip(np.rint(scaled * 255), 0, 255).astype(np.uint8)


def _labels(mask: np.ndarray, path: epath.Path, stack: str, label_map: labels_lib.LabelMap) -> np.ndarray:
    if label_map is DEFAULT_LABELS:
        grey = coretf_io.to_grey(mask, str(path))
        values = np.unique(grey)
        if not set(values.tolist()) <= {0, 1, 255}:
            raise ValueError(f"stack {stack!r}: label {path.name} is not binary (values "
                             f"{values[:8].tolist()}{'...' if values.size > 8 else ''}; expected "
                             "0 = solid and 1 or 255 = pore, or a labels.csv saying what the values mean)")
    try:
        return label_map.apply(mask, CLASS_NAMES, str(path))
    except ValueError as error:
        raise ValueError(f"stack {stack!r}: {error}") from None


def read_stack(manual_dir, stack: str, rock_type: str | None = None) -> Stack:
    """Reads and checks one stack of a lab's folder.

    Raises:
        ValueError naming the stack: fewer than two slices, an image without its label (or a label
        without its image), slices of different sizes, a label whose size differs from its image,
        or label values the folder's label map does not list.
    """
    folders = find_stacks(manual_dir)[stack]
    label_map = labels_lib.folder_label_map(manual_dir, DEFAULT_LABELS)
    images = _slices(folders.images)
    labels = _slices(folders.labels, strip_suffix=True)
    for name in sorted(set(images) ^ set(labels)):
        which = "label" if name in images else "image"
        raise ValueError(f"stack {stack!r}: slice {name!r} has no {which} file")
    if len(images) < 2:
        raise ValueError(f"stack {stack!r}: has {len(images)} slice(s); a stack needs at least 2")
    volume, pores = [], []
    for name in sorted(images):
        image = coretf_io.to_grey(_decode(images[name], stack), str(images[name]))
        label = _decode(labels[name], stack)
        if volume and image.shape != volume[0].shape:
            raise ValueError(f"stack {stack!r}: {images[name].name} is {image.shape[0]}x"
                             f"{image.shape[1]} px but the stack's first slice is "
                             f"{volume[0].shape[0]}x{volume[0].shape[1]}")
        if label.shape[:2] != image.shape:
            raise ValueError(f"stack {stack!r}: label {labels[name].name} is {label.shape[0]}x"
                             f"{label.shape[1]} px but its image {images[name].name} is "
                             f"{image.shape[0]}x{image.shape[1]}")
        volume.append(image)
        pores.append(_labels(label, labels[name], stack, label_map))
    if len({v.dtype for v in volume}) > 1:
        raise ValueError(f"stack {stack!r}: slices mix 8- and 16-bit images")
    return Stack(stack_id=stack, rock_type=rock_type or folders.rock_type,
                 image=to_uint8_stack(np.stack(volume)), pores=np.stack(pores),
                 slice_names=tuple(sorted(images)), split=folders.split)
