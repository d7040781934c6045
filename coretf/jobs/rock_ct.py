"""The porous-rock micro-CT job (Lavrukhin et al.): pore U-Net trained on some stacks, evaluated on all.

`python -m coretf.train --job=rock_ct` trains the paper's U-Net (32 base filters, ELU,
transposed-conv decoder, 2-class softmax, no batch norm) on 64 px patches of the training stacks'
leading slices (an equal-size share of each), with the loss CE - alpha * log smoothed IoU
(`coretf.losses.CrossEntropyLogIoU`), Adam decaying multiplicatively from --learning_rate to
--rock_final_learning_rate over the epochs and only a fraction of the minibatches per epoch. The
last epoch's weights are kept (the paper has no validation split). It then predicts every slice
of every stack from patches overlapping by a quarter of their side, blended with a linear ramp
(`coretf.tiling.predict_tiled`; with no overlap the U-Net's border effects leave seams at the
patch borders; `scripts/benchmark_tile_seams.py` measures them), sweeps the threshold
(`coretf.analysis.rock_eval`), writes `threshold_metrics.png` and `test_predictions.png` and
exports the SavedModel. The 7-model cross-rock-type table is `scripts/rock_experiment.py`.
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from coretf import calibration
from coretf import callbacks as callbacks_lib
from coretf import io as coretf_io
from coretf import labels as labels_lib
from coretf import plots
from coretf.analysis import pore_structure, rock_eval
from coretf.config import option
from coretf.data import builders
from coretf.data import rock_ct as rock_data
from coretf.jobs import base
from coretf.losses import IOU_FORMS, CrossEntropyLogIoU
from coretf.models import build_unet
from coretf.tiling import WINDOWS, predict_tiled
from coretf_datasets.rock_ct.stack import CLASS_NAMES

PORE = 1  # the class whose IoU, precision and recall are reported, and the confidence map's


@dataclasses.dataclass(frozen=True)
class RockConfig(base.SegmentationConfig):
    """Settings of the rock_ct job."""

    architecture: str = option("unet", "Network architecture (rock_ct trains the paper's U-Net).")
    rock_train_stacks: tuple[str, ...] = option(
        (), "Training stacks (default: the first stack of each rock type).")
    rock_train_slices: int = option(0, "Training slices in all, shared equally by the training "
                                    "stacks (0 = the shortest stack's).", minimum=0)
    rock_iou_form: str = option("pixel", "IoU term of the loss per pixel (eq. 1 as written) or per patch.",
                                choices=IOU_FORMS)
    rock_iou_alpha: float = option(1.0, "Weight alpha of the IoU term.")
    rock_batch_fraction: float = option(0.2, "Fraction of the minibatches used per epoch (paper: 1/5).",
                                        above=0, maximum=1)
    rock_final_learning_rate: float = option(1e-5, "Learning rate of the last epoch (multiplicative decay).",
                                             above=0)
    rock_patch_size: int = option(64, "Training/inference patch side.", minimum=1)
    rock_threshold: float = option(0.5, "P(pore) threshold of the table.", above=0, below=1)
    rock_overlap: int = option(-1, "Minimum overlap of inference patches, px (-1: a quarter of the patch; "
                               "0: minimal overlap, which leaves seams at the patch borders).", minimum=-1)
    rock_blend: str = option("linear", "Blending window of overlapping inference patches "
                             "(coretf.tiling.blend_window).", choices=WINDOWS)
    rock_holdout: float = option(0.0, "Share of each training stack's last slices kept out of training "
                                 "and evaluated apart as <stack>_holdout (a lab with one scan; the ice "
                                 "paper holds out the lowest 20 %: 0.2).", minimum=0, below=1)

    def __post_init__(self):
        super().__post_init__()
        if self.architecture != "unet":
            raise ValueError(f"--job=rock_ct trains the paper's U-Net: pass --architecture=unet, not {self.architecture}")
        if self.rock_overlap >= self.rock_patch_size:
            raise ValueError(f"--rock_overlap={self.rock_overlap}: must be in [-1, rock_patch_size)")

    @property
    def inference_overlap(self) -> int:
        """`rock_overlap` in px, -1 resolved to a quarter of the patch."""
        return self.rock_patch_size // 4 if self.rock_overlap < 0 else self.rock_overlap


def build_network(config: RockConfig) -> tuple[keras.Model, int]:
    """The paper's U-Net on one-channel [0, 1] input, shifted to [-0.5, 0.5] inside the model.

    Returns:
        (model from (B, H, W, 1) float32 to (B, H, W, 2) logits, padding multiple 2**depth).
    """
    unet = build_unet((None, None, 1), 2, depth=config.depth, filters=config.filter_spec,
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


def pore_probability(predict, image: np.ndarray, *, tile: int, overlap: int, blend: str) -> np.ndarray:
    """(H, W) float32 P(pore) of one (H, W) float32 slice in [0, 1], tiled by `predict_tiled` with
    `predict` (`softmax_predictor`)."""
    return predict_tiled(predict, image[..., None], tile=tile, overlap=overlap, blend=blend,
                         batch_size=32)[..., PORE]


def _json_number(value: float) -> float | None:
    """JSON has no NaN: an undefined ratio (precision with nothing predicted pore) is null."""
    return float(value) if np.isfinite(value) else None


def evaluate_stacks(model: keras.Model, stacks: dict[str, rock_data.Stack], train_slices: dict[str, int], *,
                    tile: int, overlap: int, blend: str, threshold: float, progress: bool = True):
    """Whole-slice probabilities of every stack, thresholded at many values.

    Returns:
        (per_stack, sweeps, examples, structure, calibrations): per_stack {stack: {"rock_type",
        "in_sample", "slices", the six metrics at `threshold`, "iou_plateau": [lo, hi], "ece"}},
        sweeps {stack: sweep lists}, examples {"images", "masks", "predicted", "confidence"}: the
        middle slice of each stack, structure {stack: `pore_structure.compare` of the thresholded
        prediction and the truth}, calibrations {stack: `calibration.Reliability` of its pixels}.
    """
    predict = softmax_predictor(model)
    per_stack, sweeps, structure, calibrations = {}, {}, {}, {}
    examples = {k: [] for k in ("images", "masks", "predicted", "confidence")}
    for stack_id in tqdm(sorted(stacks), desc="evaluating stacks", disable=not progress):
        stack = stacks[stack_id]
        counts, reliability = rock_eval.ThresholdCounts(), calibration.Reliability()
        middle = stack.image.shape[0] // 2
        predicted = np.zeros(stack.pores.shape, bool)
        for index in range(stack.image.shape[0]):
            image = stack.image[index].astype(np.float32) / 255.0
            pore = pore_probability(predict, image, tile=tile, overlap=overlap, blend=blend)
            counts.update(pore, stack.pores[index])
            reliability.update(pore, stack.pores[index])
            predicted[index] = pore >= threshold
            if index == middle:
                examples["images"].append(np.repeat(image[..., None], 3, -1))
                examples["masks"].append(stack.pores[index])
                examples["predicted"].append((pore >= threshold).astype(np.uint8))
                examples["confidence"].append(pore)
        sweep = counts.sweep()
        sweeps[stack_id] = {k: [_json_number(x) for x in v] for k, v in sweep.items()}
        per_stack[stack_id] = {"rock_type": stack.rock_type, "in_sample": stack_id in train_slices,
                               "slices": int(stack.image.shape[0]), "pixels": counts.pixels,
                               "ignored_share": labels_lib.ignored_share(stack.pores),
                               **{k: _json_number(v) for k, v in counts.at(threshold).items()},
                               "iou_plateau": list(rock_eval.plateau(sweep, "iou")),
                               "ece": _json_number(reliability.ece())}
        calibrations[stack_id] = reliability
        valid = stack.pores != labels_lib.IGNORE
        if valid.any():
            structure[stack_id] = pore_structure.compare(predicted, stack.pores == 1, valid)
            per_stack[stack_id]["pore_structure"] = pore_structure.summary(structure[stack_id])
    return per_stack, sweeps, examples, structure, calibrations


class RockCtJob(base.SegmentationJob):
    """Pore segmentation of rock micro-CT stacks (see the module docstring)."""

    name = "rock_ct"
    config_class = RockConfig
    monitor, monitor_mode, keep = "loss", "min", "last"
    class_names = CLASS_NAMES
    iou_class = confidence_class = PORE
    metric_class = "pore"
    confidence_meaning = "probability of pore"

    def build_inputs(self, model_dir: str) -> base.Inputs:
        config = self.config
        builder = builders.get_builder(self.name, config.dataset, config.data_dir, config.manual_dir)
        stacks = rock_data.load_stacks(builder)
        self.train_ids = config.rock_train_stacks or rock_data.default_training_stacks(stacks)
        # Held-out slices of the training stacks (--rock_holdout, --folds) become stacks of their own.
        self.stacks = rock_data.split_out(stacks, self.train_ids, holdout=config.rock_holdout,
                                          folds=config.folds, fold=config.fold)
        self.slices = rock_data.training_slices(self.stacks, self.train_ids, config.rock_train_slices)
        images, labels = rock_data.training_patches(self.stacks, self.slices, config.rock_patch_size)
        self.train_patches = len(images)
        # An "epoch" is a pass over all training patches; the paper trains on 1/5 of its minibatches.
        steps = config.steps_per_epoch or max(
            1, round(config.rock_batch_fraction * len(images) / config.batch_size))
        dataset = rock_data.make_training_dataset(images, labels, batch_size=config.batch_size, seed=config.seed)
        # TensorBoard's validation run and pictures: patches of the middle slice of every stack not
        # trained on (of the training stacks when there is none); the kept model is still the last.
        held = [s for s in sorted(self.stacks) if s not in self.slices] or sorted(self.slices)
        middle = [slice(self.stacks[s].image.shape[0] // 2, self.stacks[s].image.shape[0] // 2 + 1) for s in held]
        parts = [rock_data.cut_patches(self.stacks[s].image[m], self.stacks[s].pores[m], config.rock_patch_size)
                 for s, m in zip(held, middle)]
        self.validation_patches = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        validation = tf.data.Dataset.from_tensor_slices(self.validation_patches).batch(config.batch_size)
        return base.Inputs(train=dataset, steps_per_epoch=steps, dataset=builders.dataset_name(builder),
                           validation=validation)

    def callbacks(self, model_dir: str) -> list:
        images, labels = self.validation_patches
        pick = np.linspace(0, len(images) - 1, min(self.config.image_summaries, len(images))).astype(int)
        if not len(pick):
            return []
        return [callbacks_lib.ImageSummaries(os.path.join(model_dir, "logs"), images[pick], labels[pick], PORE)]

    def build_model(self) -> keras.Model:
        model, self.input_multiple = build_network(self.config)
        self.check_sides(("--rock_patch_size", self.config.rock_patch_size))
        return model

    def build_optimizer(self, steps_per_epoch: int) -> keras.optimizers.Optimizer:
        config = self.config
        return keras.optimizers.Adam(learning_rate_schedule(
            config.learning_rate, config.rock_final_learning_rate, config.epochs, steps_per_epoch))

    def build_loss(self):
        return CrossEntropyLogIoU(self.config.rock_iou_alpha, self.config.rock_iou_form)

    def evaluate(self, model: keras.Model, model_dir: str) -> dict:
        config = self.config
        per_stack, sweeps, examples, structure, calibrations = evaluate_stacks(
            model, self.stacks, self.slices, tile=config.rock_patch_size, overlap=config.inference_overlap,
            blend=config.rock_blend, threshold=config.rock_threshold, progress=base.progress_bars())
        out_of_sample = [v for v in per_stack.values() if not v["in_sample"]] or list(per_stack.values())
        held_out = [k for k, v in per_stack.items() if not v["in_sample"]] or list(per_stack)
        reliability = calibration.Reliability()
        for stack_id in held_out:
            reliability.add(calibrations[stack_id])
        calibration.save_reliability_diagram(os.path.join(model_dir, "calibration.png"), reliability,
                                             title=f"pore probability, stacks {', '.join(sorted(held_out))}")
        rock_eval.save_threshold_plot(
            os.path.join(model_dir, "threshold_metrics.png"),
            {k: {m: np.asarray(v, dtype=float) for m, v in s.items()} for k, s in sweeps.items()},
            title=f"trained on {', '.join(self.train_ids)}")
        coretf_io.write_json(os.path.join(model_dir, "pore_structure.json"), structure)
        pore_structure.save_plot(os.path.join(model_dir, "pore_structure.png"), structure)
        plots.save_prediction_grid(
            os.path.join(model_dir, "test_predictions.png"), examples["images"], examples["masks"],
            examples["predicted"], examples["confidence"],
            titles=[f"{k} IoU {per_stack[k]['iou']:.2f}" for k in sorted(per_stack)], positive="pore",
            title=f"middle slice of every stack; trained on {', '.join(self.train_ids)}")
        return {
            "train_stacks": list(self.train_ids),
            "train_slices": self.slices,
            "train_patches": int(self.train_patches),
            "loss": {"form": config.rock_iou_form, "alpha": config.rock_iou_alpha},
            "threshold": config.rock_threshold,
            "stacks": per_stack,
            "out_of_sample_mean": {m: _json_number(rock_eval.mean_of([v[m] for v in out_of_sample]))
                                   for m in rock_eval.METRICS},
            "out_of_sample_ece": _json_number(reliability.ece()),
            "calibration": reliability.summary(),
            "sweeps": sweeps,
        }

    def exports(self, model: keras.Model, metrics: dict) -> list:
        return [self.segmentation_export(
            model, metrics, fold=False,  # no batch norm to fold
            architecture="unet", tile_size=self.config.rock_patch_size, threshold=self.config.rock_threshold,
            input="float32 grayscale CT slice in [0, 1] (8-bit value / 255); shifted to [-0.5, 0.5] inside",
            train_stacks=list(self.train_ids))]

    def member_tables(self, model_dir: str, mean: dict, sd: dict) -> list[str]:
        columns = ("iou", "precision", "recall", "accuracy", "logloss", "ece")
        lines = ["| stack | rock type | in sample | " + " | ".join(columns) + " |",
                 "|---|---|---|" + "---|" * len(columns)]
        for stack_id, figures in sorted(mean["stacks"].items()):
            cells = [f"{_fmt(figures.get(c))} +- {_fmt(sd['stacks'][stack_id].get(c))}" for c in columns]
            lines.append(f"| {stack_id} | {figures['rock_type']} | {'yes' if figures['in_sample'] else 'no'} | "
                         + " | ".join(cells) + " |")
        coretf_io.write_text(os.path.join(model_dir, "stacks.md"), "\n".join(lines) + "\n")
        return ["stacks.md"]

    def summary_lines(self, metrics: dict) -> list[str]:
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


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
