"""The sediment-grain job (Golikov et al. 2022): six-branch ResNet VAE, clusters, exports.

`python -m coretf.train --job=sediment_grains` trains the VAE of `coretf.models.resnet_vae` on
the `sediment_grains` builder (Adam, the paper's 1e-4 in its flagfile), keeps the epoch with the
lowest validation loss, reports the test losses, encodes every particle, scores K-means clusters
of the latent means against the true types (synthetic data) next to the two baselines of
`coretf.analysis.grain_clustering`, and exports two SavedModels: `export/` (the full model: six
layers in, reconstruction of the latent mean plus z_mean and z_log_var out) and `export_encoder/`
(six layers in, z_mean and z_log_var out). TensorBoard shows the three loss trackers and, each
epoch, input and reconstructed focal layers.
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

from coretf import callbacks as callbacks_lib
from coretf import export as export_lib
from coretf import plots
from coretf.analysis import grain_clustering
from coretf.config import option
from coretf.data import builders
from coretf.data import sediment_grains as grain_data
from coretf.jobs import base
from coretf.models import resnet_vae
from coretf_datasets.sediment_grains.sediment_grains_dataset_builder import UNKNOWN


@dataclasses.dataclass(frozen=True)
class GrainsConfig(base.TrainConfig):
    """Settings of the sediment_grains job."""

    vae_backbone: str = option("small", "Grain VAE branch: small (CPU default), resnet18, resnet50, "
                               "resnet152 (the paper).", choices=resnet_vae.BACKBONES)
    vae_shared_branches: bool = option(False, "One set of branch weights for all six focal layers.")
    vae_latent_dim: int = option(512, "Grain VAE latent size (the paper: 512).", minimum=1)
    vae_beta: float = option(1.0, "Weight of the KL term.", minimum=0)
    vae_reconstruction: str = option("sum", "sum: squared error summed per example (ELBO); mean: the "
                                     "paper's literal mean MSE.", choices=resnet_vae.RECONSTRUCTIONS)
    vae_imagenet_weights: str | None = option(
        None, "Local ImageNet weights file (*_notop.h5) for resnet50/resnet152 branches.")
    vae_clusters: int = option(100, "K of the K-means over the latent means.", minimum=1)
    vae_dihedral: bool = option(True, "Train on random rotations by 90 degrees and mirror images of each "
                                "particle, and cluster latent means averaged over its eight views (a "
                                "grain's orientation means nothing).")


def vae_serve(model: resnet_vae.GrainVAE, *, full: bool):
    """The serving function: (batch, 6, S, S, 3) layers -> z_mean, z_log_var (and reconstruction)."""

    def serve(layers):
        tf.debugging.assert_all_finite(layers, "coretf serving: input layers contain NaN or Inf")
        z_mean, z_log_var = model.encoder(layers, training=False)
        outputs = {"z_mean": tf.cast(z_mean, tf.float32), "z_log_var": tf.cast(z_log_var, tf.float32)}
        if full:
            outputs["reconstruction"] = tf.cast(model.decoder(z_mean, training=False), tf.float32)
        return outputs

    return serve


class SedimentGrainsJob(base.Job):
    """The grain VAE and its clusters (see the module docstring)."""

    name = "sediment_grains"
    config_class = GrainsConfig
    monitor, monitor_mode = "val_loss", "min"
    jit_compile = False  # compiling the six-branch graph took longer than minutes of training on a CPU

    def build_inputs(self, model_dir: str) -> base.Inputs:
        config = self.config
        self.builder = builders.folded(
            builders.get_builder(self.name, config.dataset, config.data_dir, config.manual_dir),
            config.folds, config.fold, keys=("sample_id", "position_id"))
        self.crop = self.builder.builder_config.crop_size
        train = grain_data.make_dataset(self.builder, "train", batch_size=config.batch_size, training=True,
                                    seed=config.seed, dihedral=config.vae_dihedral)
        self.validation = grain_data.make_dataset(self.builder, "validation", batch_size=config.batch_size,
                                              training=False)
        steps = config.steps_per_epoch or max(1, builders.split_size(self.builder, "train") // config.batch_size)
        return base.Inputs(train=train, validation=self.validation, steps_per_epoch=steps,
                           dataset=builders.dataset_name(self.builder))

    def build_model(self) -> keras.Model:
        config = self.config
        return resnet_vae.build_grain_vae(
            self.crop, config.vae_latent_dim, backbone=config.vae_backbone,
            shared_branches=config.vae_shared_branches, weights=config.vae_imagenet_weights,
            beta=config.vae_beta, reduction=config.vae_reconstruction, seed=config.seed)

    def callbacks(self, model_dir: str) -> list:
        sample = next(iter(self.validation.unbatch().batch(self.config.image_summaries))).numpy()
        return [callbacks_lib.ReconstructionImages(os.path.join(model_dir, "logs"), sample)]

    def evaluate(self, model: keras.Model, model_dir: str) -> dict:
        config = self.config
        test_ds = grain_data.make_dataset(self.builder, "test", batch_size=config.batch_size, training=False)
        test = {k: float(v) for k, v in model.evaluate(test_ds, verbose=0, return_dict=True).items()}
        splits = {s: grain_data.load_split(self.builder, s) for s in ("train", "validation", "test")}
        particles = {key: np.concatenate([splits[s][key] for s in splits]) for key in splits["test"]}
        latent = grain_clustering.encode_particles(lambda x: model.encoder.predict_on_batch(x)[0],
                                                 particles["layers"], dihedral=config.vae_dihedral)
        clusters = grain_clustering.score_against_types(latent, particles, UNKNOWN, config.vae_clusters,
                                                      config.seed)
        test_layers = splits["test"]["layers"][: config.image_summaries].astype(np.float32) / 255.0
        plots.save_reconstructions(os.path.join(model_dir, "test_predictions.png"), test_layers,
                             np.asarray(model.predict(test_layers, verbose=0)))
        return {"test": test, "clusters": clusters}

    def exports(self, model: keras.Model, metrics: dict) -> list:
        config = self.config
        metadata = {"job": self.name, "dataset": metrics["dataset"], "backbone": config.vae_backbone,
                    "crop_size": self.crop, "latent_dim": config.vae_latent_dim,
                    "dihedral": config.vae_dihedral, "layers": resnet_vae.NUM_LAYERS,
                    "input": "float32 (batch, 6, S, S, 3) RGB focal layers in [0, 1], lowest focus first",
                    "best_epoch": metrics["best_epoch"], "test_loss": metrics["test"]["loss"]}
        signature = [tf.TensorSpec([None, resnet_vae.NUM_LAYERS, self.crop, self.crop, 3], tf.float32,
                                   name="layers")]
        return [export_lib.SavedModelSpec("export", vae_serve(model, full=True),
                                          signature, {**metadata, "model": "full"}),
                export_lib.SavedModelSpec("export_encoder", vae_serve(model, full=False),
                                          signature, {**metadata, "model": "encoder"})]

    def summary_lines(self, metrics: dict) -> list[str]:
        test = metrics["test"]
        lines = [f"best epoch (validation loss): {metrics['best_epoch']} of {metrics['epochs']}",
                 f"test loss {test['loss']:.2f} = reconstruction {test['reconstruction_loss']:.2f} + "
                 f"beta * KL {test['kl_loss']:.2f}"]
        report = metrics.get("clusters")
        if report:
            lines += grain_clustering.score_lines(report)
        lines.append("encoder SavedModel: export_encoder/ beside export/")
        return lines
