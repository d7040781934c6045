"""rock_ct job end to end on the manual dummy stacks, and the experiment runner's table assembly."""

import dataclasses
import importlib.util
import json
import pathlib
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from coretf import io as coretf_io
from coretf import runner, serving
from coretf.data import builders
from coretf.data import rock_ct as rock_data
from coretf.jobs import rock_ct
from coretf.jobs.rock_ct import RockConfig
from tests import serving_check

REPO = pathlib.Path(__file__).resolve().parents[2]
DUMMY = REPO / "datasets" / "rock_ct" / "dummy_data"

CONFIG = RockConfig(job="rock_ct", dataset="manual", manual_dir=str(DUMMY), architecture="unet",
                     filters=(4,), depth=2, activation="elu", batch_size=2, epochs=2,
                     steps_per_epoch=1, rock_patch_size=32, rock_overlap=4,
                     rock_train_stacks=("carbonate_a", "soil_a"), mixed_precision="float32")


def _experiment_module():
    spec = importlib.util.spec_from_file_location("rock_experiment", REPO / "scripts" / "rock_experiment.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("rock")
    config = dataclasses.replace(CONFIG, data_dir=str(tmp_path / "data"))
    metrics = runner.train_and_evaluate(config, str(tmp_path / "model"))
    return tmp_path, config, metrics


def test_every_stack_evaluated_with_in_sample_marked(trained):
    tmp_path, _, metrics = trained
    model_dir = tmp_path / "model"
    assert metrics["stacks"] == json.loads((model_dir / "metrics.json").read_text())["stacks"]
    # equal share: the shorter stack has 3 slices, so one slice from each of the two stacks
    assert metrics["train_slices"] == {"carbonate_a": 1, "soil_a": 1}
    assert metrics["train_patches"] == 2 * 3 + 2 * 2  # 32 px patches of a 64 x 72 and a 64 x 64 slice
    assert metrics["steps_per_epoch"] == 1 and metrics["epochs"] == 2
    stacks = metrics["stacks"]
    assert sorted(stacks) == ["carbonate_a", "carbonate_b", "sandstone_a", "soil_a"]
    assert [s for s in sorted(stacks) if stacks[s]["in_sample"]] == ["carbonate_a", "soil_a"]
    assert stacks["carbonate_b"]["slices"] == 2 and stacks["soil_a"]["rock_type"] == "soil"
    for figures in stacks.values():
        for metric in ("logloss", "accuracy", "pr_auc", "ece"):
            assert np.isfinite(figures[metric])
        assert 0.0 <= figures["accuracy"] <= 1.0
    # The held-out stacks' calibration: their pixels (truth not ignored) and no others.
    held_out = [s for s in stacks if not stacks[s]["in_sample"]]
    assert metrics["calibration"]["pixels"] == sum(stacks[s]["pixels"] for s in held_out)
    assert 0.0 <= metrics["out_of_sample_ece"] <= 1.0 and (model_dir / "calibration.png").exists()
    sweep = metrics["sweeps"]["sandstone_a"]
    assert len(sweep["threshold"]) == len(sweep["iou"]) == 19
    assert sweep["recall"] == sorted(sweep["recall"], reverse=True)  # recall falls as t rises
    assert all(v is None or np.isfinite(v) for s in metrics["sweeps"].values() for l in s.values() for v in l)
    for name in ("threshold_metrics.png", "test_predictions.png", "pore_structure.png", "history.csv",
                 "export/saved_model.pb", "checkpoints/epoch_002.weights.h5"):
        assert (model_dir / name).exists(), name
    for run in ("train", "validation", "images"):  # TensorBoard: the held-out stacks' patches too
        assert list((model_dir / "logs" / run).rglob("events.out.tfevents*")), run
    assert "val_loss" in (model_dir / "history.csv").read_text().splitlines()[0]
    # Pore structure of the prediction and the truth (PoreSpy) per stack; the truth's porosity is
    # the stack's pore share.
    structure = json.loads((model_dir / "pore_structure.json").read_text())
    assert structure.pop("provenance")["coretf"] and sorted(structure) == sorted(stacks)
    truth = rock_data.load_stacks(builders.get_builder("rock_ct", "manual", str(tmp_path / "data"), str(DUMMY)))
    for stack_id, figures in stacks.items():
        pores = truth[stack_id].pores
        assert figures["pore_structure"]["true"]["porosity"] == pytest.approx(float((pores[pores != 255] == 1).mean()))
        assert structure[stack_id]["true"]["two_point"]["s2"][0] == pytest.approx(
            figures["pore_structure"]["true"]["porosity"], abs=0.05)


def test_saved_model_matches_model_and_takes_unit_range(trained):
    tmp_path, config, _ = trained
    model, multiple = rock_ct.build_network(config)
    model.load_weights(tmp_path / "model" / "checkpoints" / "epoch_002.weights.h5")
    loaded = tf.saved_model.load(str(tmp_path / "model" / "export"))
    images = np.random.default_rng(0).random((2, 40, 52, 1), dtype=np.float32)  # multiples of 4
    expected = tf.nn.softmax(model(images), -1).numpy()
    served = loaded.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-4)
    np.testing.assert_allclose(served["confidence"].numpy(), expected[..., 1], atol=1e-4)
    metadata = serving.read_metadata(loaded)
    assert metadata["confidence_class"] == 1 and metadata["class_names"] == ["solid", "pore"]
    assert metadata["tile_size"] == 32 and metadata["input_multiple"] == multiple == 4
    # the [-0.5, 0.5] shift of the paper lives inside the model
    assert model.layers[1].offset == -0.5
    odd = loaded.signatures["serving_default"](images=tf.constant(images[:, :37, :51]))
    assert odd["probabilities"].shape == (2, 37, 51, 2)
    session = serving_check.session_outputs(str(tmp_path / "model" / "export"), {"images": images})
    np.testing.assert_allclose(session["probabilities"], served["probabilities"].numpy(), atol=1e-6)
    serving_check.assert_weights_only(str(tmp_path / "model" / "export"), model)


def test_model_must_be_the_unet_and_unknown_stacks_are_named(trained, tmp_path):
    _, config, _ = trained
    with pytest.raises(ValueError, match="--architecture=unet"):
        rock_ct.build_network(dataclasses.replace(config, architecture="segnet"))
    with pytest.raises(ValueError, match=r"unknown \['granite_1'\]"):
        runner.train_and_evaluate(dataclasses.replace(config, rock_train_stacks=("granite_1",)),
                                  str(tmp_path / "bad"))
    with pytest.raises(ValueError, match="--rock_iou_form='dice'"):
        RockConfig(rock_iou_form="dice")


def test_experiment_models_are_the_papers_seven():
    module = _experiment_module()
    models = module.experiment_models({"carbonate": "carbonate_1", "soil": "soil_1",
                                       "sandstone": "sandstone_1"})
    assert models == {"carbonate": ("carbonate_1",), "sandstone": ("sandstone_1",), "soil": ("soil_1",),
                      "carbonate+sandstone": ("carbonate_1", "sandstone_1"),
                      "carbonate+soil": ("carbonate_1", "soil_1"),
                      "sandstone+soil": ("sandstone_1", "soil_1"),
                      "all": ("carbonate_1", "sandstone_1", "soil_1")}


def test_runner_assembles_table_from_finished_models(trained, tmp_path, monkeypatch):
    """Models whose metrics.json exists are not retrained; the table, heat map and claims follow."""
    source, config, metrics = trained
    module = _experiment_module()
    train_stacks = {"carbonate": "carbonate_a", "sandstone": "sandstone_a", "soil": "soil_a"}
    for name, ids in module.experiment_models(train_stacks).items():
        fake = json.loads(json.dumps(metrics))
        for stack_id, figures in fake["stacks"].items():
            figures["in_sample"] = stack_id in ids
            figures["iou"] = 0.9 if stack_id in ids else 0.1 * len(ids)
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(fake))
    monkeypatch.setattr(module, "train_and_evaluate", lambda *a: pytest.fail("retrained a finished model"))
    result = module.run_experiment(dataclasses.replace(config, rock_train_stacks=()), str(tmp_path))
    assert result["best_mean"] == "all" and result["aggregate_rank"] == 1
    markdown = (tmp_path / "table.md").read_text()
    assert "| carbonate_a | carbonate | 0.900* | 0.100 | 0.100 | 0.900* | 0.900* | 0.200 | 0.900* |" in markdown
    assert "The all-types model ranks 1" in markdown
    assert (tmp_path / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
    assert len(coretf_io.read_csv(tmp_path / "table.csv")) == 7 * 4


def _lab_scan(folder):
    """A lab's one scan as labs hand it over: flat Train_images/ + Train_masks/ folders, RGB colour
    coded masks (blue pore, red solid, black outside the cylinder) and a labels.csv saying so."""
    from coretf import io as coretf_io
    from coretf.synthetic import rocks

    stack = rocks.make_stack("sandstone_1", slices=5, size=64, seed=3)
    yy, xx = np.mgrid[:64, :64]
    outside = (yy - 31.5) ** 2 + (xx - 31.5) ** 2 > 30**2
    for index in range(5):
        image = stack.image[index].copy()
        image[outside] = 0
        mask = np.zeros((64, 64, 3), np.uint8)
        mask[stack.pores[index] == 1] = (0, 0, 255)
        mask[stack.pores[index] == 0] = (255, 0, 0)
        mask[outside] = 0
        coretf_io.write_image(folder / "Train_images" / f"scan_{index:03d}.tif", image)
        coretf_io.write_image(folder / "Train_masks" / f"scan_{index:03d}_mask.png", mask)
    (folder / "labels.csv").write_text("value,class\n#0000ff,pore\n#ff0000,solid\n#000000,ignore\n")
    return stack, outside


def test_a_labs_flat_colour_coded_scan_trains_with_a_holdout_and_ignores_outside(tmp_path):
    """One scan, colour-coded masks, the outside of the cylinder ignored: the figures count only
    the rock, and the last 40 % of the slices are an out-of-sample stack of their own."""
    from coretf.labels import IGNORE

    stack, outside = _lab_scan(tmp_path / "lab")
    config = RockConfig(dataset="manual", manual_dir=str(tmp_path / "lab"), data_dir=str(tmp_path / "data"),
                        filters=(4,), depth=2, activation="elu", batch_size=2, epochs=1, steps_per_epoch=1,
                        rock_patch_size=32, rock_holdout=0.4, mixed_precision="float32")
    metrics = runner.train_and_evaluate(config, str(tmp_path / "model"))
    assert metrics["train_stacks"] == ["Train"] and metrics["train_slices"] == {"Train": 3}
    figures = metrics["stacks"]
    assert sorted(figures) == ["Train", "Train_holdout"]
    assert figures["Train"]["slices"] == 3 and figures["Train"]["in_sample"]
    assert figures["Train_holdout"]["slices"] == 2 and not figures["Train_holdout"]["in_sample"]
    assert figures["Train"]["rock_type"] == "unknown"
    inside = int((~outside).sum())
    assert figures["Train_holdout"]["pixels"] == 2 * inside  # the outside counts nowhere
    assert figures["Train_holdout"]["ignored_share"] == pytest.approx(1 - inside / 64**2)
    assert metrics["out_of_sample_mean"]["iou"] == figures["Train_holdout"]["iou"]
    from coretf.data import builders, rock_ct as rock_data

    read = rock_data.load_stacks(builders.get_builder("rock_ct", "manual", str(tmp_path / "data")))["Train"]
    assert np.all(read.pores[:, outside] == IGNORE)
    np.testing.assert_array_equal(read.pores[:, ~outside], stack.pores[:, ~outside])
