"""What test-time augmentation and an ensemble add: IoU and expected calibration error of one
member, the member with --tta, the ensemble, and the ensemble with --tta, on whole held-out
synthetic sections.

  python scripts/benchmark_uncertainty.py --model_dir=runs/demo_ensemble [--sections=3]

`--model_dir` is a sediment_cores run with `--seeds` (its `export/` holds the ensemble, each
`seed_<s>/export/` one member; e.g. `trainers/demo.flags --seeds=0,1,2`). The sections are the
synthetic builder's test split, regenerated with their exact masks (as `coretf.demo` does), and
predicted whole through the exports with coretf's tiling (512 px tiles, 64 px overlap, linear
blend) and `coretf.tta`. IoU is that of the export's iou_class over all pixels of the sections;
the ECE is over the same pixels (`coretf.calibration`, 15 bins). JSON on stdout (and --output).
"""

from __future__ import annotations

import json
import os

import numpy as np
from absl import app, flags

from coretf import calibration, demo, inference, tiling, tta
from coretf.synthetic import cores as synthetic_cores

FLAGS = flags.FLAGS


def define_flags() -> None:
    # --model_dir is coretf.demo's flag (its held-out sections are the demo's): a run with --seeds.
    flags.DEFINE_integer("sections", 3, "Held-out sections to predict.")
    flags.DEFINE_string("output", None, "Also write the JSON document here.")


def _figures(predictor: inference.Predictor, sections, augment: bool) -> dict:
    model = tta.augmented(predictor, tta.ACROSS_CORE) if augment else predictor
    iou_class = int(predictor.metadata["iou_class"])
    reliability, intersection, union = calibration.Reliability(), 0, 0
    for section in sections:
        probabilities = tiling.predict_tiled(model, section.image.astype(np.float32) / 255.0, tile=512,
                                             overlap=64, batch_size=4)
        reliability.update(probabilities, section.mask)
        predicted, truth = probabilities.argmax(-1) == iou_class, section.mask == iou_class
        intersection += int((predicted & truth).sum())
        union += int((predicted | truth).sum())
    return {"iou": intersection / max(union, 1), "ece": reliability.ece(), "pixels": reliability.pixels}


def main(argv) -> None:
    del argv
    with open(os.path.join(FLAGS.model_dir, "metrics.json")) as f:
        metrics = json.load(f)
    member = inference.Predictor(os.path.join(FLAGS.model_dir, metrics["member_dirs"][0], "export"))
    ensemble = inference.Predictor(os.path.join(FLAGS.model_dir, "export"))
    test_ids, config = demo.held_out_sections(ensemble.metadata["dataset"])
    sections = [synthetic_cores.make_section(int(i[1:]), seed=config.seed, length_cm=config.length_cm,
                                             px_per_cm=config.px_per_cm) for i in test_ids[:FLAGS.sections]]
    results = {"single": _figures(member, sections, False), "single_tta": _figures(member, sections, True),
               "ensemble": _figures(ensemble, sections, False), "ensemble_tta": _figures(ensemble, sections, True)}
    document = {"model_dir": os.path.abspath(FLAGS.model_dir), "members": metrics["members"],
                "sections": [s.section_id for s in sections], "results": results}
    text = json.dumps(document, indent=1)
    print(text)
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    define_flags()
    app.run(main)
