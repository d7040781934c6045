"""The ice-core micro-CT job (Bagherzadeh et al. 2023): a U-Net on 60 um slices from 30 um GMM labels.

`python -m coretf.train --job=ice_ct` trains the network on crops of the `ice_ct` builder's
low-res slices against the weak labels (binary cross-entropy on one logit, Adam), picks the best
epoch on validation IoU of ice, segments every whole slice by tiled inference
(`coretf.tiling.predict_tiled`), writes the physical validation (Table II, Fig. 10, Fig. 11;
`coretf.analysis.ice_evaluation`) into `<model_dir>/validation/` and exports a SavedModel taking
one-channel slices. The export declares the input transform that raw slices need first (3x3
median, field-of-view normalisation: `coretf.preprocess.ice_slices.model_input`), so
`coretf.predict` segments raw slices as they were seen in training.

Networks (`--ice_network`): `unet`, the paper's description through `coretf.models.build_unet`
(five stages = depth 4, 3x3 convs, `--filters=32,64,96,112,128`, nearest-neighbour upsampling,
one sigmoid output), or `published`, the published code's 6-level network.
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np

from coretf import calibration
from coretf import callbacks as callbacks_lib
from coretf import io as coretf_io
from coretf import plots
from coretf.analysis import ice_evaluation
from coretf.config import option
from coretf.data import builders
from coretf.data import ice_ct as ice_data
from coretf.jobs import base
from coretf.models import build_icecore_unet_published, build_unet
from coretf.tiling import predict_tiled

CLASS_NAMES = ("air", "ice")
ICE = 1  # the paper's positive class: IoU, F1 and confidence are those of ice
NETWORKS = ("unet", "published")  # the paper's U-Net, or the published code's network
INPUT_TRANSFORM = "coretf.preprocess.ice_slices:model_input"


@dataclasses.dataclass(frozen=True)
class IceConfig(base.SegmentationConfig):
    """Settings of the ice_ct job."""

    ice_network: str = option("unet", "unet = the paper's U-Net (--depth, --filters, --upsampling); "
                              "published = the published code's 6-level network (1,513,409 parameters).",
                              choices=NETWORKS)
    ice_batchnorm: bool = option(False, "BatchNorm in the U-Net's blocks.")
    ice_patch_size: int = option(128, "Training crop side, low-res px.", minimum=16)
    ice_tile: int = option(256, "Tile side of whole-slice inference, px.", minimum=16)


def build_network(config: IceConfig) -> tuple[keras.Model, int]:
    """The configured network (one input channel, one logit) and its input multiple."""
    if config.ice_network == "published":
        return build_icecore_unet_published((None, None, 1)), 64
    model = build_unet((None, None, 1), 1, depth=config.depth, filters=config.filter_spec,
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


def summarise_test(rows: list[dict]) -> dict:
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


class IceCtJob(base.SegmentationJob):
    """Ice/air segmentation of low-res CT slices from high-res weak labels (see the module docstring)."""

    name = "ice_ct"
    config_class = IceConfig
    monitor, monitor_mode = "val_ice_pooled_iou", "max"
    metric_class = "ice"
    class_names = CLASS_NAMES
    iou_class = confidence_class = ICE
    confidence_meaning = "probability of ice"

    def build_inputs(self, model_dir: str) -> base.Inputs:
        config = self.config
        self.builder = builders.folded(
            builders.get_builder(self.name, config.dataset, config.data_dir, config.manual_dir),
            config.folds, config.fold, keys=("specimen_id", "slice_index"), by="depth")
        patch = config.ice_patch_size
        train = ice_data.make_dataset(self.builder, "train", batch_size=config.batch_size, patch_size=patch,
                                      training=True, seed=config.seed)
        validation = ice_data.make_dataset(self.builder, "validation", batch_size=config.batch_size,
                                           patch_size=patch, training=False)
        steps = config.steps_per_epoch or max(
            1, ice_data.crops_per_epoch(self.builder, "train", patch) // config.batch_size)
        return base.Inputs(train=train, validation=validation, steps_per_epoch=steps,
                           dataset=builders.dataset_name(self.builder))

    def build_model(self) -> keras.Model:
        model, self.input_multiple = build_network(self.config)
        self.check_sides(("--ice_patch_size", self.config.ice_patch_size), ("--ice_tile", self.config.ice_tile))
        return model

    def build_loss(self):
        return keras.losses.BinaryCrossentropy(from_logits=True)

    def callbacks(self, model_dir: str) -> list:
        images, labels = ice_data.sample_batch(self.builder, "validation", self.config.image_summaries,
                                               self.config.ice_patch_size)
        return [callbacks_lib.ImageSummaries(os.path.join(model_dir, "logs"), images, labels, ICE)]

    def evaluate(self, model: keras.Model, model_dir: str) -> dict:
        predict = slice_predictor(model, self.config.ice_tile, self.config.batch_size)
        reliability = calibration.Reliability()
        rows = ice_evaluation.validate(ice_data.iter_slices(self.builder), predict,
                                       os.path.join(model_dir, "validation"),
                                       progress=base.progress_bars(), reliability=reliability)
        calibration.save_reliability_diagram(os.path.join(model_dir, "calibration.png"), reliability,
                                             title="ice probability against the weak labels, test slices")
        self._save_test_pictures(os.path.join(model_dir, "test_predictions.png"), predict)
        test = {**summarise_test(rows), "ece_vs_weak": reliability.ece()}
        return {"test": test, "table2": rows, "calibration": reliability.summary()}

    def _save_test_pictures(self, path: str, predict, count: int = 3) -> None:
        """Input, weak label, prediction and confidence of the first test slices."""
        images, labels, predicted, confidence = [], [], [], []
        for example, _ in ice_data.iter_slices(self.builder, ("test",)):
            image = example["image"][..., 0].astype(np.float32) / 255.0
            probability = predict(image)
            images.append(np.repeat(image[..., None], 3, axis=2))
            labels.append(example["weak_label"][..., 0])
            predicted.append((probability >= 0.5).astype(np.uint8))
            confidence.append(probability)
            if len(images) == count:
                break
        plots.save_prediction_grid(path, np.stack(images), np.stack(labels), np.stack(predicted),
                                   np.stack(confidence), positive="ice",
                                   truth_name="weak label (GMM on high-res)",
                                   title=f"held-out test slices ({self.config.dataset}), low-res input")

    def exports(self, model: keras.Model, metrics: dict) -> list:
        first = next(ice_data.iter_slices(self.builder, ("test",)))[0]
        return [self.segmentation_export(
            model, metrics, architecture=self.config.ice_network, input_transform=INPUT_TRANSFORM,
            input=("float32 one-channel low-res CT slice in [0, 1], normalised as "
                   "coretf.preprocess.ice_slices.model_input: 3x3 median, field-of-view 0.5/99.5 percentiles "
                   "-> 0/1, 0 outside the field of view"),
            um_per_voxel=float(first["low_voxel_um"]), tile_size=self.config.ice_tile,
            test_iou_vs_weak=metrics["test"]["network_iou_vs_weak"])]

    def member_tables(self, model_dir: str, mean: dict, sd: dict) -> list[str]:
        coretf_io.write_text(os.path.join(model_dir, "table2.md"),
                             ice_evaluation.markdown_table(mean["table2"], sd["table2"]))
        return ["table2.md"]

    def summary_lines(self, metrics: dict) -> list[str]:
        test = metrics["test"]
        lines = [f"best epoch (validation IoU of ice): {metrics['best_epoch']} of {metrics['epochs']}"]
        for specimen, iou in test["network_iou_vs_weak"].items():
            lines.append(f"{specimen}: test IoU {iou:.3f} vs weak label; gain over Otsu "
                         f"{test['iou_gain_over_otsu_low_vs_weak'][specimen]:+.3f}, over GMM "
                         f"{test['iou_gain_over_gmm_low_vs_weak'][specimen]:+.3f} on low-res")
        lines.append(f"calibration against the weak labels: ECE {test['ece_vs_weak']:.4f} (calibration.png)")
        lines.append("Table II: validation/table2.md, Fig. 10: validation/fig10_scatter.png, "
                     "Fig. 11: validation/fig11_overlays.png")
        return lines
