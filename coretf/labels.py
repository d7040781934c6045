"""Label masks as labs draw them: grey values, palette PNGs or RGB colour codes -> class indices.

A `LabelMap` says which grey value or colour stands for which class, and which stand for
nothing at all: the ignore class (outside the sample, not labelled), whose pixels are left out of
the loss, of every metric and of every reported figure. Its text form is what a lab writes in a
flag or in its folder's `labels.csv` (columns `value,class`):

    0=solid, 255=pore, 128=ignore          grey values (a palette PNG of greys reads as grey)
    #ff0000=pore, #0000ff=solid, *=ignore  RGB colour codes; `*` = every value not listed

Class names are the job's (`solid`, `pore`; `disturbed_or_background`, `undisturbed`); the
words `ignore`, `unlabelled`, `unlabeled` and `outside` are the ignore class. Applied to a mask
(`LabelMap.apply`) the result is a uint8 array of class indices with `IGNORE` (255) where a
pixel is ignored; a value the map does not list is an error naming the file and the values.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import numpy as np
from etils import epath

from coretf import tables
from coretf.io import to_grey

IGNORE = 255  # the label of a pixel that no loss, metric or figure counts
IGNORE_WORDS = ("ignore", "unlabelled", "unlabeled", "outside")
_COLOUR = re.compile(r"^#([0-9a-fA-F]{6})$")

LABELS_TABLE = tables.Table("label value", (
    tables.Column("value", tables.Pattern(r"\*|\d{1,5}|#[0-9a-fA-F]{6}",
                                          "a grey value (0-65535), a colour #rrggbb or *"), key=True),
    tables.Column("class"),
))


def _key(text: str, where: str):
    text = text.strip()
    if text == "*":
        return "*"
    match = _COLOUR.match(text)
    if match:
        code = match.group(1)
        return tuple(int(code[i:i + 2], 16) for i in (0, 2, 4))
    if text.isdigit() and int(text) <= 65535:
        return int(text)
    raise ValueError(f"{where}: label value {text!r} is not a grey value (0-65535), a colour "
                     "#rrggbb or *")


@dataclasses.dataclass(frozen=True)
class LabelMap:
    """Grey values or RGB colours -> class names (or the ignore class).

    Attributes:
        entries: (value, class name) pairs; a value is an int (grey), an (r, g, b) tuple or "*".
        source: where the map came from, for error messages.
    """

    entries: tuple[tuple[object, str], ...]
    source: str = "label map"

    def __post_init__(self):
        keys = [k for k, _ in self.entries]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{self.source}: a value is listed twice")
        if not self.entries:
            raise ValueError(f"{self.source}: lists no values")

    @classmethod
    def parse(cls, text: str, source: str = "--label_map") -> LabelMap:
        """From text such as "0=solid, 255=pore, *=ignore" (commas or semicolons between pairs)."""
        entries = []
        for part in re.split(r"[,;]", text):
            if not part.strip():
                continue
            value, sep, name = part.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"{source}: {part.strip()!r} is not value=class")
            entries.append((_key(value, source), name.strip().lower()))
        return cls(tuple(entries), source)

    @classmethod
    def read(cls, path) -> LabelMap:
        """From a `labels.csv` table (columns value, class)."""
        rows = LABELS_TABLE.read(path)
        return cls(tuple((_key(row.key, row.where), row["class"].lower()) for row in rows), str(path))

    @property
    def colour(self) -> bool:
        """True when the map lists RGB colours (masks are then read as RGB)."""
        return any(isinstance(k, tuple) for k, _ in self.entries)

    def class_index(self, name: str, class_names: Sequence[str], aliases: dict | None = None) -> int:
        """The index of a class of the map (IGNORE for the ignore words); `aliases` maps other
        words a lab may write (e.g. "disturbed") to class names.

        Raises:
            ValueError: a class that is neither one of `class_names`, an alias nor ignore.
        """
        if name in IGNORE_WORDS:
            return IGNORE
        name = (aliases or {}).get(name, name)
        if name not in class_names:
            words = [*class_names, *(aliases or {})]
            raise ValueError(f"{self.source}: class {name!r} is not one of {', '.join(words)} or "
                             f"{IGNORE_WORDS[0]}")
        return list(class_names).index(name)

    def apply(self, mask: np.ndarray, class_names: Sequence[str], name: str,
              aliases: dict | None = None) -> np.ndarray:
        """Class indices (uint8, IGNORE where ignored) of a decoded mask image.

        Args:
            mask: (H, W) grey or (H, W, 3|4) RGB(A) mask as decoded.
            class_names: the job's classes, in index order.
            name: the mask's file name, for errors.
            aliases: other words for the classes (see `class_index`).

        Raises:
            ValueError: naming the file, for values the map does not list.
        """
        indices = [self.class_index(class_name, class_names, aliases) for _, class_name in self.entries]
        if self.colour:
            pixels = mask[..., :3] if mask.ndim == 3 else np.repeat(mask[..., None], 3, -1)
            codes = (pixels[..., 0].astype(np.int64) << 16) | (pixels[..., 1].astype(np.int64) << 8) | pixels[..., 2]

            def code(key):
                return key[0] << 16 | key[1] << 8 | key[2] if isinstance(key, tuple) else key * 0x010101
        else:
            codes = to_grey(mask, name).astype(np.int64)

            def code(key):
                if isinstance(key, tuple):
                    raise ValueError(f"{self.source}: mixes grey values and colours")
                return key
        out = np.full(codes.shape, IGNORE, np.uint8)
        listed = np.zeros(codes.shape, bool)
        default = None
        for (key, _), index in zip(self.entries, indices):
            if key == "*":
                default = index
                continue
            hit = codes == code(key)
            out[hit] = index
            listed |= hit
        if default is not None:
            out[~listed] = default
        elif not listed.all():
            values = np.unique(codes[~listed])
            shown = [f"#{v:06x}" if self.colour else str(v) for v in values[:8]]
            raise ValueError(f"{name}: values {', '.join(shown)}{' ...' if values.size > 8 else ''} are "
                             f"not in {self.source} ({self.describe()}); list them, or add *=ignore")
        return out

    def describe(self) -> str:
        """The map as text, e.g. "0=solid, 255=pore"."""
        def show(key):
            return "*" if key == "*" else f"#{key[0]:02x}{key[1]:02x}{key[2]:02x}" if isinstance(key, tuple) else str(key)
        return ", ".join(f"{show(k)}={v}" for k, v in self.entries)


def folder_label_map(folder, default: LabelMap) -> LabelMap:
    """The label map of a lab's folder: its `labels.csv` when it has one, else `default`."""
    path = epath.Path(folder) / "labels.csv"
    return LabelMap.read(path) if path.exists() else default


def ignored_share(labels: np.ndarray) -> float:
    """Share of the pixels of a label array that are ignored."""
    return float(np.mean(labels == IGNORE)) if labels.size else 0.0
