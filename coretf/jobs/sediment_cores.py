"""The sediment-core disturbance job (Hutton 2025): data, model, metrics and export.

`run` is what `python -m coretf.train --job=sediment_cores` calls: it trains a segmentation model
on the `sediment_cores` builder, picks the best epoch on validation Patch-IoU, evaluates on test
and exports a SavedModel carrying what whole-section inference needs.
"""

from __future__ import annotations

import json
import os

import keras
from absl import logging

from coretf import callbacks as callbacks_lib
from coretf import export as export_lib
from coretf import metrics as metrics_lib
from coretf import plots
from coretf.data import builders, sediment_cores as cores
from coretf.flags import TrainConfig
from coretf.io import write_json
from coretf.losses import WeightedSparseCrossEntropy
from coretf.train import build_model, evaluate, fit_verbosity, get_strategy, standard_callbacks

CLASS_NAMES = ("disturbed_or_background", "undisturbed")
IOU_CLASS = 0  # the paper's IoU is that of the disturbance
CONFIDENCE_CLASS = 1  # the confidence map is P(undisturbed), as in the paper's code


def run(config: TrainConfig, model_dir: str, policy: str) -> dict:
    """Trains, picks the best epoch on validation, evaluates on test, exports; returns metrics."""
    builder = builders.get_builder("sediment_cores", config.dataset, config.data_dir, config.manual_dir)
    patch_size = builder.builder_config.patch_size
    section_means, px_per_cm = cores.section_summary(builder, "train")
    stats = None
    if {"gn", "cs"} & set(config.augment):
        from coretf.data.augment import ColourStats  # only the colour augmentations need it

        stats = ColourStats.from_section_means(section_means)
        write_json(os.path.join(model_dir, "colour_stats.json"), stats.to_dict())
    train_ds = cores.make_dataset(builder, "train", batch_size=config.batch_size, training=True,
                                  seed=config.seed, augmentations=config.augment, stats=stats,
                                  gn_fraction=config.gn_fraction, augment_p=config.augment_p)
    val_ds = cores.make_dataset(builder, "validation", batch_size=config.batch_size, training=False)
    test_ds = cores.make_dataset(builder, "test", batch_size=config.batch_size, training=False)
    steps = config.steps_per_epoch or max(1, builders.split_size(builder, "train") // config.batch_size)

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
    callbacks, best = standard_callbacks(model_dir, monitor="val_patch_iou", mode="max")
    callbacks.append(callbacks_lib.ImageSummaries(os.path.join(model_dir, "logs"), sample_images,
                                                  sample_masks, CONFIDENCE_CLASS))
    model.fit(
        train_ds,
        shuffle=False,  # the pipeline shuffles (seeded); Keras cannot shuffle a tf.data input
        epochs=config.epochs,
        steps_per_epoch=steps,
        validation_data=val_ds,
        validation_steps=config.validation_steps or None,
        callbacks=callbacks,
        verbose=fit_verbosity(),
    )
    record = best.best()
    if record is None:
        raise RuntimeError(f"{model_dir}: no epoch finished with a finite val_patch_iou")
    model.load_weights(best.weights_path)
    test, examples = evaluate(model, test_ds, iou_class=IOU_CLASS,
                              confidence_class=CONFIDENCE_CLASS)
    metrics = {
        "dataset": builders.dataset_name(builder),
        "best_epoch": record["epoch"],
        "epochs": config.epochs,
        "validation": {k[len("val_"):]: v for k, v in record["logs"].items() if k.startswith("val_")},
        "test": test,
        "dtype_policy": policy,
    }
    write_json(os.path.join(model_dir, "metrics.json"), metrics)
    if examples:
        plots.save_prediction_grid(
            os.path.join(model_dir, "test_predictions.png"), examples["images"], examples["masks"],
            examples["predicted"], examples["confidence"],
            titles=[f"Patch-IoU {v:.2f}" for v in examples["iou"]])
    export_lib.export_saved_model(model, os.path.join(model_dir, "export"), {
        "job": config.job,
        "dataset": builders.dataset_name(builder),
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


def summary_lines(metrics: dict) -> list[str]:
    """What the console shows after training."""
    test = metrics["test"]
    return [f"best epoch (validation Patch-IoU): {metrics['best_epoch']} of {metrics['epochs']}",
            f"test Patch-IoU {test['patch_iou']:.3f} +- {test['patch_iou_sd']:.3f}, pooled IoU "
            f"{test['pooled_iou']:.3f}, accuracy {test['accuracy']:.3f} over {test['patches']} patches"]
