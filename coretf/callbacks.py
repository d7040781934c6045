"""Training callbacks: the run's state for an exact resume, best-epoch checkpointing that survives
a restart, and TensorBoard pictures."""

from __future__ import annotations

import glob
import json
import math
import os

import keras
import numpy as np
import tensorflow as tf

from coretf.io import atomic_path, write_json
from coretf.labels import IGNORE


STATE_FILE = "state.json"  # TrainingState's record, replaced last


def seed_states(model: keras.Model) -> list:
    """The states of the model's random-number generators (Keras SeedGenerators: dropout, sampling).

    `save_weights` leaves them out, so a model restored from weights alone draws other random
    numbers than the run it continues.
    """
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


class TrainingState(keras.callbacks.Callback):
    """The run's state after each finished epoch, so that a rerun after a kill ends where an
    uninterrupted run would.

    Saved: the weights with the optimizer's state (moments, step count, hence the learning-rate
    schedule) in `state_<epoch>.weights.h5`, and in `state.json` the number of finished epochs,
    that file's name and the random-number generators' states (`seed_states`, in the model's order). The training
    stream's position follows from the epoch count: the runner skips that many epochs of batches
    of the seeded pipeline (`coretf.runner`). Each file is written whole under a temporary name
    and `state.json` is replaced last, so a kill at any moment leaves the previous epoch's state
    intact. Put it after the other callbacks: an epoch counts as finished once every callback has
    recorded it.

    Args:
        directory: where the state files live (`<model_dir>/checkpoints`).
    """

    def __init__(self, directory: str):
        super().__init__()
        self.directory = directory
        self.record_path = os.path.join(directory, STATE_FILE)

    def finished_epochs(self) -> int:
        """How many epochs the saved state holds (0 without one)."""
        record = _read_state(self.directory)
        return int(record["epoch"]) if record else 0

    def restore(self, model: keras.Model, directory: str | None = None) -> int:
        """Loads the state saved in `directory` (default: this one) into a compiled `model`.
        Returns the finished epochs (0: none saved)."""
        directory = directory or self.directory
        record_path = os.path.join(directory, STATE_FILE)
        record = _read_state(directory)
        if record is None:
            return 0
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(os.path.join(directory, record["weights"]))
        states = seed_states(model)  # in the model's order (their names vary between instances)
        saved = [np.asarray(value) for value in record["seed_states"]]
        if [v.shape for v in saved] != [tuple(v.shape) for v in states]:
            raise ValueError(f"{record_path}: {len(saved)} random-number generator(s) saved, "
                             f"the model has {len(states)}; was the model changed? Delete "
                             f"{directory} to start again")
        for variable, value in zip(states, saved):
            variable.assign(value.astype(variable.dtype))
        return int(record["epoch"])

    def on_epoch_end(self, epoch, logs=None):
        name = f"state_{epoch + 1:03d}.weights.h5"
        with atomic_path(os.path.join(self.directory, name)) as tmp:
            self.model.save_weights(tmp)
        write_json(self.record_path, {
            "epoch": epoch + 1, "weights": name,
            "seed_states": [np.asarray(v.numpy()).tolist() for v in seed_states(self.model)]})
        for old in glob.glob(os.path.join(self.directory, "state_*.weights.h5")):
            if os.path.basename(old) != name:
                os.remove(old)


def _read_state(directory: str) -> dict | None:
    """The `state.json` record of `directory` (`TrainingState`), or None without one."""
    path = os.path.join(directory, STATE_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


class BestCheckpoint(keras.callbacks.Callback):
    """Keeps the weights of the best epoch by a validation metric, across restarts.

    Keras' ModelCheckpoint forgets the best value when a run resumes, and would then overwrite
    the best weights with a worse epoch; here the record is stored beside the weights.

    Args:
        directory: where `best.weights.h5` and `best.json` are written.
        monitor: a key of the epoch logs, e.g. "val_patch_iou".
        mode: "max" or "min".
    """

    def __init__(self, directory: str, monitor: str, mode: str = "max"):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.directory, self.monitor, self.mode = directory, monitor, mode
        self.weights_path = os.path.join(directory, "best.weights.h5")
        self.record_path = os.path.join(directory, "best.json")

    def best(self) -> dict | None:
        """{"epoch": 1-based epoch, "value": ..., "logs": {...}} of the best epoch so far, or None."""
        if not os.path.exists(self.record_path):
            return None
        with open(self.record_path) as f:
            return json.load(f)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(f"BestCheckpoint: {self.monitor!r} not in epoch logs {sorted(logs)}")
        value = float(logs[self.monitor])
        best = self.best()
        better = best is None or (value > best["value"] if self.mode == "max" else value < best["value"])
        if not (better and math.isfinite(value)):
            return
        with atomic_path(self.weights_path) as tmp:
            self.model.save_weights(tmp)
        record = {"epoch": epoch + 1, "value": value, "logs": {k: float(v) for k, v in logs.items()}}
        write_json(self.record_path, record)


class ImageSummaries(keras.callbacks.Callback):
    """Writes input, true mask, predicted mask and confidence images to TensorBoard each epoch.

    Args:
        log_dir: TensorBoard directory (an `images` sub-folder is used).
        images: (N, H, W, 3) float32 in [0, 1], a fixed validation batch.
        masks: (N, H, W, 1) integer labels.
        confidence_class: the class whose probability is shown as confidence (1 = undisturbed).
    """

    def __init__(self, log_dir: str, images: np.ndarray, masks: np.ndarray, confidence_class: int = 1):
        super().__init__()
        self.images, self.masks = images, masks
        self.confidence_class = confidence_class
        self.writer = tf.summary.create_file_writer(os.path.join(log_dir, "images"))

    def on_epoch_end(self, epoch, logs=None):
        logits = np.asarray(self.model.predict(self.images, verbose=0), np.float32)
        if logits.shape[-1] == 1:
            confidence = 1.0 / (1.0 + np.exp(-logits))
            predicted = (logits > 0).astype(np.float32)
            if self.confidence_class == 0:
                confidence = 1.0 - confidence
        else:
            probabilities = tf.nn.softmax(logits, axis=-1).numpy()
            confidence = probabilities[..., self.confidence_class : self.confidence_class + 1]
            predicted = np.argmax(logits, axis=-1)[..., None].astype(np.float32)
        scale = max(1, logits.shape[-1] - 1)
        with self.writer.as_default(step=epoch + 1):
            tf.summary.image("input", self.images, max_outputs=len(self.images))
            shown = np.where(self.masks == IGNORE, 0.5 * scale, self.masks).astype(np.float32) / scale
            tf.summary.image("true_mask", shown, max_outputs=len(self.images))  # ignored pixels grey
            tf.summary.image("predicted_mask", predicted / scale, max_outputs=len(self.images))
            tf.summary.image("confidence", confidence, max_outputs=len(self.images))
            tf.summary.scalar("learning_rate", float(keras.ops.convert_to_numpy(
                self.model.optimizer.learning_rate)))
        self.writer.flush()


def side_by_side(layers: np.ndarray, reconstruction: np.ndarray, shown=(0, 2, 5)) -> np.ndarray:
    """(N, 2S, len(shown)*S, 3): focal layers `shown` on top, their reconstructions below.

    Args:
        layers, reconstruction: (N, 6, S, S, 3) float32 in [0, 1].
    """
    top = np.concatenate([layers[:, i] for i in shown], axis=2)
    bottom = np.concatenate([reconstruction[:, i] for i in shown], axis=2)
    return np.concatenate([top, bottom], axis=1).astype(np.float32)


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
