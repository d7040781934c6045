"""Grain-extraction settings (`coretf.preprocess.grain_extraction`) and their JSON file.

`ExtractionSettings` says how particles are found; `PAPER_SETTINGS` are those of Golikov et al.
(2022, `seeds/003_*`, §2: one HSV threshold over superpixels, touching particles kept as one, the
minimum particle a share of the frame), which the `sediment_grains` builder keeps so that its
data stay as they were. The defaults are for a lab's photographs: the plate modelled across the
frame (uneven light, colour casts), touching and overlapping particles split, and the minimum
particle in pixels or square micrometres (`min_area_px`, or `min_area_um2` with `um_per_px`).

A settings file is a JSON object of these fields (`read_settings`); the `extraction.json` a run
of `python -m coretf.preprocess.grains` writes is one. The old key `min_area_fraction` (a share
of the frame) is still read, so files written before the pixel and micrometre keys stay valid.
"""

from __future__ import annotations

import dataclasses
import json
import os

PLATES = ("auto", "green", "dark", "light")
SETTINGS_FILE = "extraction.json"  # settings in a manual folder, and the record of a command run
# The smallest particle when no minimum is given, px at full resolution: a 9 px wide speck (a
# 63 um sieve residue at ~7 um/px, an 80x stage) cannot be named from its crop anyway.
DEFAULT_MIN_AREA_PX = 64.0


@dataclasses.dataclass(frozen=True)
class ExtractionSettings:
    """How particles are found.

    Attributes:
        plate: "green" (saturation, the paper), "dark", "light", or "auto" (chosen per frame).
        n_segments: SLIC superpixels per frame (scale-free: ~600 gives ~23 px superpixels on a
            640 px wide working copy).
        compactness: SLIC compactness (colour versus space).
        work_width: frames are segmented on a copy at most this wide (boxes are scaled back).
        min_contrast: the two superpixel classes must differ by this much (saturation or value,
            0-1) or the frame holds no particle.
        threshold: a fixed threshold on the plate's feature instead of Otsu (over the superpixel
            means; of their log value on a dark plate).
        plate_model: particles are the pixels that depart from the plate's colour modelled across
            the frame (`coretf.preprocess.grain_plate`: gradients, vignetting and colour casts
            cancel) instead of the superpixels on the particle side of the threshold (the paper).
            Plates brighter than the particles on their feature only (green, light): a black plate
            reflects no light to model, and dividing by its brightness would amplify noise.
        split_touching: split touching and overlapping particles (the particle mask is taken per
            pixel, thin plate-coloured valleys between particles are cut, and each region is split
            by a watershed of its distance transform). The paper keeps touching pairs as one.
        gap_radius: (split) valleys up to 2 * gap_radius + 1 px wide (working copy) are gaps.
        gap_contrast: (split) a gap is this much closer to the plate (saturation or value, 0-1)
            than the particles on either side.
        neck_ratio: (split) a region is split at a neck whose half-width (distance to the plate,
            + 1 px) is at most this share of that at the lower of the two centres it joins: a
            relative depth, so that a big lobed particle needs a deeper neck than a small grain.
        min_area_px: particles smaller than this many px (full resolution) are noise.
        min_area_um2: or the smallest particle in square micrometres (needs `um_per_px`).
        um_per_px: the photos' scale, micrometres per px.
        min_area_fraction: or the smallest particle as a share of the frame (the paper's rule and
            the old settings key). At most one of the three minima is given; with none,
            `DEFAULT_MIN_AREA_PX`.
    """

    plate: str = "auto"
    n_segments: int = 600
    compactness: float = 10.0
    work_width: int = 640
    min_contrast: float = 0.12
    threshold: float | None = None
    plate_model: bool = True
    split_touching: bool = True
    gap_radius: int = 2
    gap_contrast: float = 0.04
    neck_ratio: float = 0.85
    min_area_px: float | None = None
    min_area_um2: float | None = None
    um_per_px: float | None = None
    min_area_fraction: float | None = None

    def __post_init__(self):
        if self.plate not in PLATES:
            raise ValueError(f"plate {self.plate!r}: must be one of {', '.join(PLATES)}")
        checks = {"n_segments": self.n_segments >= 1, "compactness": self.compactness > 0,
                  "work_width": self.work_width >= 16,
                  "min_area_fraction": self.min_area_fraction is None or 0 <= self.min_area_fraction < 1,
                  "min_area_px": self.min_area_px is None or self.min_area_px >= 0,
                  "min_area_um2": self.min_area_um2 is None or self.min_area_um2 >= 0,
                  "um_per_px": self.um_per_px is None or self.um_per_px > 0,
                  "min_contrast": 0 <= self.min_contrast < 1, "gap_radius": self.gap_radius >= 1,
                  "gap_contrast": 0 <= self.gap_contrast < 1, "neck_ratio": 0 < self.neck_ratio < 1}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(", ".join(f"{name} = {getattr(self, name)!r}" for name in bad) + " out of range "
                             "(n_segments, gap_radius >= 1, work_width >= 16, compactness, um_per_px > 0, "
                             "areas >= 0, fractions and ratios within [0, 1))")
        minima = [name for name in ("min_area_px", "min_area_um2", "min_area_fraction")
                  if getattr(self, name) is not None]
        if len(minima) > 1:
            raise ValueError(f"{' and '.join(minima)} both given: the minimum particle area is one of "
                             "min_area_px, min_area_um2 (with um_per_px) or min_area_fraction")
        if self.min_area_um2 is not None and self.um_per_px is None:
            raise ValueError("min_area_um2 needs um_per_px (the photos' scale, micrometres per px)")

    def min_area(self, height: int, width: int) -> float:
        """The smallest particle in px for a frame of height x width px."""
        if self.min_area_um2 is not None:
            return self.min_area_um2 / self.um_per_px ** 2
        if self.min_area_fraction is not None:
            return self.min_area_fraction * height * width
        return DEFAULT_MIN_AREA_PX if self.min_area_px is None else self.min_area_px


# The paper's extraction (and, before the plate model and splitting, the defaults): the
# `sediment_grains` builder extracts with these.
PAPER_SETTINGS = ExtractionSettings(plate_model=False, split_touching=False, neck_ratio=0.93,
                                    min_area_fraction=4e-4)


def read_settings(path: str | os.PathLike, base: ExtractionSettings = ExtractionSettings()) -> ExtractionSettings:
    """Extraction settings from a JSON file.

    The file holds an object of `ExtractionSettings` fields (those left out keep `base`'s
    values), e.g. `{"plate": "dark", "min_area_um2": 2000, "um_per_px": 3.5}`, or is the
    `extraction.json` a run of `python -m coretf.preprocess.grains` wrote (its "settings" are
    taken; fields it lacks are the paper's, as they were when it was written). A minimum area in the file replaces `base`'s (whichever key either uses).

    Raises:
        ValueError: naming the file: not JSON, not an object, an unknown setting, a value of the
            wrong type or out of range.
    """
    try:
        with open(path) as f:
            values = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read extraction settings ({error})") from None
    if isinstance(values, dict) and "settings" in values:
        # A run's record holds every field of its day: one without the newer fields was made
        # with the paper's extraction, whatever `base` says.
        values, base = values["settings"], PAPER_SETTINGS
    if not isinstance(values, dict):
        raise ValueError(f"{path}: extraction settings must be a JSON object, e.g. {{\"plate\": \"dark\"}}")
    fields = {f.name: f.default for f in dataclasses.fields(ExtractionSettings)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(fields)})")
    for name, value in values.items():
        default = fields[name]
        kind = float if default is None else type(default)
        if isinstance(value, bool) != (kind is bool) or not (
                isinstance(value, kind) or (kind is float and isinstance(value, int))
                or (value is None and default is None)):
            raise ValueError(f"{path}: {name} must be {'a number or null' if default is None else kind.__name__}, "
                             f"not {value!r}")
    if any(values.get(name) is not None for name in ("min_area_px", "min_area_um2", "min_area_fraction")):
        base = dataclasses.replace(base, min_area_px=None, min_area_um2=None, min_area_fraction=None)
    try:
        return dataclasses.replace(base, **values)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
