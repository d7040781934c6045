"""A fifth job is one class: the runner trains, picks the best epoch, resumes and exports it.

The toy job below lives in this test file only. Defining it registers it: `--job=toy_bright`
and its `--toy_side` flag appear in `python -m coretf.train`'s flags, and `coretf.runner.run`
does for it all it does for the four real jobs.
"""

import csv
import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from coretf import export as export_lib
from coretf import flags as coretf_flags
from coretf import metrics as metrics_lib
from coretf import runner, serving, train
from coretf.config import option
from coretf.jobs import base
from coretf.losses import WeightedSparseCrossEntropy


@dataclasses.dataclass(frozen=True)
class ToyConfig(base.TrainConfig):
    """Settings of the toy job."""

    job: str = option("toy_bright", "Which job to train.")
    toy_side: int = option(8, "Side of the toy images, px.", minimum=4)


def _split(seed: int, count: int, side: int):
    images = np.random.default_rng(seed).random((count, side, side, 1)).astype(np.float32)
    return images, (images > 0.6).astype(np.int32)  # bright pixels are class 1


class ToyJob(base.Job):
    """Bright-pixel segmentation by a 1x1 convolution."""

    name = "toy_bright"
    config_class = ToyConfig
    monitor, monitor_mode = "val_pooled_iou", "max"

    def build_inputs(self, model_dir):
        side, batch = self.config.toy_side, self.config.batch_size
        train_ds = tf.data.Dataset.from_tensor_slices(_split(1, 16, side)).repeat().batch(batch)
        validation = tf.data.Dataset.from_tensor_slices(_split(2, 8, side)).batch(batch)
        return base.Inputs(train=train_ds, validation=validation, steps_per_epoch=2, dataset="toy/bright:1.0.0")

    def build_model(self):
        inputs = keras.Input((None, None, 1))
        return keras.Model(inputs, keras.layers.Conv2D(2, 1, name="logits")(inputs))

    def build_loss(self):
        return WeightedSparseCrossEntropy()

    def build_metrics(self):
        return metrics_lib.segmentation_metrics(1)

    def evaluate(self, model, model_dir):
        images, labels = _split(3, 8, self.config.toy_side)
        predicted = np.argmax(model.predict_on_batch(images), -1)
        return {"test": {"accuracy": float(np.mean(predicted == labels[..., 0]))}}

    def exports(self, model, metrics):
        return [export_lib.segmentation_spec(model, {"job": self.name, "input_multiple": 1,
                                                     "confidence_class": 1, "tile_size": 8})]


def test_a_job_defined_anywhere_is_registered():
    assert "toy_bright" in base.job_names() and base.get_job("toy_bright") is ToyJob
    assert {"sediment_cores", "ice_ct", "rock_ct", "sediment_grains"} <= set(base.job_names())
    with pytest.raises(ValueError, match="--job='granite'"):
        base.get_job("granite")
    with pytest.raises(TypeError, match="expected a ToyConfig"):
        ToyJob(base.TrainConfig())


def test_runner_trains_keeps_the_best_epoch_resumes_and_exports(tmp_path):
    config = ToyConfig(batch_size=4, epochs=3, learning_rate=0.05, mixed_precision="float32")
    model_dir = tmp_path / "model"
    metrics = runner.run(ToyJob(config), str(model_dir))
    assert json.loads((model_dir / "metrics.json").read_text()) == metrics
    assert ToyConfig.from_dict(json.loads((model_dir / "config.json").read_text())) == config
    with open(model_dir / "history.csv") as f:
        history = list(csv.DictReader(f))
    best = int(np.argmax([float(row["val_pooled_iou"]) for row in history])) + 1
    assert metrics["best_epoch"] == best and metrics["epochs"] == 3 and metrics["steps_per_epoch"] == 2
    assert metrics["validation"]["pooled_iou"] == pytest.approx(float(history[best - 1]["val_pooled_iou"]))
    assert metrics["dataset"] == "toy/bright:1.0.0" and metrics["dtype_policy"] == "float32"
    assert metrics["provenance"]["keras"] == keras.__version__ and metrics["provenance"]["date"].endswith("+00:00")
    assert metrics["final_train_loss"] == pytest.approx(float(history[-1]["loss"]))
    for key in ("train_seconds", "evaluate_seconds"):
        assert metrics[key] >= 0
    for name in ("checkpoints/epoch_003.weights.h5", "best.weights.h5", "best.json", "export/saved_model.pb"):
        assert (model_dir / name).exists(), name
    assert list((model_dir / "logs").rglob("events.out.tfevents*"))
    # the export holds the best epoch's weights, not the last epoch's
    model = ToyJob(config).build_model()
    model.load_weights(model_dir / "best.weights.h5")
    images = _split(4, 2, 8)[0]
    served = serving.load(str(model_dir / "export"))
    np.testing.assert_allclose(served(images)["probabilities"],
                               tf.nn.softmax(model(images), -1).numpy(), atol=1e-5)
    # a rerun with more epochs trains only the new one
    runner.run(ToyJob(dataclasses.replace(config, epochs=4)), str(model_dir))
    with open(model_dir / "history.csv") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == [0, 1, 2, 3]


def test_the_train_command_takes_the_toy_job_and_its_flags(tmp_path, capsys):
    flag_values = flags.FlagValues()
    train.define_flags(flag_values)
    assert "toy_side" in flag_values and "vae_beta" in flag_values and "rock_threshold" in flag_values
    flag_values(["train", "--job=toy_bright", "--toy_side=6", "--epochs=1", "--batch_size=2",
                 "--mixed_precision=float32", f"--model_dir={tmp_path / 'model'}"])
    metrics = train.run(flag_values)
    assert metrics["epochs"] == 1 and "best epoch (val_pooled_iou): 1 of 1" in capsys.readouterr().out
    assert "--toy_side=6" in (tmp_path / "model" / "flags.txt").read_text()
    assert json.loads((tmp_path / "model" / "config.json").read_text())["toy_side"] == 6
    again = flags.FlagValues()  # flags.txt is a flagfile that gives the same configuration back
    train.define_flags(again)
    again(["train", f"--flagfile={tmp_path / 'model' / 'flags.txt'}"])
    assert coretf_flags.job_from_flags(again).config == ToyConfig.from_dict(
        json.loads((tmp_path / "model" / "config.json").read_text()))
    other = flags.FlagValues()
    train.define_flags(other)
    other(["train", "--job=toy_bright", "--rock_threshold=0.3", f"--model_dir={tmp_path / 'bad'}"])
    with pytest.raises(ValueError, match="--rock_threshold is not a setting of --job=toy_bright"):
        train.run(other)
    assert not (tmp_path / "bad").exists()


def test_init_from_a_trained_model_and_mismatched_layers(tmp_path):
    """--init_from copies a trained model's weights by layer name; a layer of another shape stops
    the run, naming it, unless --init_skip_mismatch keeps it fresh."""
    from coretf import warm_start

    config = ToyConfig(batch_size=4, epochs=1, learning_rate=0.05, mixed_precision="float32")
    runner.run(ToyJob(config), str(tmp_path / "source"))
    trained = keras.models.load_model(tmp_path / "source" / "model.keras", compile=False)
    fresh = ToyJob(config).build_model()
    report = warm_start.warm_start(fresh, str(tmp_path / "source" / "export"))  # the export finds its model
    assert report["loaded"] == 1 and report["skipped"] == []
    np.testing.assert_array_equal(fresh.get_layer("logits").get_weights()[0],
                                  trained.get_layer("logits").get_weights()[0])
    inputs = keras.Input((None, None, 1))
    wider = keras.Model(inputs, keras.layers.Conv2D(3, 1, name="logits")(keras.layers.Conv2D(
        2, 1, name="extra")(inputs)))
    with pytest.raises(ValueError, match=r"2 layer\(s\) do not match: extra \(not in the source model\); "
                                         r"logits \(weights \[\(1, 1, 2, 3\), \(3,\)\] here"):
        warm_start.warm_start(wider, str(tmp_path / "source"))
    with pytest.raises(ValueError, match="no layer of .* matches"):
        warm_start.warm_start(wider, str(tmp_path / "source"), skip_mismatch=True)
    with pytest.raises(ValueError, match="--init_from=.*nowhere: no trained model there"):
        warm_start.warm_start(fresh, str(tmp_path / "nowhere"))
    metrics = runner.run(ToyJob(dataclasses.replace(config, init_from=str(tmp_path / "source"))),
                         str(tmp_path / "tuned"))
    assert metrics["init_from"]["loaded"] == 1 and metrics["init_from"]["source"].endswith("model.keras")
