"""Whole-image inference from an exported SavedModel: `python -m coretf.predict`.

  python -m coretf.predict --model=runs/demo/export --input=<image or folder> --output=<folder>
      [--sections=<folder with sections.csv>] [--px_per_cm=40] [--depth_axis=auto|x|y]
      [--resolution_factor=0.5] [--truth=<folder of <name>_mask.png> | alpha]

Segments every image of --input with the model, tiled and streamed at the model's training scale
(times --resolution_factor; Hutton 2025 §5.1.1), by `coretf.inference`, and writes per image
`<name>` its mask (`<name>_mask.png`: 255 = the confidence class, undisturbed sediment for
cores), confidence map (`<name>_confidence.tif`), uncertainty map and its picture
(`<name>_uncertainty.tif/.png`), overlay preview (`<name>_overlay.png`) and run record
(`<name>.json`, with Image-IoU when --truth is given); the formats are listed in
`coretf.inference`. With --tta each tile is averaged over the views that keep the physics. A
rerun skips images whose JSON exists (--overwrite redoes them).
"""

from __future__ import annotations

import os
import sys

from absl import app, flags, logging
from tqdm.auto import tqdm

from coretf import flags as coretf_flags
from coretf import inference
from coretf import io as coretf_io
from coretf import labels as labels_lib
from coretf import outputs, tiling


def define_flags() -> None:
    flags.DEFINE_string("model", None, "Exported SavedModel directory (a model directory's export/).",
                        required=True)
    flags.DEFINE_string("input", None, "An image, or a folder of images.", required=True)
    flags.DEFINE_string("output", None, "Output folder.", required=True)
    flags.DEFINE_string("sections", None, "Folder holding sections.csv (px_per_cm, depth_axis per "
                        "section; the sediment_cores manual layout); overrides the two flags below.")
    flags.DEFINE_float("px_per_cm", None, "Scale of the images (default: the model's training scale).")
    flags.DEFINE_float("um_per_voxel", None, "CT slices: their voxel size, um; resampled to an ice_ct "
                       "model's training voxel size (without it: none).")
    flags.DEFINE_enum("depth_axis", "auto", ["auto", "x", "y"], "Image axis along which depth runs.")
    flags.DEFINE_float("resolution_factor", 1.0, "Infer at the training scale times this (< 1: faster).")
    flags.DEFINE_integer("tile", 0, "Tile side in px (0: 512, or the model's training tile if larger).")
    flags.DEFINE_integer("overlap", -1, "Least tile overlap in px (-1: 64, or a quarter of a smaller tile).")
    flags.DEFINE_enum("blend", "linear", list(tiling.WINDOWS), "How overlapping tiles are blended: linear "
                      "(a ramp over the overlap) or gaussian (nnU-Net's window, sigma = tile / 8).")
    flags.DEFINE_integer("batch_size", 4, "Tiles per model call.")
    flags.DEFINE_string("truth", None, "Folder of true masks <name>_mask.png (or .tif), or 'alpha' (the "
                        "input's alpha channel); adds Image-IoU to the JSON.")
    flags.DEFINE_string("label_map", None, "How the --truth masks encode the classes, e.g. "
                        "'0=solid,255=pore,128=ignore' or '#ff0000=pore,*=ignore' (default: the truth "
                        "folder's labels.csv, else non-zero = the export's confidence class). Ignored "
                        "pixels count in no figure.")
    flags.DEFINE_integer("preview_size", 4000, "Longest side of the overlay preview, px.")
    flags.DEFINE_boolean("colour_record", False, "Also write the colour record (<name>_colour.csv/.png, "
                         "<name>_xcorr.csv/.png) over the predicted undisturbed pixels; for "
                         "photographs cropped to the core (coretf.preprocess.core_crop).")
    flags.DEFINE_boolean("tta", False, "Test-time augmentation: average every tile over the views that keep "
                         "the physics (cores: flipped across the core, never along depth; CT slices: the eight "
                         "rotations and mirror images); 2x or 8x the inference time.")
    flags.DEFINE_boolean("overwrite", False, "Redo images whose outputs exist.")
    flags.DEFINE_boolean("convert_grayscale", False, "Give grayscale images to an RGB model (grey "
                         "repeated in R, G and B); without it they are refused.")


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    if FLAGS.resolution_factor <= 0:
        raise app.UsageError(f"--resolution_factor={FLAGS.resolution_factor}: must be > 0")
    try:
        inputs = coretf_io.list_images(FLAGS.input)
        table = {}
        if FLAGS.sections:
            from coretf_datasets.sediment_cores.manual_sections import read_table

            table = read_table(FLAGS.sections)
        predictor = inference.Predictor(FLAGS.model)
        label_map = labels_lib.LabelMap.parse(FLAGS.label_map) if FLAGS.label_map else None
        outputs.prepare(FLAGS.output, FLAGS.input, first_image=inputs[0])
    except ValueError as error:  # nothing could start: one line, exit 2 (run_command)
        raise app.UsageError(str(error)) from None
    options = dict(um_per_voxel=FLAGS.um_per_voxel, resolution_factor=FLAGS.resolution_factor, tile=FLAGS.tile,
                   overlap=FLAGS.overlap, blend=FLAGS.blend, batch_size=FLAGS.batch_size, truth=FLAGS.truth,
                   label_map=label_map, preview_size=FLAGS.preview_size, colour_record=FLAGS.colour_record,
                   convert_grayscale=FLAGS.convert_grayscale, tta=FLAGS.tta)
    failed, skipped, done = [], [], []
    for path in tqdm(inputs, desc="images", unit="image", disable=len(inputs) < 2):
        try:
            record = inference.predict_path(predictor, path, FLAGS.output, table if FLAGS.sections else None,
                                            overwrite=FLAGS.overwrite, px_per_cm=FLAGS.px_per_cm,
                                            depth_axis=FLAGS.depth_axis, **options)
        except Exception as error:  # any failure of one image is reported, never the batch's end
            if outputs.disk_full(error):  # this item's temporary files are gone; stop here
                failed.append(outputs.stopped(path, FLAGS.output))
                break
            failed.append(outputs.item_error(path, error))
            continue
        if record is None:
            skipped.append(path)
            continue
        done.append(path)
        name = predictor.class_name
        line = f"{path}: {record[f'{name}_fraction']:.1%} {name}, {record['seconds']['total']:.1f} s"
        if record.get("truth", {}).get("image_iou") is not None:
            line += f", Image-IoU {record['truth']['image_iou']:.3f}"
        tqdm.write(line)
    print(f"{len(done)} segmented, {len(skipped)} already done, {len(failed)} failed; "
          f"outputs in {os.path.abspath(FLAGS.output)}")
    for reason in failed:  # each names its file
        print(f"  FAILED {reason}")
    if failed:
        sys.exit(1)

def cli() -> None:
    """`coretf-predict` (console script) and `python -m coretf.predict`."""
    coretf_flags.run_command(main, define_flags)


if __name__ == "__main__":
    cli()
