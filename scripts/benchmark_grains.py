"""Grain detection on green-plate photo sets drawn unlike the builder's, and on real grain photos;
prints JSON.

    python scripts/benchmark_grains.py [--sets=30] [--height=1024 --width=1280] [--seed=0]
        [--real=../shared/realdata/segmenteverygrain/images_masks]

Synthetic: `coretf.synthetic.grain_scenes.make_varied_photo_set` (uneven light, colour casts,
varied sizes and counts, fragments, overlapping particles, frame-edge cuts; a true box per
visible particle). Each set is extracted with the settings compared below and scored at box IoU
0.5 (`grain_photos.detection_tally`): precision, recall, the recall on overlapping particles, on
the others and on those cut by the frame, and seconds per set (extraction only, all six layers).

Settings: `default` (the command's defaults: plate model, split touching and overlapping
particles), `default_no_split` (the plate model alone), `paper` (`PAPER_SETTINGS`: one
saturation threshold over superpixels, touching particles one, the builder's extraction) and
`paper_split` (the paper's threshold with the old `--split_touching`).

Real (reported, not a goal; when --real is a folder): the segmenteverygrain photos with their
3-class masks (grain instances = the connected components of class 1, grown into the edge
class: `grain_photos.boxes_from_label_mask`), extracted as single layers with `plate="dark"`
(the defaults otherwise, and the paper's settings with the old split for comparison).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchmark_common  # noqa: E402

from coretf import io as coretf_io  # noqa: E402
from coretf.preprocess import grain_extraction as extraction  # noqa: E402
from coretf.preprocess import grain_photos  # noqa: E402
from coretf.synthetic import grain_scenes  # noqa: E402

flags.DEFINE_integer("sets", 30, "Synthetic photo sets (0: the real photos only).")
flags.DEFINE_integer("height", 1024, "Photo height, px.")
flags.DEFINE_integer("width", 1280, "Photo width, px.")
flags.DEFINE_integer("seed", 0, "Seed of the synthetic photo sets.")
flags.DEFINE_string("real", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "realdata",
                                         "segmenteverygrain", "images_masks"),
                    "Folder of real <name>_image.png + <name>_mask.png (skipped when absent).")
FLAGS = flags.FLAGS

SETTINGS = {
    "default": extraction.ExtractionSettings(),
    "default_no_split": extraction.ExtractionSettings(split_touching=False),
    "paper": extraction.PAPER_SETTINGS,
    "paper_split": dataclasses.replace(extraction.PAPER_SETTINGS, split_touching=True),
}
REAL_SETTINGS = {"default_dark": extraction.ExtractionSettings(plate="dark"),
                 "paper_split_dark": dataclasses.replace(extraction.PAPER_SETTINGS, plate="dark", split_touching=True)}


def synthetic(sets: int, height: int, width: int, seed: int) -> dict:
    """Pooled scores per setting over `sets` varied photo sets."""
    tallies = {name: [] for name in SETTINGS}
    seconds = {name: 0.0 for name in SETTINGS}
    for index in range(sets):
        made = grain_scenes.make_varied_photo_set(index, seed=seed, height=height, width=width)
        groups = {"overlapping": made.overlapping, "single": ~made.overlapping, "cut": made.cut}
        for name, settings in SETTINGS.items():
            start = time.perf_counter()
            particles = extraction.extract_particles(made.layers, settings, made.position_id)
            seconds[name] += time.perf_counter() - start
            tallies[name].append(grain_photos.detection_tally([p.box for p in particles], made.boxes, groups))
        benchmark_common.log("grains", f"set {index + 1}/{sets}: {len(made.boxes)} particles")
    return {name: {**grain_photos.pooled_scores(tallies[name]), "seconds_per_set": round(seconds[name] / sets, 3)}
            for name in SETTINGS}


def real(folder: str) -> dict:
    """Scores per real photo and pooled, per setting."""
    names = sorted(f[:-len("_image.png")] for f in os.listdir(folder) if f.endswith("_image.png"))
    result = {}
    for setting, settings in REAL_SETTINGS.items():
        tallies, per_photo = [], {}
        for name in names:
            image = coretf_io.to_uint8(coretf_io.read_image(os.path.join(folder, f"{name}_image.png")))
            image = image[..., :3] if image.ndim == 3 else image[..., None].repeat(3, -1)
            true = grain_photos.boxes_from_label_mask(coretf_io.read_image(os.path.join(folder, f"{name}_mask.png")))
            start = time.perf_counter()
            try:
                boxes = [p.box for p in extraction.extract_particles(image[None], settings, name)]
            except coretf_io.ImageError as error:  # reported as a miss of every grain
                benchmark_common.log("grains", str(error))
                boxes = []
            tally = grain_photos.detection_tally(boxes, true)
            tallies.append(tally)
            per_photo[name] = {**grain_photos.pooled_scores([tally]), "seconds": round(time.perf_counter() - start, 2)}
        result[setting] = {"pooled": grain_photos.pooled_scores(tallies), "photos": per_photo}
    return result


def main(argv) -> None:
    del argv
    report = {"benchmark": "grains", "iou": 0.5}
    if FLAGS.sets > 0:  # (--sets=0: the real photos only)
        report["synthetic"] = {"generator": "coretf.synthetic.grain_scenes.make_varied_photo_set", "sets": FLAGS.sets,
                               "height": FLAGS.height, "width": FLAGS.width, "seed": FLAGS.seed,
                               "scores": synthetic(FLAGS.sets, FLAGS.height, FLAGS.width, FLAGS.seed)}
    if os.path.isdir(FLAGS.real):
        report["real"] = {"folder": os.path.abspath(FLAGS.real), "scores": real(FLAGS.real)}
    report["machine"] = benchmark_common.machine()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    app.run(main)
