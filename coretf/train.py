"""Trains one experiment: `python -m coretf.train --flagfile=trainers/<experiment>.flags`.

`--job` picks the job module in `coretf/jobs/` (data, model, metrics, export); this module holds
what every job shares: dtype policy, strategy, segmentation model building and evaluation, the
standard callbacks, and the command line.

The model directory receives `flags.txt` and `config.json` at start, per-epoch checkpoints (a
rerun of the same command resumes), TensorBoard logs (scalars, learning rate, input / true mask /
predicted mask / confidence images), `history.csv`, `metrics.json` (best epoch chosen on the
validation split, never on test; validation and test figures), `test_predictions.png` and
`export/`, a SavedModel that inference runs from without coretf code.
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags, logging

import importlib

from coretf import callbacks as callbacks_lib
from coretf import io as coretf_io
from coretf import metrics as metrics_lib
from coretf.flags import TrainConfig, config_from_flags, define_flags
from coretf.losses import WeightedSparseCrossEntropy
from coretf.models import MODELS


def resolve_policy(name: str) -> str:
    """The Keras dtype policy for --mixed_precision ("auto": float16 on a GPU, float32 on a CPU)."""
    if name == "auto":
        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"
    return name


def get_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy for --strategy."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def build_model(config: TrainConfig, num_classes: int = 2) -> tuple[keras.Model, int]:
    """The configured architecture and the multiple its input sides must be padded to."""
    filters = config.filters[0] if len(config.filters) == 1 else list(config.filters)
    if config.model == "segnet":
        model = MODELS["segnet"](num_classes=num_classes, kernel_size=config.kernel_size,
                                 filters=filters, depth=config.depth)
        return model, 2**config.depth
    if config.model == "unet":
        model = MODELS["unet"](num_classes=num_classes, depth=config.depth, filters=filters,
                               kernel_size=config.kernel_size, activation=config.activation,
                               upsampling=config.upsampling)
        return model, 2**config.depth
    kwargs = {} if len(config.filters) == 1 else {"filters": tuple(config.filters)}
    model = MODELS["fcn8"](num_classes=num_classes, kernel_size=config.kernel_size,
                           vgg16_weights=config.vgg16_weights, **kwargs)
    return model, 32


def evaluate(model: keras.Model, dataset: tf.data.Dataset, keep: int = 6, *, iou_class: int = 0,
             confidence_class: int = 1) -> tuple[dict, dict]:
    """One pass over a split: the metric set, per-patch IoU spread, and a few example patches.

    `iou_class` is the class whose IoU is reported; `confidence_class` the one whose probability
    the kept examples show as confidence.

    Returns:
        (figures, examples): figures has accuracy, patch_iou (+ _sd), pooled_iou, empty_patches,
        loss and patches; examples has up to `keep` images/masks/predicted/confidence/iou arrays.
    """
    metrics = metrics_lib.segmentation_metrics(iou_class)
    loss = keras.metrics.Mean()
    loss_fn = WeightedSparseCrossEntropy()
    ious, kept = [], {k: [] for k in ("images", "masks", "predicted", "confidence", "iou")}
    for images, masks in dataset:
        # predict_on_batch runs the compiled graph; an eager call is several times slower.
        logits = tf.convert_to_tensor(model.predict_on_batch(images), tf.float32)
        for metric in metrics:
            metric.update_state(masks, logits)
        loss.update_state(loss_fn(masks, logits))
        intersection, union = metrics_lib.patch_intersection_union(masks, logits, iou_class)
        batch_iou = ((intersection + metrics_lib.SMOOTH) / (union + metrics_lib.SMOOTH)).numpy()
        ious.append(batch_iou)
        if len(kept["images"]) < keep:
            probabilities = tf.nn.softmax(logits, -1).numpy()
            for i in np.argsort(batch_iou)[: keep - len(kept["images"])]:  # the hardest patches
                kept["images"].append(images[i].numpy())
                kept["masks"].append(masks[i, ..., 0].numpy())
                kept["predicted"].append(np.argmax(probabilities[i], -1))
                kept["confidence"].append(probabilities[i, ..., confidence_class])
                kept["iou"].append(batch_iou[i])
    figures = {m.name: float(m.result()) for m in metrics}
    ious = np.concatenate(ious) if ious else np.zeros(0)
    figures.update(loss=float(loss.result()), patch_iou_sd=float(ious.std()), patches=int(ious.size))
    return figures, {k: np.stack(v) for k, v in kept.items() if v}


def standard_callbacks(model_dir: str, monitor: str, mode: str = "max") -> tuple[list, object]:
    """Resume, per-epoch checkpoints, best-epoch tracking, TensorBoard and history.csv.

    Returns (callbacks, best): `best.best()` is the best epoch's record after `fit`, and
    `best.weights_path` its weights.
    """
    checkpoints = os.path.join(model_dir, "checkpoints")
    best = callbacks_lib.BestCheckpoint(model_dir, monitor=monitor, mode=mode)
    return [
        keras.callbacks.BackupAndRestore(os.path.join(checkpoints, "backup"), delete_checkpoint=False),
        keras.callbacks.ModelCheckpoint(os.path.join(checkpoints, "epoch_{epoch:03d}.weights.h5"),
                                        save_weights_only=True),
        best,
        keras.callbacks.TensorBoard(os.path.join(model_dir, "logs")),
        keras.callbacks.CSVLogger(os.path.join(model_dir, "history.csv"), append=True),
    ], best


def fit_verbosity() -> int:
    """Keras `fit` verbosity: a progress bar in a terminal, one line per epoch under CI."""
    return 2 if os.environ.get("CI") else 1


def job_module(job: str):
    """The module of `coretf/jobs/` that runs `job`."""
    return importlib.import_module(f"coretf.jobs.{job}")


def train_and_evaluate(config: TrainConfig, model_dir: str) -> dict:
    """Trains, picks the best epoch on validation, evaluates on test, exports. Returns metrics."""
    os.makedirs(model_dir, exist_ok=True)
    coretf_io.write_json(os.path.join(model_dir, "config.json"), dataclasses.asdict(config))
    keras.utils.set_random_seed(config.seed)
    policy = resolve_policy(config.mixed_precision)
    previous_policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(policy)
    try:
        return job_module(config.job).run(config, model_dir, policy)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def main(argv):
    del argv
    if not flags.FLAGS["verbosity"].present:  # progress bars, not INFO lines; -v 0 restores them
        logging.set_verbosity(logging.WARNING)
    config = config_from_flags(flags.FLAGS)
    model_dir = flags.FLAGS.model_dir
    os.makedirs(model_dir, exist_ok=True)
    with coretf_io.atomic_path(os.path.join(model_dir, "flags.txt")) as tmp, open(tmp, "w") as f:
        f.write(flags.FLAGS.flags_into_string())
    metrics = train_and_evaluate(config, model_dir)
    print(f"\ndata: {metrics['dataset']} in {os.path.abspath(config.data_dir)}")
    print(f"model directory: {os.path.abspath(model_dir)}")
    for line in job_module(config.job).summary_lines(metrics):
        print(f"  {line}")
    print(f"  metrics: {os.path.join(os.path.abspath(model_dir), 'metrics.json')}, pictures: "
          f"{os.path.join(os.path.abspath(model_dir), 'test_predictions.png')}")
    print(f"  SavedModel: {os.path.join(os.path.abspath(model_dir), 'export')}")
    print(f"  TensorBoard: tensorboard --logdir {os.path.join(os.path.abspath(model_dir), 'logs')}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
