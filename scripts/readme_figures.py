"""Redraws the README's pictures of the batch tools from synthetic data (no model needed).

    python scripts/readme_figures.py [--output=docs]

- `core_crop_review.jpg`: core_crop's review contact sheet (`review/flagged.png`) for four
  section photographs drawn unlike the builder's (`coretf.synthetic.section_photos`), run
  without a scale, so every crop is "unchecked" and shown for review.
- `grains_overlay.jpg`, `grain_sizes.png`: the grains command's detections overlay of one varied
  green-plate photo set (`coretf.synthetic.grain_scenes`) and the size distribution of four such
  sets at 3.5 um/px.
- `pore_structure.png` (with --realdata): the rock job's pore-structure plot (PoreSpy chords and
  two-point correlation, `coretf.analysis.pore_structure`) for the median + Otsu baseline on a
  CT slice rendered from the real Bentheimer geometry (`scripts/rock_scans.py`, as
  `scripts/rock_transfer.py` renders it) against the real pore mask.

Each picture is what the tool writes, downscaled to at most 1,000 px wide; prints JSON naming the
files and the figures they show.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import tempfile

import cv2
import numpy as np
from absl import app, flags

from coretf import io as coretf_io
from coretf.preprocess import background
from coretf.preprocess import core_crop_batch
from coretf.preprocess import grain_extraction, grains_batch
from coretf.synthetic import grain_scenes, rock_scan, section_photos

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

FLAGS = flags.FLAGS
flags.DEFINE_string("output", "docs", "Folder the pictures are written to.")
flags.DEFINE_string("realdata", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "realdata"),
                    "../shared/realdata (for pore_structure.png; skipped when absent).")
MAX_WIDTH = 1000


def _save(image: np.ndarray, path: str) -> None:
    if image.shape[1] > MAX_WIDTH:
        scale = MAX_WIDTH / image.shape[1]
        image = cv2.resize(image, (MAX_WIDTH, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    coretf_io.write_image(path, image)


def core_crop_review(work: str) -> dict:
    photos = os.path.join(work, "photos")
    rng = np.random.default_rng(7)
    for index, tray in enumerate(section_photos.TRAYS):
        conditions = section_photos.draw_conditions(rng, px_per_cm=(30.0, 60.0), max_pixels=2e6, tray=tray)
        photo = section_photos.make_photo(index, conditions, seed=7)
        coretf_io.write_image(os.path.join(photos, f"S{index:02d}_{tray}.png"), photo.image)
    out = os.path.join(work, "crops")
    rows = core_crop_batch.run_batch(coretf_io.list_images(photos), out, background.CropParams(depth_axis="auto"),
                                     core_crop_batch.SectionMeta(), workers=2, progress=False)
    _save(coretf_io.read_image(os.path.join(out, core_crop_batch.REVIEW_DIR, "flagged.png")),
          os.path.join(FLAGS.output, "core_crop_review.jpg"))
    return {"core_crop_review.jpg": {r["file"]: r["status"] for r in rows}}


def grains(work: str) -> dict:
    lab = os.path.join(work, "lab")
    for index in range(4):
        made = grain_scenes.make_varied_photo_set(index, seed=3)
        for layer, image in enumerate(made.layers):
            coretf_io.write_image(os.path.join(lab, "sample_A", made.position_id, f"layer{layer}.png"), image)
    out = os.path.join(work, "grains")
    settings = grain_extraction.ExtractionSettings(um_per_px=3.5)
    rows, errors = grains_batch.process_folder(lab, out, crop_size=64, settings=settings, progress=False)
    first = sorted(os.listdir(os.path.join(out, "overlays", "sample_A")))[0]
    _save(coretf_io.read_image(os.path.join(out, "overlays", "sample_A", first)),
          os.path.join(FLAGS.output, "grains_overlay.jpg"))
    _save(coretf_io.read_image(os.path.join(out, "grain_sizes.png")), os.path.join(FLAGS.output, "grain_sizes.png"))
    with open(os.path.join(out, "grain_sizes.json")) as f:
        minor = json.load(f)["groups"]["all"]["minor_axis"]
    return {"grains_overlay.jpg": first, "grain_sizes.png": {
        "particles": len(rows), "errors": errors,
        **{k: round(minor[k]["value"], 4) for k in ("D10", "D50", "D90")}}}


def pore_structure_plot() -> dict:
    import rock_scans  # noqa: PLC0415 (scripts/, beside this one)

    from coretf.analysis import pore_structure  # noqa: PLC0415 (PoreSpy is slow to import)

    scan = rock_scans.SCANS["Bentheimer"]
    volume = rock_scans.read_fixture(pathlib.Path(FLAGS.realdata) / rock_scans.PORESPY / scan.volume)
    z = scan.slices[len(scan.slices) // 2]
    image, truth = rock_scan.scan_pores(volume[z], scan.scanner, seed=z)
    comparison = pore_structure.compare(rock_scans.otsu(image, median=True), truth == 1)
    pore_structure.save_plot(os.path.join(FLAGS.output, "pore_structure.png"),
                             {f"Bentheimer slice {z} (real geometry, rendered CT)": comparison},
                             predicted_label="median + Otsu")
    return {"pore_structure.png": pore_structure.summary(comparison)}


def main(argv) -> None:
    del argv
    with tempfile.TemporaryDirectory() as work:
        figures = {**core_crop_review(work), **grains(work)}
    if os.path.isdir(FLAGS.realdata):
        figures.update(pore_structure_plot())
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    app.run(main)
