"""Seams of tiled inference in rock_ct probability maps: no overlap against blended overlaps.

Trains a small rock_ct U-Net (the fast experiment's: 16 base filters, depth 4, ELU, transposed
convolutions, the per-patch IoU loss) for --steps steps on 64 px patches of synthetic carbonate,
soil and sandstone stacks, then predicts slices of three other stacks (--size px a side) with the
job's own `pore_probability` under every --overlaps x --blends setting, and a whole slice in one
pass as the untiled reference. Prints one JSON object: per setting

- `seam_strength`: `coretf.tiling.seam_strength` of the P(pore) maps, the mean |jump| between
  neighbouring pixels across the tile borders over the mean |jump| elsewhere (1 = no seam), and
  `worst_border_over_worst_elsewhere` (its np.max form), with `untiled_seam_strength`, the
  untiled map's at the same borders, as the yardstick (the content's own jumps there);
- `iou`, `logloss`: pore IoU at 0.5 and log loss against the exact labels;
- `difference_from_untiled`: mean |P(pore) - the untiled pass's P(pore)|, how far tiling moves
  the map from what the network says with the whole slice as context;
- `tiles_per_slice`, `seconds_per_slice` (median over --repeats rounds, the settings taking turns
  within a round) and `time_vs_no_overlap`.

    python scripts/benchmark_tile_seams.py [--steps=150] [--size=384] [--overlaps=0,8,16,32]
    python scripts/benchmark_tile_seams.py --tile=512 --size=1536 --slices=1 --overlaps=0,64
        (coretf.predict's default tile and overlap)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchmark_common  # noqa: E402

import keras  # noqa: E402

from coretf import tiling  # noqa: E402
from coretf.analysis import rock_eval  # noqa: E402
from coretf.data import rock_ct as rock_data  # noqa: E402
from coretf.jobs import rock_ct  # noqa: E402
from coretf.losses import CrossEntropyLogIoU  # noqa: E402
from coretf.synthetic import rocks  # noqa: E402

FLAGS = flags.FLAGS
TRAIN_STACKS = ("carbonate_1", "soil_1", "sandstone_1")
TEST_STACKS = ("carbonate_2", "soil_2", "sandstone_2")


def define_flags() -> None:
    flags.DEFINE_integer("steps", 150, "Training steps of the U-Net (batch 16).")
    flags.DEFINE_integer("size", 384, "Side of the predicted slices, px, a multiple of 16 (the untiled "
                         "pass); 384 = 6 patches, so tiles at no overlap meet exactly.")
    flags.DEFINE_integer("slices", 2, "Predicted slices per test stack.")
    flags.DEFINE_integer("patch", 64, "Training patch side, px.")
    flags.DEFINE_integer("tile", 0, "Inference tile side, px (0: the patch, as the rock_ct job; "
                         "predict's default is 512).")
    flags.DEFINE_list("overlaps", ["0", "8", "16", "32"], "Least overlaps tried, px.")
    flags.DEFINE_list("blends", list(tiling.WINDOWS), "Blending windows tried.")
    flags.DEFINE_integer("repeats", 3, "Timing rounds.")
    flags.DEFINE_integer("seed", 0, "Seed of the stacks and the weights.")


def train_model(config: rock_ct.RockConfig, steps: int, seed: int) -> keras.Model:
    """The rock_ct U-Net after `steps` steps on 64 px patches of 4 slices of each TRAIN_STACKS."""
    keras.utils.set_random_seed(seed)
    model, _ = rock_ct.build_network(config)
    parts = [rocks.make_stack(s, slices=4, size=128, seed=seed) for s in TRAIN_STACKS]
    parts = [rock_data.cut_patches(s.image, s.pores, config.rock_patch_size) for s in parts]
    images, labels = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    model.compile(keras.optimizers.Adam(1e-3), CrossEntropyLogIoU(1.0, "patch"))
    dataset = rock_data.make_training_dataset(images, labels, batch_size=16, seed=seed)
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
    return model


def judge(maps: np.ndarray, pores: np.ndarray, untiled: np.ndarray, tile: int, overlap: int) -> dict:
    """Seam strength (mean and worst form), IoU, log loss and difference from `untiled` of (N, H, W)
    P(pore) maps."""
    counts = rock_eval.ThresholdCounts()
    for probability, truth in zip(maps, pores):
        counts.update(probability, truth)
    figures = counts.at(0.5)
    return {"seam_strength": tiling.seam_strength(maps, tile=tile, overlap=overlap),
            "worst_border_over_worst_elsewhere": tiling.seam_strength(maps, tile=tile, overlap=overlap,
                                                                     statistic=np.max),
            "iou": figures["iou"], "logloss": figures["logloss"],
            "difference_from_untiled": float(np.abs(maps - untiled).mean())}


def main(argv):
    del argv
    config = rock_ct.RockConfig(filters=(16,), depth=4, activation="elu", rock_patch_size=FLAGS.patch,
                                mixed_precision="float32")
    started = time.perf_counter()
    model = train_model(config, FLAGS.steps, FLAGS.seed)
    train_seconds = time.perf_counter() - started
    benchmark_common.log("seams", f"trained {FLAGS.steps} steps in {train_seconds:.0f} s")
    stacks = [rocks.make_stack(s, slices=FLAGS.slices, size=FLAGS.size, seed=FLAGS.seed + 1)
              for s in TEST_STACKS]
    images = np.concatenate([s.image for s in stacks]).astype(np.float32) / 255.0
    pores = np.concatenate([s.pores for s in stacks])
    predict = rock_ct.softmax_predictor(model)
    tile = FLAGS.tile or FLAGS.patch
    settings = [(int(o), b) for o in FLAGS.overlaps for b in FLAGS.blends]
    maps, seconds = {}, {s: [] for s in settings}
    for round_ in range(FLAGS.repeats):
        for overlap, blend in settings:
            began = time.perf_counter()
            maps[overlap, blend] = np.stack([rock_ct.pore_probability(
                predict, image, tile=tile, overlap=overlap, blend=blend) for image in images])
            seconds[overlap, blend].append((time.perf_counter() - began) / len(images))
        benchmark_common.log("seams", f"round {round_ + 1}/{FLAGS.repeats}")
    baseline = statistics.median(seconds[settings[0]])
    untiled = np.stack([predict(image[None, ..., None])[0, ..., rock_ct.PORE] for image in images])
    report = {"train_steps": FLAGS.steps, "train_seconds": train_seconds, "slices": len(images),
              "slice_px": FLAGS.size, "tile": tile, "untiled": judge(untiled, pores, untiled, tile, 0),
              "settings": []}
    for overlap, blend in settings:
        median = statistics.median(seconds[overlap, blend])
        report["settings"].append({
            "overlap": overlap, "blend": blend, **judge(maps[overlap, blend], pores, untiled, tile, overlap),
            # the untiled map's jumps at the same places: what the content alone gives
            "untiled_seam_strength": tiling.seam_strength(untiled, tile=tile, overlap=overlap),
            "tiles_per_slice": len(tiling.tile_starts(FLAGS.size, tile, overlap)) ** 2,
            "seconds_per_slice": median, "time_vs_no_overlap": median / baseline,
            "timings": benchmark_common.summary(seconds[overlap, blend])})
    report["machine"] = benchmark_common.machine(("tensorflow", "keras"))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    define_flags()
    app.run(main)
