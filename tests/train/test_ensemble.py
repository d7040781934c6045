"""Ensembles (--seeds): members trained into one model directory, figures as mean +- SD, the
ensemble evaluated, and one export whose outputs are the mean, spread and entropy of its members."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from coretf import ensemble, runner, serving
from coretf.jobs.sediment_cores import CoresConfig


def _constant_logits(values):
    inputs = keras.Input((None, None, 1))
    outputs = keras.layers.Conv2D(len(values), 1, kernel_initializer="zeros",
                                  bias_initializer=keras.initializers.Constant(values))(inputs)
    return keras.Model(inputs, outputs)


def test_ensemble_network_gives_the_log_of_the_mean_probability():
    members = [_constant_logits([0.0, 2.0]), _constant_logits([1.0, -1.0])]
    image = np.zeros((1, 4, 4, 1), np.float32)
    expected = np.mean([tf.nn.softmax(m(image), -1).numpy() for m in members], axis=0)
    logits = ensemble.ensemble_network(members)(image).numpy()
    np.testing.assert_allclose(tf.nn.softmax(logits, -1).numpy(), expected, rtol=1e-5)
    # one-logit members: the logit of the mean sigmoid probability
    single = [_constant_logits([2.0]), _constant_logits([-1.0])]
    mean = np.mean([1 / (1 + np.exp(-v)) for v in (2.0, -1.0)])
    np.testing.assert_allclose(tf.sigmoid(ensemble.ensemble_network(single)(image)).numpy(), mean, rtol=1e-5)


def test_seeds_train_members_and_export_their_mean(tmp_path):
    config = CoresConfig(dataset="synthetic_tiny", data_dir=str(tmp_path / "data"), filters=(4,), depth=2,
                         batch_size=2, epochs=1, steps_per_epoch=1, image_summaries=2, seeds=(0, 1),
                         mixed_precision="float32")
    model_dir = tmp_path / "model"
    metrics = runner.train_and_evaluate(config, str(model_dir))
    assert metrics["members"] == 2 and metrics["member_dirs"] == ["seed_0", "seed_1"] and metrics["seeds"] == [0, 1]
    per_member = [json.loads((model_dir / d / "metrics.json").read_text()) for d in metrics["member_dirs"]]
    ious = [m["test"]["patch_iou"] for m in per_member]
    assert metrics["mean"]["test"]["patch_iou"] == pytest.approx(np.mean(ious))
    assert metrics["sd"]["test"]["patch_iou"] == pytest.approx(np.std(ious))
    assert per_member[0]["test"]["loss"] != per_member[1]["test"]["loss"]  # other seeds, other members
    assert 0.0 <= metrics["ensemble"]["test"]["patch_iou"] <= 1.0 and (model_dir / "calibration.png").exists()
    assert json.loads((model_dir / "metrics.json").read_text()) == metrics

    members = [keras.saving.load_model(model_dir / d / "model.keras") for d in metrics["member_dirs"]]
    served = serving.load(str(model_dir / "export"))
    assert served.metadata["members"] == 2
    images = np.random.default_rng(0).random((2, 40, 52, 3), dtype=np.float32)
    outputs = served(images)
    probabilities = np.stack([tf.nn.softmax(m(images, training=False), -1).numpy() for m in members])
    mean = probabilities.mean(0)
    np.testing.assert_allclose(outputs["probabilities"], mean, atol=1e-4)
    np.testing.assert_allclose(outputs["confidence"], mean[..., 1], atol=1e-4)
    np.testing.assert_allclose(outputs["spread"], probabilities[..., 1].std(0), atol=1e-4)
    np.testing.assert_allclose(outputs["entropy"], -(mean * np.log(mean)).sum(-1), atol=1e-4)
    assert outputs["spread"].max() > 0  # two members that disagree somewhere


def test_seeds_listed_twice_or_beside_folds_are_refused(tmp_path):
    for seeds, folds, message in (((1, 1), 0, "listed twice"), ((0, 1), 3, "give one of them")):
        config = CoresConfig(dataset="synthetic_tiny", data_dir=str(tmp_path / "data"), seeds=seeds, folds=folds)
        with pytest.raises(ValueError, match=message):
            runner.train_and_evaluate(config, str(tmp_path / "model"))


def test_member_tables_give_mean_and_sd(tmp_path):
    from coretf.analysis import ice_evaluation
    from coretf.jobs.rock_ct import RockConfig, RockCtJob

    row = {"specimen": "S1", "method": "network", "test_slices": 4, "f1_vs_weak": 0.9, "iou_vs_weak": 0.8,
           "accuracy_vs_weak": 0.95, "f1_vs_truth": float("nan"), "iou_vs_truth": float("nan"),
           "accuracy_vs_truth": float("nan"), "density_g_cm3": 0.5, "weight_g": 12.5, "weight_error_pct": -2.0}
    sd = {**{k: 0.0 for k in row if k not in ("specimen", "method")}, "iou_vs_weak": 0.02, "weight_error_pct": 0.5}
    table = ice_evaluation.markdown_table([row], [sd])
    assert "| 80.0 +- 2.0 |" in table and "| -2.0 +- 0.5 |" in table and "| n/a |" in table
    assert "+-" not in ice_evaluation.markdown_table([row])  # one model: plain figures
    stacks = {"berea": {"rock_type": "sandstone", "in_sample": False, "iou": 0.5, "precision": 0.6,
                        "recall": 0.7, "accuracy": 0.9, "logloss": 0.3, "ece": 0.05}}
    spread = {"berea": {k: 0.1 if isinstance(v, float) else None for k, v in stacks["berea"].items()}}
    job = RockCtJob(RockConfig())
    assert job.member_tables(str(tmp_path), {"stacks": stacks}, {"stacks": spread}) == ["stacks.md"]
    text = (tmp_path / "stacks.md").read_text()
    assert "| berea | sandstone | no | 0.500 +- 0.100 | 0.600 +- 0.100 |" in text
