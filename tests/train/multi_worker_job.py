"""A tiny job for the multi-worker test, and the command each worker runs:

    TF_CONFIG='{"cluster": ..., "task": ...}' python tests/train/multi_worker_job.py --job=toy_stream
        --strategy=multi_worker --model_dir=... [other coretf.train flags]

The job has what makes distributed training differ if done wrong: a shuffled, seeded, randomly
augmented stream (each worker must see its half of every global batch) and no BatchNorm (whose
per-replica statistics would make two workers differ from one by design).
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from coretf import export as export_lib
from coretf import metrics as metrics_lib
from coretf import train
from coretf.config import option
from coretf.jobs import base
from coretf.losses import WeightedSparseCrossEntropy


@dataclasses.dataclass(frozen=True)
class StreamConfig(base.TrainConfig):
    """Settings of the toy stream job."""

    job: str = option("toy_stream", "Which job to train.")


def _split(seed: int, count: int):
    images = np.random.default_rng(seed).random((count, 8, 8, 1)).astype(np.float32)
    return images, (images > 0.6).astype(np.int32)


class StreamJob(base.Job):
    """Bright-pixel segmentation from a shuffled, noise-augmented stream."""

    name = "toy_stream"
    config_class = StreamConfig
    monitor, monitor_mode = "val_pooled_iou", "max"

    def build_inputs(self, model_dir):
        seed = self.config.seed
        train_ds = tf.data.Dataset.from_tensor_slices(_split(1, 64)).shuffle(64, seed=seed).repeat()
        noise = tf.data.Dataset.random(seed=seed).batch(2)
        train_ds = tf.data.Dataset.zip((train_ds, noise)).map(
            lambda pair, s: (pair[0] + 0.05 * tf.random.stateless_normal((8, 8, 1), s), pair[1]))
        validation = tf.data.Dataset.from_tensor_slices(_split(2, 16)).batch(self.config.batch_size)
        return base.Inputs(train=train_ds.batch(self.config.batch_size, drop_remainder=True),
                           validation=validation, steps_per_epoch=4, dataset="toy/stream:1.0.0")

    def build_model(self):
        inputs = keras.Input((None, None, 1))
        hidden = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
        return keras.Model(inputs, keras.layers.Conv2D(2, 1, name="logits")(hidden))

    def build_loss(self):
        return WeightedSparseCrossEntropy()

    def build_metrics(self):
        return metrics_lib.segmentation_metrics(1)

    def evaluate(self, model, model_dir):
        images, labels = _split(3, 8)
        predicted = np.argmax(model.predict_on_batch(images), -1)
        return {"test": {"accuracy": float(np.mean(predicted == labels[..., 0]))}}

    def exports(self, model, metrics):
        return [export_lib.segmentation_spec(model, {"job": self.name, "input_multiple": 1,
                                                     "confidence_class": 1, "tile_size": 8})]


if __name__ == "__main__":
    train.cli()
