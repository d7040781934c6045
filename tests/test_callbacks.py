"""BestCheckpoint keeps the best epoch across a restart; ImageSummaries writes its images."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from coretf import callbacks


def _model():
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Conv2D(2, 1)])
    model.compile(optimizer="adam", loss="mse")
    return model


def test_best_checkpoint_survives_restart(tmp_path):
    first = callbacks.BestCheckpoint(str(tmp_path), monitor="val_patch_iou")
    first.set_model(_model())
    first.on_epoch_end(0, {"val_patch_iou": 0.5})
    first.on_epoch_end(1, {"val_patch_iou": 0.7})
    first.on_epoch_end(2, {"val_patch_iou": 0.6})
    assert first.best()["epoch"] == 2
    restarted = callbacks.BestCheckpoint(str(tmp_path), monitor="val_patch_iou")
    restarted.set_model(_model())
    restarted.on_epoch_end(3, {"val_patch_iou": 0.65})  # worse than the record: ignored
    record = json.loads((tmp_path / "best.json").read_text())
    assert record["epoch"] == 2 and record["value"] == pytest.approx(0.7)
    restarted.on_epoch_end(4, {"val_patch_iou": float("nan")})
    assert restarted.best()["epoch"] == 2
    with pytest.raises(KeyError, match="val_loss"):
        callbacks.BestCheckpoint(str(tmp_path), monitor="val_loss").on_epoch_end(0, {})
    with pytest.raises(ValueError, match="mode"):
        callbacks.BestCheckpoint(str(tmp_path), monitor="x", mode="up")


def test_image_summaries_write_four_images(tmp_path):
    model = _model()
    images = np.random.default_rng(0).random((2, 4, 4, 3), dtype=np.float32)
    summaries = callbacks.ImageSummaries(str(tmp_path), images, np.ones((2, 4, 4, 1), np.int32))
    summaries.set_model(model)
    summaries.on_epoch_end(0)
    event_files = list((tmp_path / "images").glob("events.out.tfevents*"))
    tags = {value.tag for path in event_files for event in tf.compat.v1.train.summary_iterator(str(path))
            for value in event.summary.value}
    assert {"input", "true_mask", "predicted_mask", "confidence", "learning_rate"} <= tags
