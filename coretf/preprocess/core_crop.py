"""Background removal of split-core section photographs: `python -m coretf.preprocess.core_crop`.

Crops each photograph of a file or folder to the core by the method of Hutton (2025, `seeds/000_*`,
§2.3.1; `coretf.preprocess.background`), in parallel (`coretf.preprocess.core_crop_batch`), and
flags failed crops (colour card kept, crop length off the expected section length) for review.
Outputs: the cropped images (under the photographs' own names, so predict, colour_record and the
tables a lab keeps name the same section) and `crops.csv` in --output (not the input folder), and under `<output>/review/` the files
for a person, never read by the next step: `flagged.png` (the contact sheet of the sections to
review), `<stem>_review.png` and the per-section `<stem>_crop.json` a rerun resumes from.

    python -m coretf.preprocess.core_crop --input=<file or folder> --output=<folder>
"""

from __future__ import annotations

import sys

from absl import app, flags

from coretf import flags as coretf_flags
from coretf import io as coretf_io
from coretf import outputs
from coretf.preprocess import background
from coretf.preprocess import core_crop_batch as batch


def define_flags() -> None:
    """The command's flags (called under `__main__` only)."""
    defaults = background.CropParams()
    flags.DEFINE_string("input", None, "Section photograph, or a folder of them.", required=True)
    flags.DEFINE_string("output", None, "Folder for the crops and crops.csv (review files go "
                        "to <output>/review/).", required=True)
    flags.DEFINE_enum("method", defaults.method, background.METHODS,
                      "robust: the core's colour classes found as the long rectangle, any tray "
                      "colour; seeded: the paper's box extended along the core over dark gaps "
                      "(the builder's *_cropped configs); paper: the largest contour only, as "
                      "Hutton (2025) wrote it.")
    flags.DEFINE_integer("num_classes", defaults.num_classes, "Multi-Otsu classes on L*.")
    flags.DEFINE_list("core_classes", [str(c) for c in defaults.core_classes],
                      "paper/seeded: classes (0 = darkest) that are core-like; the paper keeps "
                      "the middle one (robust finds the core's classes itself).")
    flags.DEFINE_integer("erode_kernel", defaults.erode_kernel, "Square erosion kernel side, px.")
    flags.DEFINE_integer("erode_iterations", defaults.erode_iterations, "Erosion iterations.")
    flags.DEFINE_integer("dilate_kernel", defaults.dilate_kernel, "Square dilation kernel side, px.")
    flags.DEFINE_integer("dilate_iterations", defaults.dilate_iterations, "Dilation iterations.")
    flags.DEFINE_float("cross_crop", defaults.cross_crop,
                       "Fraction of the core width cropped on each side across the core.")
    flags.DEFINE_enum("depth_axis", defaults.depth_axis, background.DEPTH_AXES,
                      "Axis along the core: x (the paper's images), y, or auto (long side).")
    flags.DEFINE_float("max_gap_widths", defaults.max_gap_widths,
                       "robust: longest dark gap along the core bridged, in core widths.")
    flags.DEFINE_float("min_run_widths", defaults.min_run_widths,
                       "robust: shortest end piece kept beyond a gap, in core widths.")
    flags.DEFINE_float("card_chroma", defaults.card_chroma, "C* from which a pixel is card-like.")
    flags.DEFINE_float("white_l", defaults.white_l, "L* from which a pixel is card-like (white).")
    flags.DEFINE_float("card_fraction", defaults.card_fraction,
                       "Share of card-like pixels on an end line that flags a colour card.")
    flags.DEFINE_integer("colour_classes", defaults.colour_classes,
                         "robust: k-means CIELAB classes the core's colours are chosen from.")
    flags.DEFINE_integer("work_px", defaults.work_px,
                         "robust: short side (px) of the reduced copy the core is searched on.")
    flags.DEFINE_float("px_per_cm", None, "Image scale; without it the length is not checked.")
    flags.DEFINE_list("section_lengths_cm", ["120", "150"], "Expected section lengths, cm.")
    flags.DEFINE_float("length_tolerance", 0.05, "Relative tolerance of the length check.")
    flags.DEFINE_string("sections", None,
                        "CSV (or its folder) with a 'file' column and optional px_per_cm, expected_length_cm, "
                        "depth_axis, method, num_classes, core_classes ('1 2'), cross_crop, "
                        "max_gap_widths per file (override the flags for that file).")
    flags.DEFINE_integer("workers", 2, "Processes (sections cropped in parallel).")
    flags.DEFINE_bool("overwrite", False, "Redo sections already cropped in --output.")


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    f = flags.FLAGS
    try:
        params = background.CropParams(
            method=f.method, num_classes=f.num_classes,
            core_classes=tuple(int(c) for c in f.core_classes), erode_kernel=f.erode_kernel,
            erode_iterations=f.erode_iterations, dilate_kernel=f.dilate_kernel,
            dilate_iterations=f.dilate_iterations, cross_crop=f.cross_crop,
            depth_axis=f.depth_axis, max_gap_widths=f.max_gap_widths,
            min_run_widths=f.min_run_widths, card_chroma=f.card_chroma, white_l=f.white_l,
            card_fraction=f.card_fraction, colour_classes=f.colour_classes, work_px=f.work_px)
        default = batch.SectionMeta(f.px_per_cm, tuple(float(v) for v in f.section_lengths_cm))
        metas = batch.read_sections_csv(f.sections, default, params) if f.sections else {}
        files = coretf_io.list_images(f.input)
        outputs.prepare(f.output, f.input, first_image=files[0], bytes_per_pixel=4)
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    rows = batch.run_batch(files, f.output, params, default, metas,
                           tolerance=f.length_tolerance, workers=f.workers, overwrite=f.overwrite)
    counts = {s: sum(r["status"] == s for r in rows) for s in background.STATUSES}
    print(f"{len(rows)} sections -> {f.output}/crops.csv: "
          + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    bad = [r["message"] for r in rows if r["status"] == "error"]
    flagged = [r["file"] for r in rows if r["status"] not in ("ok", "error")]
    if flagged:
        print(f"flagged for review ({f.output}/{batch.REVIEW_DIR}/flagged.png): {', '.join(flagged)}")
    if bad:
        print("bad files:\n  " + "\n  ".join(bad))
        sys.exit(1)  # some files failed (0: all done, flagged ones included; 2: nothing could start)


def cli() -> None:
    """`coretf-core-crop` (console script) and `python -m coretf.preprocess.core_crop`."""
    coretf_flags.run_command(main, define_flags)


if __name__ == "__main__":
    cli()
