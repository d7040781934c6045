"""The end of `make demo`: the exported SavedModel segments a whole held-out synthetic section.

Runs after `python -m coretf.train --flagfile=trainers/demo.flags`. It loads only the SavedModel
(no coretf model code), regenerates a test-split section of the synthetic builder (where the
exact mask is known), segments it in one pass and writes `section_prediction.png` with the
photograph, the predicted disturbance, the confidence map and the truth, and prints the
section's IoU of the disturbance class.
"""

from __future__ import annotations

import os

import numpy as np
from absl import flags, logging

from coretf import flags as coretf_flags
from coretf import plots, serving
from coretf.synthetic import cores as synthetic_cores

_MODEL_DIR = flags.DEFINE_string("model_dir", "runs/demo", "Model directory written by coretf.train.")
_SECTION = flags.DEFINE_string("section", None, "Synthetic section id (default: first test section).")


def held_out_sections(dataset: str) -> tuple[list[str], object]:
    """Test-split section ids of a synthetic sediment_cores config ("sediment_cores/<config>:<v>")."""
    from coretf_datasets import splits as splits_lib
    from coretf_datasets.sediment_cores import sediment_cores_dataset_builder as scb

    config_name = dataset.split("/")[1].split(":")[0]
    config = scb.Builder.builder_configs[config_name]
    if config.source != "synthetic":
        raise ValueError(f"{dataset}: the demo needs a synthetic config (it regenerates a section)")
    ids = [f"S{i:04d}" for i in range(config.num_sections)]
    splits = splits_lib.assign_splits(ids, seed=config.seed, test_fraction=config.test_fraction,
                                      validation_fraction=config.validation_fraction)
    return [i for i in ids if splits[i] == "test"], config


def main(argv):
    del argv
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    model_dir = _MODEL_DIR.value
    served = serving.load(os.path.join(model_dir, "export"))
    metadata = served.metadata
    test_ids, config = held_out_sections(metadata["dataset"])
    section_id = _SECTION.value or test_ids[0]
    section = synthetic_cores.make_section(int(section_id[1:]), seed=config.seed,
                                           length_cm=config.length_cm, px_per_cm=config.px_per_cm)
    image = section.image.astype(np.float32) / 255.0
    confidence = served(image[None])["confidence"][0]
    predicted = (confidence >= 0.5).astype(np.uint8)
    truth_c = section.mask == metadata["iou_class"]
    pred_c = predicted == metadata["iou_class"]
    iou = float((truth_c & pred_c).sum() / max(1, (truth_c | pred_c).sum()))
    path = os.path.join(model_dir, "section_prediction.png")
    plots.save_section_prediction(
        path, image, confidence, predicted, section.mask, px_per_cm=section.px_per_cm,
        title=f"held-out synthetic section {section_id} (test split): IoU of disturbance {iou:.3f}")
    print(f"\nwhole-section prediction of held-out {section_id}: IoU of disturbance {iou:.3f}")
    print(f"  picture: {os.path.abspath(path)}")
    print(f"  SavedModel hash: {served.hash[:16]}")


def cli() -> None:
    """`coretf-demo` (console script) and `python -m coretf.demo`."""
    coretf_flags.run_command(main, None)


if __name__ == "__main__":
    cli()
