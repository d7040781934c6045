"""The ice-core micro-CT job (Bagherzadeh et al. 2023): a U-Net on 60 um slices from 30 um GMM labels.

`run` is what `python -m coretf.train --job=ice_ct` calls: it trains the network on crops of the
`ice_ct` builder's low-res slices against the weak labels (binary cross-entropy on one logit,
Adam), picks the best epoch on validation IoU of ice, segments every whole slice by tiled
inference (`coretf.tiling.predict_tiled`), writes the physical validation (Table II, Fig. 10,
Fig. 11; `coretf.analysis.ice_validation`) into `<model_dir>/validation/` and exports a
SavedModel taking one-channel slices.

Networks (`--ice_network`): `unet`, the paper's description through `coretf.models.build_unet`
(five stages = depth 4, 3x3 convs, `--filters=32,64,96,112,128`, nearest-neighbour upsampling,
one sigmoid output), or `published`, the published code's 6-level network.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from coretf import callbacks as callbacks_lib
from coretf import export as export_lib
from coretf import metrics as metrics_lib
from coretf import plots
from coretf.analysis import ice_evaluation
from coretf.data import ice_ct as ice_data
from coretf.flags import TrainConfig
from coretf.io import write_json
from coretf.models import build_icecore_unet_published, build_unet
from coretf.tiling import predict_tiled
from coretf.train import fit_verbosity, get_strategy, standard_callbacks

CLASS_NAMES = ("air", "ice")
ICE = 1  # the paper's positive class: IoU, F1 and confidence are those of ice


def build_network(config: TrainConfig) -> tuple[keras.Model, int]:
    """The configured network (one input channel, one logit) and its input multiple."""
    if config.ice_network == "published":
        return build_icecore_unet_published((None, None, 1)), 64
    filters = config.filters[0] if len(config.filters) == 1 else list(config.filters)
    model = build_unet((None, None, 1), 1, depth=config.depth, filters=filters,
                       kernel_size=config.kernel_size, activation=config.activation,
                       batchnorm=config.ice_batchnorm, upsampling=config.upsampling,
                       name="icecore_unet")
    return model, 2**config.depth


def slice_predictor(model: keras.Model, tile: int, batch_size: int):
    """(H, W) float32 slice in [0, 1] -> (H, W) ice probability, by blended tiles."""
    def predict(batch):
        return 1.0 / (1.0 + np.exp(-np.asarray(model.predict_on_batch(batch), np.float32)))

    return lambda image: predict_tiled(predict, image[..., None], tile=tile,
                                       overlap=min(32, tile // 4), batch_size=batch_size)[..., 0]


def run(config: TrainConfig, model_dir: str, policy: str) -> dict:
    """Trains, picks the best epoch on validation, validates physically, exports; returns metrics."""
    builder = ice_data.get_builder(config.dataset, config.data_dir, config.manual_dir)
    patch = config.ice_patch_size
    train_ds = ice_data.make_dataset(builder, "train", batch_size=config.batch_size, patch_size=patch,
                                     training=True, seed=config.seed)
    val_ds = ice_data.make_dataset(builder, "validation", batch_size=config.batch_size,
                                   patch_size=patch, training=False)
    steps = config.steps_per_epoch or max(
        1, ice_data.crops_per_epoch(builder, "train", patch) // config.batch_size)

    strategy = get_strategy(config.strategy)
    with strategy.scope():
        model, multiple = build_network(config)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                      loss=keras.losses.BinaryCrossentropy(from_logits=True),
                      metrics=metrics_lib.segmentation_metrics(ICE))
    if patch % multiple or config.ice_tile % multiple:
        raise ValueError(f"--ice_patch_size={patch} and --ice_tile={config.ice_tile} must be "
                         f"multiples of {multiple}, the network's downsampling factor")
    sample_images, sample_labels = ice_data.sample_batch(builder, "validation",
                                                         config.image_summaries, patch)
    callbacks, best = standard_callbacks(model_dir, monitor="val_pooled_iou", mode="max")
    callbacks.append(callbacks_lib.ImageSummaries(os.path.join(model_dir, "logs"), sample_images,
                                                  sample_labels, ICE))
    model.fit(train_ds, shuffle=False, epochs=config.epochs, steps_per_epoch=steps,
              validation_data=val_ds, validation_steps=config.validation_steps or None,
              callbacks=callbacks, verbose=fit_verbosity())
    record = best.best()
    if record is None:
        raise RuntimeError(f"{model_dir}: no epoch finished with a finite val_pooled_iou")
    model.load_weights(best.weights_path)

    predict = slice_predictor(model, config.ice_tile, config.batch_size)
    rows = ice_evaluation.validate(ice_data.iter_slices(builder), predict,
                                   os.path.join(model_dir, "validation"),
                                   progress=not os.environ.get("CI"))
    _save_test_pictures(os.path.join(model_dir, "test_predictions.png"), builder, predict)
    test = _test_summary(rows)
    metrics = {"dataset": ice_data.dataset_name(builder), "best_epoch": record["epoch"],
               "epochs": config.epochs,
               "validation": {k[len("val_"):]: v for k, v in record["logs"].items()
                              if k.startswith("val_")},
               "test": test, "table2": rows, "dtype_policy": policy}
    write_json(os.path.join(model_dir, "metrics.json"), metrics)
    first = next(ice_data.iter_slices(builder, ("test",)))[0]
    export_lib.export_saved_model(model, os.path.join(model_dir, "export"), {
        "job": "ice_ct",
        "dataset": ice_data.dataset_name(builder),
        "model": config.ice_network,
        "input": ("float32 one-channel low-res CT slice in [0, 1], normalised as "
                  "coretf.preprocess.ice_labels: 3x3 median, field-of-view 0.5/99.5 percentiles "
                  "-> 0/1, 0 outside the field of view"),
        "um_per_voxel": float(first["low_voxel_um"]),
        "tile_size": config.ice_tile,
        "input_multiple": multiple,
        "class_names": list(CLASS_NAMES),
        "iou_class": ICE,
        "confidence_class": ICE,
        "confidence_meaning": "probability of ice",
        "best_epoch": record["epoch"],
        "test_iou_vs_weak": test["network_iou_vs_weak"],
    }, dtype_policy=config.export_policy)
    return metrics


def _test_summary(rows: list[dict]) -> dict:
    """Per specimen: the network's test IoU and its gain over Otsu / GMM on low-res."""
    table = {(r["specimen"], r["method"]): r for r in rows}
    specimens = list(dict.fromkeys(r["specimen"] for r in rows))
    summary = {}
    for key in ("iou_vs_weak", "iou_vs_truth", "f1_vs_weak", "accuracy_vs_weak"):
        summary[f"network_{key}"] = {s: table[s, "network"][key] for s in specimens}
    for baseline in ("otsu_low", "gmm_low"):
        for ref in ("weak", "truth"):
            summary[f"iou_gain_over_{baseline}_vs_{ref}"] = {
                s: table[s, "network"][f"iou_vs_{ref}"] - table[s, baseline][f"iou_vs_{ref}"]
                for s in specimens}
    summary["weight_error_pct"] = {s: {m: table[s, m]["weight_error_pct"]
                                       for m in ice_evaluation.METHODS} for s in specimens}
    return summary


def _save_test_pictures(path: str, builder, predict, count: int = 3) -> None:
    """Input, weak label, prediction and confidence of the first test slices."""
    images, labels, predicted, confidence = [], [], [], []
    for example, _ in ice_data.iter_slices(builder, ("test",)):
        image = example["image"][..., 0].astype(np.float32) / 255.0
        probability = predict(image)
        images.append(np.repeat(image[..., None], 3, axis=2))
        labels.append(example["weak_label"][..., 0])
        predicted.append((probability >= 0.5).astype(np.uint8))
        confidence.append(probability)
        if len(images) == count:
            break
    plots.save_prediction_grid(path, np.stack(images), np.stack(labels), np.stack(predicted),
                               np.stack(confidence))


def summary_lines(metrics: dict) -> list[str]:
    """What the console shows after training."""
    test = metrics["test"]
    lines = [f"best epoch (validation IoU of ice): {metrics['best_epoch']} of {metrics['epochs']}"]
    for specimen, iou in test["network_iou_vs_weak"].items():
        lines.append(f"{specimen}: test IoU {iou:.3f} vs weak label; gain over Otsu "
                     f"{test['iou_gain_over_otsu_low_vs_weak'][specimen]:+.3f}, over GMM "
                     f"{test['iou_gain_over_gmm_low_vs_weak'][specimen]:+.3f} on low-res")
    lines.append("Table II: validation/table2.md, Fig. 10: validation/fig10_scatter.png, "
                 "Fig. 11: validation/fig11_overlays.png")
    return lines
