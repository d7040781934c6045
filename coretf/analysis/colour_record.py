"""The CIELAB colour record of core sections against depth, spliced into a composite: the command.

  python -m coretf.analysis.colour_record --input=<image or folder> --masks=<folder>
      --sections=<sections.csv> --output=<folder> [--splice=<splice.csv>] [--min_kept=0.9]
      [--rgb=srgb|linear] [--max_lag_cm=5] [--xcorr_step_cm=0.1] [--overwrite]
      (without --sections: --px_per_cm=<scale> [--top_depth_cm=0] [--depth_axis=auto|x|y])

Hutton (2025, `seeds/000_*`): colour in CIELAB as OpenCV computes it (§2.2); for each depth step,
one pixel line across the core, the mean colour over the pixels the mask keeps, only where at
least 90 % of the line is kept (§2.7; `coretf.analysis.colour_lines`); sections spliced onto a
composite depth scale (§2.7, Fig. 12; `coretf.analysis.splice`); and the resolution analysis of
§4.5 (Fig. 15; `coretf.analysis.resolution`): cross-correlation and differenced
cross-correlation of the two halves of a section, filtered against unfiltered. Reading the files,
measuring and writing a section, the status table and the composite: `coretf.analysis.colour_batch`.

Inputs (the conventions of `coretf.predict` and of the sediment_cores manual builder):
  images    RGB (or RGBA) photographs, 8 or 16 bit, cropped to the core (background removal):
            every pixel of a line counts in its kept fraction and in the unfiltered record.
  masks     `<masks>/<stem>_mask.png` (or `_mask.tif`), uint8, the image's size, non-zero =
            undisturbed sediment, 0 = disturbed or background. Without a mask file, an RGBA
            image's alpha is the mask (GIMP-style: alpha 0 = disturbed). Any lab's or tool's mask
            works the same way. Image and mask are read band by band along depth: a tiled TIFF
            tile by tile (memory flat in the section's length), other files decoded once.
  sections  `sections.csv` as the manual builder reads it: section, px_per_cm, top_depth_cm,
            depth_axis (x: depth along the image width; y: down the height), optional top_px
            (pixel of the core top along the depth axis; lines above it are not core and are
            dropped) and invert_label.
  splice    CSV with columns section, top_offset_cm, bottom_offset_cm, composite_depth_m: the
            interval [top_offset_cm, bottom_offset_cm) below each section's top goes into the
            composite, its top placed at composite_depth_m.

Outputs per section `<stem>`, each written atomically (a rerun skips sections already done):
  <stem>_colour.csv    offset_cm, depth_cm, kept_fraction, then mean, SD and median of L*, a*,
                       b* over kept pixels (empty where kept_fraction < min_kept), then the
                       unfiltered means over the whole line.
  <stem>_colour.png    unfiltered and filtered L* against depth, and the kept fraction.
  <stem>_xcorr.csv     lag_cm, cross-correlation and differenced cross-correlation of the two
                       halves' L* records (averaged over --xcorr_step_cm bins), unfiltered and
                       filtered.
  <stem>_xcorr.png     the same, as in the paper's Fig. 15.
and `colour_record_status.csv` (one row per image, failures included), and with --splice
`composite_colour.csv`, `composite_colour.png` and `composite_status.csv`.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags
from tqdm.auto import tqdm

from coretf import flags as coretf_flags
from coretf import io as coretf_io
from coretf import outputs
from coretf.analysis import colour_batch
from coretf.analysis import splice as splice_lib


def define_flags() -> None:
    """The command's flags (called only under `__main__`)."""
    flags.DEFINE_string("input", None, "A section photograph, or a folder of them (RGB or RGBA, "
                        "8/16-bit TIFF, PNG, JPEG), cropped to the core.", required=True)
    flags.DEFINE_string("masks", None, "Folder of <stem>_mask.png (non-zero = undisturbed), e.g. "
                        "coretf.predict's output; without one, RGBA images use their alpha.")
    flags.DEFINE_string("sections", None, "sections.csv (or its folder): section, px_per_cm, "
                        "top_depth_cm, depth_axis[, top_px, invert_label]. Without it every image "
                        "uses --px_per_cm, --top_depth_cm and --depth_axis.")
    flags.DEFINE_string("output", None, "Folder for the records, plots and status CSV.", required=True)
    flags.DEFINE_string("splice", None, "Splice table CSV (section, top_offset_cm, "
                        "bottom_offset_cm, composite_depth_m): also build the composite.")
    flags.DEFINE_enum("rgb", "srgb", ["srgb", "linear"], "How the images encode colour: srgb "
                      "(cv2.COLOR_RGB2Lab, gamma first) or linear (cv2.COLOR_LRGB2Lab).")
    flags.DEFINE_float("min_kept", 0.9, "Least kept fraction of a line for its filtered "
                       "statistics (the paper's 90 % rule).")
    flags.DEFINE_float("max_lag_cm", 5.0, "Largest lag of the halves' cross-correlation, cm.")
    flags.DEFINE_float("xcorr_step_cm", 0.1, "The halves' records are averaged over bins of "
                       "this length before the cross-correlation, cm (0: single lines).")
    flags.DEFINE_float("px_per_cm", None, "Scale when no --sections table is given, px/cm.")
    flags.DEFINE_float("top_depth_cm", 0.0, "Top depth when no --sections table is given, cm.")
    flags.DEFINE_enum("depth_axis", "auto", ["auto", "x", "y"], "Depth axis when no --sections "
                      "table is given; auto = the image's long axis.")
    flags.DEFINE_boolean("overwrite", False, "Redo sections whose record exists.")


def main(argv) -> None:
    del argv
    FLAGS = flags.FLAGS
    if not 0 <= FLAGS.min_kept <= 1:
        raise app.UsageError(f"--min_kept={FLAGS.min_kept}: must be in [0, 1]")
    if FLAGS.xcorr_step_cm < 0:
        raise app.UsageError(f"--xcorr_step_cm={FLAGS.xcorr_step_cm}: must be >= 0")
    if FLAGS.max_lag_cm <= 0:
        raise app.UsageError(f"--max_lag_cm={FLAGS.max_lag_cm}: must be > 0")
    if not FLAGS.sections and not (FLAGS.px_per_cm or 0) > 0:
        raise app.UsageError("give --sections=<sections.csv> or --px_per_cm (> 0)")
    try:
        images = coretf_io.list_images(FLAGS.input, exclude_stems=colour_batch.NOT_PHOTOGRAPHS,
                                        flag="--input")
        table = {}
        if FLAGS.sections:
            from coretf_datasets.sediment_cores.manual_sections import read_table

            table = read_table(FLAGS.sections)
        if FLAGS.splice:  # a malformed splice table should stop the run before any work
            splice_lib.composite_order(splice_lib.read_splice_table(FLAGS.splice))
        outputs.prepare(FLAGS.output, FLAGS.input, first_image=images[0], bytes_per_pixel=0.1)
    except ValueError as error:  # nothing could start: one line, exit 2 (run_command)
        raise app.UsageError(str(error)) from None
    status, failed = [], []
    for path in tqdm(images, desc="sections", unit="section", disable=len(images) < 2):
        stem = os.path.splitext(os.path.basename(path))[0]
        row = {"section": stem, "image": path}
        try:
            if FLAGS.sections:
                entry = table.get(stem)
                if entry is None:
                    raise ValueError(f"{path}: section {stem!r} is not listed in {FLAGS.sections}")
                placement = colour_batch.placement_of(entry)
            else:
                placement = colour_batch.Placement(FLAGS.px_per_cm, FLAGS.top_depth_cm,
                                                   FLAGS.depth_axis)
            with tqdm(desc=stem, unit="line", leave=False) as bar:
                row = colour_batch.measure_or_resume(
                    path, FLAGS.masks, FLAGS.output, placement, overwrite=FLAGS.overwrite,
                    progress=bar.update, srgb=FLAGS.rgb == "srgb", min_kept=FLAGS.min_kept,
                    max_lag_cm=FLAGS.max_lag_cm, step_cm=FLAGS.xcorr_step_cm)
            if row["status"] == "ok":
                tqdm.write(f"{stem}: {row['kept_lines']}/{row['lines']} lines kept, "
                           f"{row['seconds']:.1f} s")
        except Exception as error:  # any failure of one section is its row, never the batch's end
            full = outputs.disk_full(error)
            message = outputs.stopped(path, FLAGS.output) if full else outputs.item_error(path, error)
            row.update(status="failed", message=message)
            failed.append(message)
            if full:
                status.append(row)
                break
        status.append(row)
    colour_batch.write_status_csv(os.path.join(FLAGS.output, "colour_record_status.csv"), status,
                                  colour_batch.STATUS_COLUMNS)
    done = sum(r["status"] == "ok" for r in status)
    print(f"{done} measured, {len(status) - done - len(failed)} done earlier, {len(failed)} failed; "
          f"outputs in {os.path.abspath(FLAGS.output)}")
    if FLAGS.splice:
        try:
            lines, composite = colour_batch.build_composite(FLAGS.output, FLAGS.splice)
        except ValueError as error:
            sys.exit(f"error: {error}")
        bad = [r for r in composite if r["status"] == "failed"]
        print(f"composite: {lines} lines from {len(composite) - len(bad)} intervals")
        failed += [f"{FLAGS.splice}: section {r['section']}: {r['message']}" for r in bad]
    for reason in failed:
        print(f"  FAILED {reason}")
    if failed:
        sys.exit(1)


def cli() -> None:
    """`coretf-colour-record` (console script) and `python -m coretf.analysis.colour_record`."""
    coretf_flags.run_command(main, define_flags)


if __name__ == "__main__":
    cli()
