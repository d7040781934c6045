"""End-to-end smoke test of `python -m coretf.train`: two steps, outputs, export equality, resume."""

import csv
import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from coretf import runner, serving
from coretf.jobs.sediment_cores import CoresConfig, build_network
from tests import serving_check

REPO = pathlib.Path(__file__).resolve().parents[2]


def _run_train(tmp_path, *extra):
    command = [sys.executable, "-m", "coretf.train", f"--flagfile={REPO / 'trainers' / 'smoke.flags'}",
               f"--model_dir={tmp_path / 'model'}", f"--data_dir={tmp_path / 'data'}", *extra]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("smoke")
    result = _run_train(tmp_path, "--temperature_scaling")
    return tmp_path, result


def test_model_directory_holds_every_output(trained):
    tmp_path, result = trained
    model_dir = tmp_path / "model"
    assert "test Patch-IoU" in result.stdout
    assert "--dataset=synthetic_tiny" in (model_dir / "flags.txt").read_text()
    assert (model_dir / "checkpoints" / "epoch_001.weights.h5").exists()
    assert (model_dir / "best.weights.h5").exists()
    events = list((model_dir / "logs").rglob("events.out.tfevents*"))
    assert {p.parent.name for p in events} >= {"train", "validation", "images"}
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["best_epoch"] == 1
    for key in ("accuracy", "patch_iou", "pooled_iou", "empty_patches", "loss", "patch_iou_sd"):
        assert np.isfinite(metrics["test"][key]), key
    assert 0.0 <= metrics["test"]["patch_iou"] <= 1.0
    assert metrics["test"]["patches"] > 0
    # Calibration over every test pixel (the tiny set ignores none), its ECE the bins' own.
    bins = metrics["test"]["calibration"]["bins"]
    pixels = sum(b["pixels"] for b in bins)
    patch = int(np.sqrt(metrics["test"]["calibration"]["pixels"] / metrics["test"]["patches"]))
    assert pixels == metrics["test"]["calibration"]["pixels"] == metrics["test"]["patches"] * patch**2
    ece = sum(b["pixels"] / pixels * abs(b["accuracy"] - b["confidence"]) for b in bins if b["pixels"])
    assert metrics["test"]["ece"] == pytest.approx(ece) and 0.0 <= ece <= 1.0
    assert (model_dir / "calibration.png").stat().st_size > 0
    scaling = metrics["temperature_scaling"]
    assert 0.05 <= scaling["temperature"] <= 20 and scaling["pixels"] > 0
    assert scaling["validation_nll_after"] <= scaling["validation_nll_before"] + 1e-9
    assert (model_dir / "test_predictions.png").stat().st_size > 0
    assert (model_dir / "export" / "saved_model.pb").exists()


def test_saved_model_matches_keras_model_and_carries_metadata(trained):
    tmp_path, _ = trained
    model_dir = tmp_path / "model"
    config = CoresConfig.from_dict(json.loads((model_dir / "config.json").read_text()))
    model, multiple = build_network(config)
    model.load_weights(model_dir / "best.weights.h5")
    loaded = tf.saved_model.load(str(model_dir / "export"))
    images = np.random.default_rng(1).random((2, 64, 96, 3), dtype=np.float32)
    metadata = serving.read_metadata(loaded)
    # --temperature_scaling: the export serves softmax(logits / T) with the T of metrics.json
    temperature = json.loads((model_dir / "metrics.json").read_text())["temperature_scaling"]["temperature"]
    assert metadata["temperature"] == pytest.approx(temperature)
    raw = model(images, training=False)
    expected = tf.nn.softmax(raw / temperature, -1).numpy()
    served = loaded.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-4)
    np.testing.assert_allclose(served["confidence"].numpy(), expected[..., 1], atol=1e-4)
    # any height and width: padded inside the SavedModel, cropped back
    odd = loaded.signatures["serving_default"](images=tf.constant(images[:, :37, :51]))
    assert odd["probabilities"].shape == (2, 37, 51, 2)
    assert metadata["tile_size"] == 64 and metadata["input_multiple"] == multiple == 4
    assert metadata["class_names"] == ["disturbed_or_background", "undisturbed"]
    assert metadata["px_per_cm"] == pytest.approx(12.0)
    assert metadata["batchnorm_folded"] is True
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
        loaded.signatures["serving_default"](images=tf.constant(np.full((1, 8, 8, 3), np.nan, np.float32)))
    # model.keras is the kept model: --init_from starts a new run from it, every layer matched
    from coretf import warm_start

    fresh, _ = build_network(config)
    assert warm_start.warm_start(fresh, str(model_dir))["skipped"] == []
    np.testing.assert_allclose(tf.nn.softmax(fresh(images, training=False), -1).numpy(),
                               tf.nn.softmax(raw, -1).numpy(), atol=1e-5)  # the logits before scaling


def test_export_serves_from_a_session_loader_and_saved_model_cli(trained, tmp_path):
    """TF Serving's way (a TF1 session loader) and `saved_model_cli run` give the Python outputs;
    the export stores the folded model's weights only, no optimizer state."""
    export_dir = str(trained[0] / "model" / "export")
    images = np.random.default_rng(2).random((1, 40, 72, 3), dtype=np.float32)
    python = serving.load(export_dir)(images)
    session = serving_check.session_outputs(export_dir, {"images": images})
    np.testing.assert_allclose(session["probabilities"], python["probabilities"], atol=1e-6)
    cli = serving_check.saved_model_cli_outputs(export_dir, "images", images, str(tmp_path / "cli"))
    np.testing.assert_allclose(cli["confidence"], python["confidence"], atol=1e-6)
    assert serving_check.metadata_through_session(export_dir)["job"] == "sediment_cores"
    config = CoresConfig.from_dict(json.loads((trained[0] / "model" / "config.json").read_text()))
    from coretf.models import fold_batchnorm

    serving_check.assert_weights_only(export_dir, fold_batchnorm(build_network(config)[0]))


def test_rerun_resumes_instead_of_restarting(trained):
    tmp_path, _ = trained
    _run_train(tmp_path, "--epochs=2")
    with open(tmp_path / "model" / "history.csv") as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs == [0, 1]  # epoch 0 from the first run, only epoch 1 trained by the rerun
    assert (tmp_path / "model" / "checkpoints" / "epoch_002.weights.h5").exists()


def test_bad_flag_values_are_named(tmp_path):
    with pytest.raises(ValueError, match="--augment=gn,xx"):
        CoresConfig(augment=("gn", "xx"))
    with pytest.raises(ValueError, match="--architecture='vgg'"):
        CoresConfig(architecture="vgg")
    command = [sys.executable, "-m", "coretf.train", f"--flagfile={REPO / 'trainers' / 'smoke.flags'}",
               f"--model_dir={tmp_path}", "--mixed_precision=float8"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "mixed_precision" in result.stderr
    assert not os.path.exists(tmp_path / "metrics.json")


def test_resolve_policy_on_this_cpu():
    assert runner.resolve_policy("auto") in ("float32", "mixed_float16")
    assert runner.resolve_policy("mixed_bfloat16") == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"


def test_a_refused_folder_is_one_line_naming_the_file(tmp_path):
    """A lab's folder the builder refuses: one line on stderr naming the file, exit 2, no traceback."""
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "sections.csv").write_text("section,px_per_cm,top_depth_cm,depth_axis\nA,inf,0,x\n")
    command = [sys.executable, "-m", "coretf.train", f"--flagfile={REPO / 'trainers' / 'smoke.flags'}",
               f"--model_dir={tmp_path / 'model'}", f"--data_dir={tmp_path / 'data'}", "--dataset=manual",
               f"--manual_dir={tmp_path / 'lab'}"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "sections.csv, line 2: need px_per_cm to be finite" in errors[0]
    assert "Traceback" not in result.stderr
