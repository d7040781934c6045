"""The sediment-grain job (Golikov et al. 2022): six-branch ResNet VAE, clusters, exports.

`run` is what `python -m coretf.train --job=sediment_grains` calls: it trains the VAE of
`coretf.models.resnet_vae` on the `sediment_grains` builder (Adam, the paper's 1e-4 in its
flagfile), keeps the epoch with the lowest validation loss, reports the test losses, encodes
every particle, scores K-means clusters of the latent means against the true types (synthetic
data) next to the two baselines of `coretf.analysis.grain_clusters`, and exports two SavedModels:
`export/` (the full model: six layers in, reconstruction of the latent mean plus z_mean and
z_log_var out) and `export_encoder/` (six layers in, z_mean and z_log_var out). TensorBoard shows
the three loss trackers and, each epoch, input and reconstructed focal layers.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from coretf import io as coretf_io
from coretf.analysis import grain_clustering
from coretf.data import grains
from coretf.flags import TrainConfig
from coretf.models import resnet_vae
from coretf.train import fit_verbosity, get_strategy, standard_callbacks
from coretf_datasets.sediment_grains.sediment_grains_dataset_builder import UNKNOWN

class ReconstructionImages(keras.callbacks.Callback):
    """Each epoch: a fixed validation batch's layers 0, 2, 5 beside their reconstructions, in TensorBoard.

    Args:
        log_dir: TensorBoard directory (an `images` sub-folder is used).
        layers: (N, 6, S, S, 3) float32 in [0, 1].
    """

    def __init__(self, log_dir: str, layers: np.ndarray):
        super().__init__()
        self.layers = layers
        self.writer = tf.summary.create_file_writer(os.path.join(log_dir, "images"))

    def on_epoch_end(self, epoch, logs=None):
        reconstruction = np.asarray(self.model.predict(self.layers, verbose=0))
        with self.writer.as_default(step=epoch + 1):
            tf.summary.image("input_vs_reconstruction", side_by_side(self.layers, reconstruction),
                             max_outputs=len(self.layers))
        self.writer.flush()


def side_by_side(layers: np.ndarray, reconstruction: np.ndarray, shown=(0, 2, 5)) -> np.ndarray:
    """(N, 2S, len(shown)*S, 3): input layers on top, their reconstructions below."""
    top = np.concatenate([layers[:, i] for i in shown], axis=2)
    bottom = np.concatenate([reconstruction[:, i] for i in shown], axis=2)
    return np.concatenate([top, bottom], axis=1).astype(np.float32)


class _Serving(tf.Module):
    def __init__(self, model: resnet_vae.GrainVAE, crop_size: int, metadata: dict, full: bool):
        super().__init__()
        self.encoder, self.decoder, self.full = model.encoder, model.decoder, full
        self._metadata_json = json.dumps(metadata, sort_keys=True)
        self.serve = tf.function(self._serve, input_signature=[
            tf.TensorSpec([None, resnet_vae.NUM_LAYERS, crop_size, crop_size, 3], tf.float32, name="layers")])

    def _serve(self, layers):
        tf.debugging.assert_all_finite(layers, "coretf serving: input layers contain NaN or Inf")
        z_mean, z_log_var = self.encoder(layers, training=False)
        outputs = {"z_mean": tf.cast(z_mean, tf.float32), "z_log_var": tf.cast(z_log_var, tf.float32)}
        if self.full:
            outputs["reconstruction"] = tf.cast(self.decoder(z_mean, training=False), tf.float32)
        return outputs

    @tf.function(input_signature=[])
    def metadata(self):
        return {"json": tf.constant(self._metadata_json)}


def export_vae(model: resnet_vae.GrainVAE, export_dir: str, crop_size: int, metadata: dict, *, full: bool) -> None:
    """Saves the encoder (full=False) or the whole VAE as a SavedModel, atomically.

    Signatures: `serving_default` takes (batch, 6, S, S, 3) float32 in [0, 1] and returns
    z_mean, z_log_var (batch, latent) and, for the full model, reconstruction (batch, 6, S, S, 3)
    decoded from z_mean; `metadata` returns the JSON of `metadata`.
    """
    module = _Serving(model, crop_size, {**metadata, "model": "full" if full else "encoder"}, full)
    parent = os.path.dirname(os.path.abspath(export_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve, "metadata": module.metadata})
        if os.path.exists(export_dir):
            shutil.rmtree(export_dir)
        os.replace(tmp, export_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def run(config: TrainConfig, model_dir: str, policy: str) -> dict:
    """Trains the VAE, keeps the best validation epoch, scores clusters, exports; returns metrics."""
    builder = grains.get_builder(config.dataset, config.data_dir, config.manual_dir)
    crop = builder.builder_config.crop_size
    train_ds = grains.make_dataset(builder, "train", batch_size=config.batch_size, training=True, seed=config.seed,
                                   dihedral=config.vae_dihedral)
    val_ds = grains.make_dataset(builder, "validation", batch_size=config.batch_size, training=False)
    test_ds = grains.make_dataset(builder, "test", batch_size=config.batch_size, training=False)
    steps = config.steps_per_epoch or max(1, grains.split_size(builder, "train") // config.batch_size)
    with get_strategy(config.strategy).scope():
        model = resnet_vae.build_grain_vae(
            crop, config.vae_latent_dim, backbone=config.vae_backbone, shared_branches=config.vae_shared_branches,
            weights=config.vae_imagenet_weights, beta=config.vae_beta, reduction=config.vae_reconstruction,
            seed=config.seed)
        # No XLA: compiling the six-branch graph took longer than minutes of training on a CPU.
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=False)
    sample = next(iter(val_ds.unbatch().batch(config.image_summaries))).numpy()
    callbacks, best = standard_callbacks(model_dir, monitor="val_loss", mode="min")
    callbacks.append(ReconstructionImages(os.path.join(model_dir, "logs"), sample))
    model.fit(train_ds, shuffle=False, epochs=config.epochs, steps_per_epoch=steps, validation_data=val_ds,
              validation_steps=config.validation_steps or None, callbacks=callbacks, verbose=fit_verbosity())
    record = best.best()
    if record is None:
        raise RuntimeError(f"{model_dir}: no epoch finished with a finite val_loss")
    model.load_weights(best.weights_path)
    test = {k: float(v) for k, v in model.evaluate(test_ds, verbose=0, return_dict=True).items()}

    splits = {s: grains.load_split(builder, s) for s in ("train", "validation", "test")}
    particles = {key: np.concatenate([splits[s][key] for s in splits]) for key in splits["test"]}
    latent = grain_clustering.encode_particles(lambda x: model.encoder.predict_on_batch(x)[0], particles["layers"],
                                             dihedral=config.vae_dihedral)
    clusters = grain_clustering.score_against_types(latent, particles, UNKNOWN, config.vae_clusters, config.seed)
    test_layers = splits["test"]["layers"][: config.image_summaries].astype(np.float32) / 255.0
    picture = side_by_side(test_layers, np.asarray(model.predict(test_layers, verbose=0)))
    coretf_io.write_image(os.path.join(model_dir, "test_predictions.png"),
                          coretf_io.to_uint8(np.concatenate(list(picture), axis=0)))
    metrics = {
        "dataset": grains.dataset_name(builder),
        "best_epoch": record["epoch"],
        "epochs": config.epochs,
        "validation": {k[len("val_"):]: v for k, v in record["logs"].items() if k.startswith("val_")},
        "test": test,
        "clusters": clusters,
        "dtype_policy": policy,
    }
    coretf_io.write_json(os.path.join(model_dir, "metrics.json"), metrics)
    metadata = {"job": config.job, "dataset": grains.dataset_name(builder), "backbone": config.vae_backbone,
                "crop_size": crop, "latent_dim": config.vae_latent_dim, "dihedral": config.vae_dihedral,
                "layers": resnet_vae.NUM_LAYERS,
                "input": "float32 (batch, 6, S, S, 3) RGB focal layers in [0, 1], lowest focus first",
                "best_epoch": record["epoch"], "test_loss": test["loss"]}
    export_vae(model, os.path.join(model_dir, "export"), crop, metadata, full=True)
    export_vae(model, os.path.join(model_dir, "export_encoder"), crop, metadata, full=False)
    return metrics


def summary_lines(metrics: dict) -> list[str]:
    """What the console shows after training."""
    test = metrics["test"]
    lines = [f"best epoch (validation loss): {metrics['best_epoch']} of {metrics['epochs']}",
             f"test loss {test['loss']:.2f} = reconstruction {test['reconstruction_loss']:.2f} + "
             f"beta * KL {test['kl_loss']:.2f}"]
    report = metrics.get("clusters")
    if report:
        lines += grain_clustering.score_lines(report)
    lines.append("encoder SavedModel: export_encoder/ beside export/")
    return lines
