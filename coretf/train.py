"""Trains one experiment: `python -m coretf.train --flagfile=trainers/<experiment>.flags`.

The model directory receives `flags.txt` and `config.json` at start, per-epoch checkpoints (a
rerun of the same command resumes), TensorBoard logs (scalars, learning rate, input / true mask /
predicted mask / confidence images), `history.csv`, `metrics.json` (best epoch chosen on the
validation split, never on test; validation and test figures), `test_predictions.png` and
`export/`, a SavedModel that inference runs from without coretf code.
"""

from __future__ import annotations

import dataclasses
import json
import os

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags, logging

from coretf import callbacks as callbacks_lib
from coretf import export as export_lib
from coretf import io as coretf_io
from coretf import metrics as metrics_lib
from coretf import plots
from coretf.data import cores
from coretf.flags import TrainConfig, config_from_flags, define_flags
from coretf.losses import WeightedSparseCrossEntropy
from coretf.models import MODELS

CLASS_NAMES = ("disturbed_or_background", "undisturbed")
IOU_CLASS = 0  # the paper's IoU is that of the disturbance
CONFIDENCE_CLASS = 1  # the confidence map is P(undisturbed), as in the paper's code


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


def evaluate(model: keras.Model, dataset: tf.data.Dataset, keep: int = 6) -> tuple[dict, dict]:
    """One pass over a split: the metric set, per-patch IoU spread, and a few example patches.

    Returns:
        (figures, examples): figures has accuracy, patch_iou (+ _sd), pooled_iou, empty_patches,
        loss and patches; examples has up to `keep` images/masks/predicted/confidence/iou arrays.
    """
    metrics = metrics_lib.segmentation_metrics(IOU_CLASS)
    loss = keras.metrics.Mean()
    loss_fn = WeightedSparseCrossEntropy()
    ious, kept = [], {k: [] for k in ("images", "masks", "predicted", "confidence", "iou")}
    for images, masks in dataset:
        # predict_on_batch runs the compiled graph; an eager call is several times slower.
        logits = tf.convert_to_tensor(model.predict_on_batch(images), tf.float32)
        for metric in metrics:
            metric.update_state(masks, logits)
        loss.update_state(loss_fn(masks, logits))
        intersection, union = metrics_lib.patch_intersection_union(masks, logits, IOU_CLASS)
        batch_iou = ((intersection + metrics_lib.SMOOTH) / (union + metrics_lib.SMOOTH)).numpy()
        ious.append(batch_iou)
        if len(kept["images"]) < keep:
            probabilities = tf.nn.softmax(logits, -1).numpy()
            for i in np.argsort(batch_iou)[: keep - len(kept["images"])]:  # the hardest patches
                kept["images"].append(images[i].numpy())
                kept["masks"].append(masks[i, ..., 0].numpy())
                kept["predicted"].append(np.argmax(probabilities[i], -1))
                kept["confidence"].append(probabilities[i, ..., CONFIDENCE_CLASS])
                kept["iou"].append(batch_iou[i])
    figures = {m.name: float(m.result()) for m in metrics}
    ious = np.concatenate(ious) if ious else np.zeros(0)
    figures.update(loss=float(loss.result()), patch_iou_sd=float(ious.std()), patches=int(ious.size))
    return figures, {k: np.stack(v) for k, v in kept.items() if v}


def _write_json(path: str, payload: dict) -> None:
    with coretf_io.atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)


def train_and_evaluate(config: TrainConfig, model_dir: str) -> dict:
    """Trains, picks the best epoch on validation, evaluates on test, exports. Returns metrics."""
    os.makedirs(model_dir, exist_ok=True)
    _write_json(os.path.join(model_dir, "config.json"), dataclasses.asdict(config))
    keras.utils.set_random_seed(config.seed)
    policy = resolve_policy(config.mixed_precision)
    previous_policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(policy)
    try:
        return _run(config, model_dir, policy)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _run(config: TrainConfig, model_dir: str, policy: str) -> dict:
    builder = cores.get_builder(config.dataset, config.data_dir, config.manual_dir)
    patch_size = builder.builder_config.patch_size
    section_means, px_per_cm = cores.section_summary(builder, "train")
    stats = None
    if {"gn", "cs"} & set(config.augment):
        from coretf.data.augment import ColourStats  # only the colour augmentations need it

        stats = ColourStats.from_section_means(section_means)
        _write_json(os.path.join(model_dir, "colour_stats.json"), stats.to_dict())
    train_ds = cores.make_dataset(builder, "train", batch_size=config.batch_size, training=True,
                                  seed=config.seed, augmentations=config.augment, stats=stats,
                                  gn_fraction=config.gn_fraction, augment_p=config.augment_p)
    val_ds = cores.make_dataset(builder, "validation", batch_size=config.batch_size, training=False)
    test_ds = cores.make_dataset(builder, "test", batch_size=config.batch_size, training=False)
    steps = config.steps_per_epoch or max(1, cores.split_size(builder, "train") // config.batch_size)

    strategy = get_strategy(config.strategy)
    with strategy.scope():
        model, multiple = build_model(config)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                      loss=WeightedSparseCrossEntropy(config.class_weights),
                      metrics=metrics_lib.segmentation_metrics(IOU_CLASS))
    if patch_size % multiple:
        raise ValueError(f"--dataset={config.dataset}: {patch_size} px patches are not a multiple of "
                         f"{multiple}, the {config.model}'s downsampling factor")
    sample_images, sample_masks = cores.sample_batch(builder, "validation", config.image_summaries)
    log_dir = os.path.join(model_dir, "logs")
    checkpoints = os.path.join(model_dir, "checkpoints")
    best = callbacks_lib.BestCheckpoint(model_dir, monitor="val_patch_iou", mode="max")
    model.fit(
        train_ds,
        shuffle=False,  # the pipeline shuffles (seeded); Keras cannot shuffle a tf.data input
        epochs=config.epochs,
        steps_per_epoch=steps,
        validation_data=val_ds,
        validation_steps=config.validation_steps or None,
        callbacks=[
            keras.callbacks.BackupAndRestore(os.path.join(checkpoints, "backup"), delete_checkpoint=False),
            keras.callbacks.ModelCheckpoint(os.path.join(checkpoints, "epoch_{epoch:03d}.weights.h5"),
                                            save_weights_only=True),
            best,
            keras.callbacks.TensorBoard(log_dir),
            callbacks_lib.ImageSummaries(log_dir, sample_images, sample_masks, CONFIDENCE_CLASS),
            keras.callbacks.CSVLogger(os.path.join(model_dir, "history.csv"), append=True),
        ],
        verbose=2 if os.environ.get("CI") else 1,
    )
    record = best.best()
    if record is None:
        raise RuntimeError(f"{model_dir}: no epoch finished with a finite val_patch_iou")
    model.load_weights(best.weights_path)
    test, examples = evaluate(model, test_ds)
    metrics = {
        "dataset": cores.dataset_name(builder),
        "best_epoch": record["epoch"],
        "epochs": config.epochs,
        "validation": {k[len("val_"):]: v for k, v in record["logs"].items() if k.startswith("val_")},
        "test": test,
        "dtype_policy": policy,
    }
    _write_json(os.path.join(model_dir, "metrics.json"), metrics)
    if examples:
        plots.save_prediction_grid(
            os.path.join(model_dir, "test_predictions.png"), examples["images"], examples["masks"],
            examples["predicted"], examples["confidence"],
            titles=[f"Patch-IoU {v:.2f}" for v in examples["iou"]])
    export_lib.export_saved_model(model, os.path.join(model_dir, "export"), {
        "job": config.job,
        "dataset": cores.dataset_name(builder),
        "model": config.model,
        "input": "float32 RGB in [0, 1]; core depth along the image width (x)",
        "px_per_cm": px_per_cm,
        "tile_size": patch_size,
        "input_multiple": multiple,
        "class_names": list(CLASS_NAMES),
        "iou_class": IOU_CLASS,
        "confidence_class": CONFIDENCE_CLASS,
        "confidence_meaning": "probability of undisturbed sediment",
        "best_epoch": record["epoch"],
        "test_patch_iou": test["patch_iou"],
    }, dtype_policy=config.export_policy)
    logging.info("test figures: %s", json.dumps(test))
    return metrics


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
    test = metrics["test"]
    print(f"\ndata: {metrics['dataset']} in {os.path.abspath(config.data_dir)}")
    print(f"model directory: {os.path.abspath(model_dir)}")
    print(f"  best epoch (validation Patch-IoU): {metrics['best_epoch']} of {metrics['epochs']}")
    print(f"  test Patch-IoU {test['patch_iou']:.3f} +- {test['patch_iou_sd']:.3f}, pooled IoU "
          f"{test['pooled_iou']:.3f}, accuracy {test['accuracy']:.3f} over {test['patches']} patches")
    print(f"  metrics: {os.path.join(os.path.abspath(model_dir), 'metrics.json')}, pictures: "
          f"{os.path.join(os.path.abspath(model_dir), 'test_predictions.png')}")
    print(f"  SavedModel: {os.path.join(os.path.abspath(model_dir), 'export')}")
    print(f"  TensorBoard: tensorboard --logdir {os.path.join(os.path.abspath(model_dir), 'logs')}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
