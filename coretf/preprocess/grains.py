"""Particle extraction from a lab's microscope photo sets: `python -m coretf.preprocess.grains`.

Finds every photo set of a folder (`coretf.preprocess.grain_photos`), extracts its particles by
the method of Golikov et al. (2022, `seeds/003_*`, §2, Fig. 1; `coretf.preprocess.grain_extraction`)
and writes one crop per particle (its focal layers side by side), a box CSV and a detections
overlay (`overlays/<sample>/<position>.png`) per set, `particles.csv`, `grains.csv` (each
particle's area, axes, equivalent diameter, perimeter, circularity and aspect ratio, in px and,
with --um_per_px, in mm), `grain_sizes.json` and `grain_sizes.png` (D10/D50/D90 with bootstrap
intervals, particles cut by the frame left out) and `errors.txt`, in parallel
(`coretf.preprocess.grains_batch`). The run's
settings are kept in `<output>/extraction.json`; a rerun skips the sets already done and refuses
other settings.

    python -m coretf.preprocess.grains --input=<lab folder> --output=<folder> [--plate=dark]
        [--min_area_um2=2000 --um_per_px=3.5 | --min_area_px=150] [--nosplit_touching]
"""

from __future__ import annotations

import dataclasses
import os
import sys

from absl import app, flags, logging

from coretf import flags as coretf_flags
from coretf import outputs
from coretf.preprocess import grain_extraction, grain_photos
from coretf.preprocess import grains_batch as batch


def define_flags() -> None:
    """Flags of `python -m coretf.preprocess.grains` (called under `__main__` only)."""
    flags.DEFINE_string("input", None, "Folder of photo sets (see find_photo_sets).", required=True)
    flags.DEFINE_string("output", None, "Output folder for crops and CSVs.", required=True)
    define_extraction_flags()
    flags.DEFINE_integer("workers", 2, "Worker processes.")


def define_extraction_flags() -> None:
    """The flags saying how particles are found (this command's and coretf.pipeline's)."""
    flags.DEFINE_integer("layers", grain_photos.NUM_LAYERS,
                         "Focal layers per stage position (1: single photos).")
    flags.DEFINE_integer("crop_size", 280, "Side of the resized crops, px (the paper: 280).")
    flags.DEFINE_string("settings", None, "JSON file of extraction settings (read_settings; e.g. the "
                        f"{grain_extraction.SETTINGS_FILE} of an earlier run); the flags below, when "
                        "given, override it.")
    flags.DEFINE_enum("plate", "auto", grain_extraction.PLATES,
                      "Plate colour: green (saturation), dark, light or auto.")
    flags.DEFINE_float("threshold", None, "Fixed threshold on the plate feature instead of Otsu.")
    flags.DEFINE_integer("n_segments", 600, "SLIC superpixels per frame.")
    flags.DEFINE_bool("plate_model", True, "Model the plate's colour and light across the frame (gradients, "
                      "vignetting, colour casts cancel); off: one threshold over superpixels (the paper).")
    flags.DEFINE_bool("split_touching", True, "Split touching and overlapping particles (off: touching "
                      "particles stay one, as in the paper).")
    flags.DEFINE_float("min_area_px", None, "Smallest particle, px at full resolution (default "
                       f"{grain_extraction.DEFAULT_MIN_AREA_PX:g}).")
    flags.DEFINE_float("min_area_um2", None, "Smallest particle, square micrometres (needs --um_per_px).")
    flags.DEFINE_float("um_per_px", None, "The photos' scale, micrometres per px.")


def settings_from_flags(values: flags.FlagValues) -> grain_extraction.ExtractionSettings:
    """The extraction settings: --settings (if given) overridden by the flags given.

    Raises:
        ValueError: a bad settings file or value.
    """
    settings = (grain_extraction.read_settings(values.settings) if values.settings
                else grain_extraction.ExtractionSettings())
    names = ("plate", "threshold", "n_segments", "plate_model", "split_touching", "min_area_px",
             "min_area_um2", "um_per_px")
    given = {name: values[name].value for name in names if values[name].present or not values.settings}
    if any(values[name].present for name in ("min_area_px", "min_area_um2")):  # replaces the file's minimum
        given.update(min_area_px=values.min_area_px, min_area_um2=values.min_area_um2, min_area_fraction=None)
    return dataclasses.replace(settings, **given)


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not flags.FLAGS["verbosity"].present:  # progress bars and results, not INFO lines
        logging.set_verbosity(logging.WARNING)
    values = flags.FLAGS
    try:
        settings = settings_from_flags(values)
        rows, errors = batch.process_folder(values.input, values.output, layers=values.layers,
                                            crop_size=values.crop_size, settings=settings, workers=values.workers)
    except ValueError as error:  # a bad settings file or input folder, an output made otherwise
        raise app.UsageError(str(error)) from None
    edge = sum(int(r["edge"]) for r in rows)
    print(f"{len(rows)} particles ({edge} touching the frame) -> {os.path.join(values.output, 'particles.csv')}")
    sizes = batch.size_summary_line(values.output)
    if sizes:
        print(sizes)
    if errors:
        listed = os.path.join(values.output, outputs.REPORT)
        print(f"{len(errors)} photo set(s) skipped" + (f" (also in {listed}):" if os.path.exists(listed) else ":"))
        for error in errors:
            print(f"  {error}")
        sys.exit(1)  # some photo sets failed (0: all done, 2: nothing could start)


def cli() -> None:
    """`coretf-grains` (console script) and `python -m coretf.preprocess.grains`."""
    coretf_flags.run_command(main, define_flags)


if __name__ == "__main__":
    cli()
