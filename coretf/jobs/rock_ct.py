"""The porous-rock micro-CT job (Lavrukhin et al.): pore U-Net trained on some stacks, evaluated on all.

`run` is what `python -m coretf.train --job=rock_ct` calls. It trains the paper's U-Net (32 base
filters, ELU, transposed-conv decoder, 2-class softmax, no batch norm) on 64 px patches of the
training stacks' leading slices (an equal-size share of each), with the loss CE - alpha * log
smoothed IoU (`coretf.losses.CrossEntropyLogIoU`), Adam decaying multiplicatively from
--learning_rate to --rock_final_learning_rate over the epochs and only a fraction of the
minibatches per epoch. The last epoch's weights are kept (the paper has no validation split).
It then predicts every slice of every stack from minimally overlapping patches
(`coretf.tiling.predict_tiled`), sweeps the threshold, writes `metrics.json`,
`threshold_metrics.png`, `test_predictions.png` and exports the SavedModel.
"""

from __future__ import annotations

import os
import time

import keras
import numpy as np
from absl import logging
from tqdm.auto import tqdm

from coretf import export as export_lib
from coretf import metrics as metrics_lib
from coretf import plots
from coretf.analysis import rock_eval
from coretf.data import builders, rock_ct as rocks
from coretf.flags import TrainConfig
from coretf.io import write_json
from coretf.losses import CrossEntropyLogIoU
from coretf.models import build_unet
from coretf.tiling import predict_tiled
from coretf.train import fit_verbosity, get_strategy, standard_callbacks

CLASS_NAMES = ("solid", "pore")
PORE = 1  # the class whose IoU, precision and recall are reported, and the confidence map's


def build_model(config: TrainConfig) -> tuple[keras.Model, int]:
    """The paper's U-Net on one-channel [0, 1] input, shifted to [-0.5, 0.5] inside the model.

    Returns:
        (model from (B, H, W, 1) float32 to (B, H, W, 2) logits, padding multiple 2**depth).
    """
    if config.model != "unet":
        raise ValueError(f"--job=rock_ct trains the paper's U-Net: pass --model=unet, not {config.model}")
    filters = config.filters[0] if len(config.filters) == 1 else list(config.filters)
    unet = build_unet((None, None, 1), 2, depth=config.depth, filters=filters,
                      kernel_size=config.kernel_size, activation=config.activation,
                      batchnorm=False, upsampling=config.upsampling)
    inputs = keras.Input((None, None, 1), name="ct")
    shifted = keras.layers.Rescaling(1.0, offset=-0.5, name="to_centred")(inputs)
    return keras.Model(inputs, unet(shifted), name="rock_unet"), 2**config.depth


def learning_rate_schedule(initial: float, final: float, epochs: int, steps_per_epoch: int):
    """Multiplicative per-epoch decay reaching exactly `final` in the last epoch."""
    rate = (final / initial) ** (1.0 / max(epochs - 1, 1))
    return keras.optimizers.schedules.ExponentialDecay(initial, steps_per_epoch, rate, staircase=True)


def softmax_predictor(model: keras.Model):
    """A `predict_tiled` callable: (B, h, w, 1) batch -> (B, h, w, 2) probabilities."""
    def predict(batch):
        logits = np.asarray(model.predict_on_batch(batch), np.float32)
        exp = np.exp(logits - logits.max(-1, keepdims=True))
        return exp / exp.sum(-1, keepdims=True)
    return predict


def _json_number(value: float) -> float | None:
    """JSON has no NaN: an undefined ratio (precision with nothing predicted pore) is null."""
    return float(value) if np.isfinite(value) else None


def evaluate_stacks(model: keras.Model, stacks: dict[str, rocks.Stack], train_slices: dict[str, int], *,
                    tile: int, overlap: int, threshold: float, progress: bool = True):
    """Whole-slice probabilities of every stack, thresholded at many values.

    Returns:
        (per_stack, sweeps, examples): per_stack {stack: {"rock_type", "in_sample", "slices",
        the six metrics at `threshold`, "iou_plateau": [lo, hi]}}, sweeps {stack: sweep lists},
        examples {"images", "masks", "predicted", "confidence"}: the middle slice of each stack.
    """
    predict = softmax_predictor(model)
    per_stack, sweeps = {}, {}
    examples = {k: [] for k in ("images", "masks", "predicted", "confidence")}
    for stack_id in tqdm(sorted(stacks), desc="evaluating stacks", disable=not progress):
        stack = stacks[stack_id]
        counts = rock_eval.ThresholdCounts()
        middle = stack.image.shape[0] // 2
        for index in range(stack.image.shape[0]):
            image = stack.image[index].astype(np.float32) / 255.0
            pore = predict_tiled(predict, image[..., None], tile=tile, overlap=overlap,
                                 batch_size=32)[..., PORE]
            counts.update(pore, stack.pores[index])
            if index == middle:
                examples["images"].append(np.repeat(image[..., None], 3, -1))
                examples["masks"].append(stack.pores[index])
                examples["predicted"].append((pore >= threshold).astype(np.uint8))
                examples["confidence"].append(pore)
        sweep = counts.sweep()
        sweeps[stack_id] = {k: [_json_number(x) for x in v] for k, v in sweep.items()}
        per_stack[stack_id] = {"rock_type": stack.rock_type, "in_sample": stack_id in train_slices,
                               "slices": int(stack.image.shape[0]),
                               **{k: _json_number(v) for k, v in counts.at(threshold).items()},
                               "iou_plateau": list(rock_eval.plateau(sweep, "iou"))}
    return per_stack, sweeps, examples


def run(config: TrainConfig, model_dir: str, policy: str) -> dict:
    """Trains on the training stacks, evaluates on every stack, exports; returns metrics."""
    builder = builders.get_builder("rock_ct", config.dataset, config.data_dir, config.manual_dir)
    stacks = rocks.load_stacks(builder)
    train_ids = config.rock_train_stacks or rocks.default_training_stacks(stacks)
    slices = rocks.training_slices(stacks, train_ids, config.rock_train_slices)
    images, labels = rocks.training_patches(stacks, slices, config.rock_patch_size)
    # An "epoch" is a pass over all training patches; the paper trains on 1/5 of its minibatches.
    steps = config.steps_per_epoch or max(
        1, round(config.rock_batch_fraction * len(images) / config.batch_size))
    dataset = rocks.make_training_dataset(images, labels, batch_size=config.batch_size, seed=config.seed)

    strategy = get_strategy(config.strategy)
    with strategy.scope():
        model, multiple = build_model(config)
        schedule = learning_rate_schedule(config.learning_rate, config.rock_final_learning_rate,
                                          config.epochs, steps)
        model.compile(optimizer=keras.optimizers.Adam(schedule),
                      loss=CrossEntropyLogIoU(config.rock_iou_alpha, config.rock_iou_form),
                      metrics=metrics_lib.segmentation_metrics(PORE))
    if config.rock_patch_size % multiple:
        raise ValueError(f"--rock_patch_size={config.rock_patch_size} is not a multiple of "
                         f"{multiple}, the U-Net's downsampling factor")
    callbacks, _ = standard_callbacks(model_dir, monitor="loss", mode="min")
    started = time.time()
    history = model.fit(dataset, epochs=config.epochs, steps_per_epoch=steps, callbacks=callbacks,
                        verbose=fit_verbosity())
    train_seconds = time.time() - started
    started = time.time()
    per_stack, sweeps, examples = evaluate_stacks(
        model, stacks, slices, tile=config.rock_patch_size, overlap=config.rock_overlap,
        threshold=config.rock_threshold, progress=fit_verbosity() == 1)
    out_of_sample = [v for v in per_stack.values() if not v["in_sample"]] or list(per_stack.values())
    metrics = {
        "dataset": f"{builder.name}/{builder.builder_config.name}:{builder.version}",
        "train_stacks": list(train_ids),
        "train_slices": slices,
        "train_patches": int(len(images)),
        "epochs": config.epochs,
        "steps_per_epoch": steps,
        "final_train_loss": float(history.history["loss"][-1]) if history.history.get("loss") else None,
        "loss": {"form": config.rock_iou_form, "alpha": config.rock_iou_alpha},
        "threshold": config.rock_threshold,
        "stacks": per_stack,
        "out_of_sample_mean": {m: _json_number(rock_eval.mean_of([v[m] for v in out_of_sample]))
                               for m in rock_eval.METRICS},
        "sweeps": sweeps,
        "train_seconds": round(train_seconds, 1),
        "evaluate_seconds": round(time.time() - started, 1),
        "dtype_policy": policy,
    }
    write_json(os.path.join(model_dir, "metrics.json"), metrics)
    rock_eval.save_threshold_plot(
        os.path.join(model_dir, "threshold_metrics.png"),
        {k: {m: np.asarray(v, dtype=float) for m, v in s.items()} for k, s in sweeps.items()},
        title=f"trained on {', '.join(train_ids)}")
    plots.save_prediction_grid(
        os.path.join(model_dir, "test_predictions.png"), examples["images"], examples["masks"],
        examples["predicted"], examples["confidence"],
        titles=[f"{k} IoU {per_stack[k]['iou']:.2f}" for k in sorted(per_stack)])
    export_lib.export_saved_model(model, os.path.join(model_dir, "export"), {
        "job": config.job,
        "dataset": metrics["dataset"],
        "model": "unet",
        "input": "float32 grayscale CT slice in [0, 1] (8-bit value / 255); shifted to [-0.5, 0.5] inside",
        "tile_size": config.rock_patch_size,
        "input_multiple": multiple,
        "class_names": list(CLASS_NAMES),
        "iou_class": PORE,
        "confidence_class": PORE,
        "confidence_meaning": "probability of pore",
        "threshold": config.rock_threshold,
        "train_stacks": list(train_ids),
    }, fold=False, dtype_policy=config.export_policy)  # no batch norm to fold
    logging.info("out-of-sample means: %s", metrics["out_of_sample_mean"])
    return metrics


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def summary_lines(metrics: dict) -> list[str]:
    """What the console shows after training."""
    mean = metrics["out_of_sample_mean"]
    lines = [f"trained on {', '.join(metrics['train_stacks'])} ({metrics['train_patches']} patches, "
             f"{metrics['epochs']} epochs x {metrics['steps_per_epoch']} steps) in "
             f"{metrics['train_seconds']:.0f} s",
             f"out-of-sample mean at threshold {metrics['threshold']}: IoU {_fmt(mean['iou'])}, "
             f"logloss {_fmt(mean['logloss'])}, accuracy {_fmt(mean['accuracy'])}, "
             f"PR-AUC {_fmt(mean['pr_auc'])}"]
    for stack_id, figures in sorted(metrics["stacks"].items()):
        lines.append(f"  {stack_id:14s} IoU {_fmt(figures['iou'])}  precision {_fmt(figures['precision'])}  "
                     f"recall {_fmt(figures['recall'])}{'  (in-sample)' if figures['in_sample'] else ''}")
    return lines
