"""The sediment-core disturbance job (Hutton 2025): patches of section photographs -> disturbance.

`python -m coretf.train --job=sediment_cores` trains SegNet-Basic, U-Net or FCN-8 (`--architecture`) on
patches of the `sediment_cores` builder (2-class softmax cross-entropy, optionally class-weighted;
Adam; the GN, CS and RF augmentations of §2.5), picks the best epoch on validation Patch-IoU (the
paper picked it on test: the honest version uses a held-out validation split), reports the test
Patch-IoU, pooled IoU and accuracy of the disturbance class (§2.6), draws the hardest test patches
and exports a SavedModel carrying what whole-section inference (`coretf.predict`) needs: the
training scale in px/cm, the tile size and the class meaning.
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

from coretf import calibration
from coretf import callbacks as callbacks_lib
from coretf import metrics as metrics_lib
from coretf import plots
from coretf.config import option
from coretf.data import builders
from coretf.data import sediment_cores as core_data
from coretf.data.augment import AUGMENTATIONS, ColourStats
from coretf.io import write_json
from coretf.jobs import base
from coretf.losses import WeightedSparseCrossEntropy
from coretf.models import MODELS

CLASS_NAMES = ("disturbed_or_background", "undisturbed")
IOU_CLASS = 0  # the paper's IoU is that of the disturbance
CONFIDENCE_CLASS = 1  # the confidence map is P(undisturbed), as in the paper's code


@dataclasses.dataclass(frozen=True)
class CoresConfig(base.SegmentationConfig):
    """Settings of the sediment_cores job."""

    architecture: str = option("segnet", "Network architecture.", choices=tuple(MODELS))
    vgg16_weights: str | None = option(None, "Local VGG16 weights file for FCN-8 (never downloaded).")
    class_weights: tuple[float, ...] | None = option(
        None, "Cross-entropy weight per class, e.g. 2,1.", minimum=0)
    augment: tuple[str, ...] = option((), "Augmentations (Hutton 2025 §2.5).", choices=AUGMENTATIONS)
    gn_fraction: float = option(0.1, "GN sigma as a fraction of the between-section SD.", minimum=0)
    augment_p: float = option(0.5, "Probability of each augmentation.", minimum=0, maximum=1)


def build_network(config: CoresConfig, num_classes: int = 2) -> tuple[keras.Model, int]:
    """The configured architecture and the multiple its input sides must be padded to."""
    if config.architecture == "segnet":
        model = MODELS["segnet"](num_classes=num_classes, kernel_size=config.kernel_size,
                                 filters=config.filter_spec, depth=config.depth)
        return model, 2**config.depth
    if config.architecture == "unet":
        model = MODELS["unet"](num_classes=num_classes, depth=config.depth, filters=config.filter_spec,
                               kernel_size=config.kernel_size, activation=config.activation,
                               upsampling=config.upsampling)
        return model, 2**config.depth
    kwargs = {} if len(config.filters) == 1 else {"filters": tuple(config.filters)}
    model = MODELS["fcn8"](num_classes=num_classes, kernel_size=config.kernel_size,
                           vgg16_weights=config.vgg16_weights, **kwargs)
    return model, 32


def evaluate_patches(model: keras.Model, dataset: tf.data.Dataset, keep: int = 6, *, iou_class: int = 0,
                     confidence_class: int = 1) -> tuple[dict, dict]:
    """One pass over a split: the metric set, per-patch IoU spread, and the hardest patches.

    `iou_class` is the class whose IoU is reported; `confidence_class` the one whose probability
    the kept examples show as confidence.

    Returns:
        (figures, examples, reliability): figures has accuracy, patch_iou (+ _sd), pooled_iou,
        empty_patches, loss, patches, ece and its calibration bins (`coretf.calibration`, over the
        pixels the masks do not ignore); examples has up to `keep`
        images/masks/predicted/confidence/iou arrays; reliability the `calibration.Reliability`.
    """
    metrics = metrics_lib.segmentation_metrics(iou_class)
    loss = keras.metrics.Mean()
    loss_fn = WeightedSparseCrossEntropy()
    ious, kept = [], {k: [] for k in ("images", "masks", "predicted", "confidence", "iou")}
    reliability = calibration.Reliability()
    for images, masks in dataset:
        # predict_on_batch runs the compiled graph; an eager call is several times slower.
        logits = tf.convert_to_tensor(model.predict_on_batch(images), tf.float32)
        for metric in metrics:
            metric.update_state(masks, logits)
        loss.update_state(loss_fn(masks, logits))
        reliability.update(tf.nn.softmax(logits, -1).numpy(), masks[..., 0].numpy())
        intersection, union = metrics_lib.patch_intersection_union(masks, logits, iou_class)
        batch_iou = ((intersection + metrics_lib.SMOOTH) / (union + metrics_lib.SMOOTH)).numpy()
        ious.append(batch_iou)
        if len(kept["images"]) < keep:
            probabilities = tf.nn.softmax(logits, -1).numpy()
            for i in np.argsort(batch_iou)[: keep - len(kept["images"])]:
                kept["images"].append(images[i].numpy())
                kept["masks"].append(masks[i, ..., 0].numpy())
                kept["predicted"].append(np.argmax(probabilities[i], -1))
                kept["confidence"].append(probabilities[i, ..., confidence_class])
                kept["iou"].append(batch_iou[i])
    figures = {m.name: float(m.result()) for m in metrics}
    ious = np.concatenate(ious) if ious else np.zeros(0)
    figures.update(loss=float(loss.result()), patch_iou_sd=float(ious.std()), patches=int(ious.size),
                   ece=reliability.ece(), calibration=reliability.summary())
    return figures, {k: np.stack(v) for k, v in kept.items() if v}, reliability


class SedimentCoresJob(base.SegmentationJob):
    """Disturbance segmentation of core-section patches (see the module docstring)."""

    name = "sediment_cores"
    config_class = CoresConfig
    monitor, monitor_mode = "val_patch_iou", "max"
    class_names = CLASS_NAMES
    iou_class = IOU_CLASS
    confidence_class = CONFIDENCE_CLASS
    confidence_meaning = "probability of undisturbed sediment"

    def build_inputs(self, model_dir: str) -> base.Inputs:
        config = self.config
        self.builder = builders.folded(
            builders.get_builder(self.name, config.dataset, config.data_dir, config.manual_dir),
            config.folds, config.fold, keys=("section_id",))
        self.patch_size = self.builder.builder_config.patch_size
        section_means, self.px_per_cm = core_data.section_summary(self.builder, "train")
        stats = None
        if {"gn", "cs"} & set(config.augment):
            stats = ColourStats.from_section_means(section_means)
            write_json(os.path.join(model_dir, "colour_stats.json"), stats.to_dict())
        train = core_data.make_dataset(self.builder, "train", batch_size=config.batch_size, training=True,
                                   seed=config.seed, augmentations=config.augment, stats=stats,
                                   gn_fraction=config.gn_fraction, augment_p=config.augment_p)
        validation = core_data.make_dataset(self.builder, "validation", batch_size=config.batch_size,
                                        training=False)
        steps = config.steps_per_epoch or max(1, builders.split_size(self.builder, "train") // config.batch_size)
        return base.Inputs(train=train, validation=validation, steps_per_epoch=steps,
                           dataset=builders.dataset_name(self.builder))

    def build_model(self) -> keras.Model:
        model, self.input_multiple = build_network(self.config)
        self.check_sides((f"--dataset={self.config.dataset}: its patches", self.patch_size))
        return model

    def build_loss(self):
        return WeightedSparseCrossEntropy(self.config.class_weights)

    def callbacks(self, model_dir: str) -> list:
        images, masks = core_data.sample_batch(self.builder, "validation", self.config.image_summaries)
        return [callbacks_lib.ImageSummaries(os.path.join(model_dir, "logs"), images, masks, CONFIDENCE_CLASS)]

    def evaluate(self, model: keras.Model, model_dir: str) -> dict:
        test_ds = core_data.make_dataset(self.builder, "test", batch_size=self.config.batch_size, training=False)
        test, examples, reliability = evaluate_patches(model, test_ds, iou_class=IOU_CLASS,
                                                       confidence_class=CONFIDENCE_CLASS)
        calibration.save_reliability_diagram(os.path.join(model_dir, "calibration.png"), reliability,
                                             title=f"held-out test patches ({self.config.dataset})")
        if examples:
            plots.save_prediction_grid(
                os.path.join(model_dir, "test_predictions.png"), examples["images"], examples["masks"],
                examples["predicted"], examples["confidence"],
                titles=[f"Patch-IoU {v:.2f}" for v in examples["iou"]], positive="undisturbed",
                title=f"held-out test patches ({self.config.dataset})")
        return {"test": test}

    def exports(self, model: keras.Model, metrics: dict) -> list:
        return [self.segmentation_export(
            model, metrics, architecture=self.config.architecture, px_per_cm=self.px_per_cm, tile_size=self.patch_size,
            input="float32 RGB in [0, 1]; core depth along the image width (x)",
            test_patch_iou=metrics["test"]["patch_iou"])]

    def summary_lines(self, metrics: dict) -> list[str]:
        test = metrics["test"]
        return [f"best epoch (validation Patch-IoU): {metrics['best_epoch']} of {metrics['epochs']}",
                f"test Patch-IoU {test['patch_iou']:.3f} +- {test['patch_iou_sd']:.3f}, pooled IoU "
                f"{test['pooled_iou']:.3f}, accuracy {test['accuracy']:.3f} over {test['patches']} patches",
                f"calibration: ECE {test['ece']:.4f} (calibration.png)"]
