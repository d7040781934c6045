"""End-to-end smoke test of the ice_ct job: two steps, then every output, Table II and the export."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from coretf import serving
from coretf.analysis import ice_evaluation
from coretf.jobs import ice_ct
from coretf.jobs.ice_ct import IceConfig
from tests import serving_check

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("ice_smoke")
    command = [sys.executable, "-m", "coretf.train",
               f"--flagfile={REPO / 'trainers' / 'ice_ct_smoke.flags'}",
               f"--model_dir={tmp_path / 'model'}", f"--data_dir={tmp_path / 'data'}"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return tmp_path / "model", result


def test_model_directory_holds_every_output(trained):
    model_dir, result = trained
    assert "snow: test IoU" in result.stdout
    assert (model_dir / "checkpoints" / "epoch_001.weights.h5").exists()
    events = list((model_dir / "logs").rglob("events.out.tfevents*"))
    assert {p.parent.name for p in events} >= {"train", "validation", "images"}
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["best_epoch"] == 1 and metrics["dataset"] == "ice_ct/synthetic_tiny:1.1.0"
    rows = metrics["table2"]
    assert len(rows) == 3 * len(ice_evaluation.METHODS)
    for row in rows:
        assert row["test_slices"] == 1  # the lowest of each tiny specimen's 4 low-res slices
        assert 0.0 <= row["iou_vs_weak"] <= 1.0 and np.isfinite(row["weight_error_pct"])
        if row["method"] == "gmm_high":
            assert row["iou_vs_weak"] == 1.0  # the weak label against itself
    gains = metrics["test"]["iou_gain_over_otsu_low_vs_weak"]
    table = {(r["specimen"], r["method"]): r for r in rows}
    for specimen, gain in gains.items():
        assert gain == pytest.approx(table[specimen, "network"]["iou_vs_weak"]
                                     - table[specimen, "otsu_low"]["iou_vs_weak"])
    assert 0.0 <= metrics["test"]["ece_vs_weak"] <= 1.0
    assert metrics["calibration"]["pixels"] > 0 and (model_dir / "calibration.png").exists()
    for name in ("table2.csv", "table2.md", "fig10_scatter.png", "fig11_overlays.png", "calibration.png"):
        assert (model_dir / "validation" / name).stat().st_size > 0
    assert (model_dir / "test_predictions.png").stat().st_size > 0


def test_saved_model_takes_one_channel_and_matches_keras(trained):
    model_dir, _ = trained
    config = IceConfig.from_dict(json.loads((model_dir / "config.json").read_text()))
    model, multiple = ice_ct.build_network(config)
    model.load_weights(model_dir / "best.weights.h5")
    loaded = tf.saved_model.load(str(model_dir / "export"))
    images = np.random.default_rng(1).random((2, 32, 48, 1), dtype=np.float32)
    expected = tf.sigmoid(model(images, training=False)).numpy()[..., 0]
    served = loaded.signatures["serving_default"](images=tf.constant(images))
    assert served["probabilities"].shape == (2, 32, 48, 2)
    np.testing.assert_allclose(served["confidence"].numpy(), expected, atol=1e-4)
    odd = loaded.signatures["serving_default"](images=tf.constant(images[:, :21, :30]))
    assert odd["confidence"].shape == (2, 21, 30)
    session = serving_check.session_outputs(str(model_dir / "export"), {"images": images})
    np.testing.assert_allclose(session["confidence"], served["confidence"].numpy(), atol=1e-6)
    metadata = serving.read_metadata(loaded)
    assert metadata["job"] == "ice_ct" and metadata["input_multiple"] == multiple == 4
    assert metadata["class_names"] == ["air", "ice"] and metadata["confidence_class"] == 1
    assert metadata["um_per_voxel"] == pytest.approx(60.0)
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
        loaded.signatures["serving_default"](images=tf.constant(np.zeros((1, 32, 32, 3), np.float32)))


def test_network_choices_and_bad_flags():
    paper = ice_ct.build_network(IceConfig(job="ice_ct", depth=4, filters=(32, 64, 96, 112, 128),
                                             upsampling="nearest"))[0]
    assert paper.count_params() == 1_474_049  # the paper's "1.5 M": five stages, 32 -> 128
    assert paper.get_layer("decoder1_up").get_config()["interpolation"] == "nearest"
    published, multiple = ice_ct.build_network(IceConfig(job="ice_ct", ice_network="published"))
    assert published.count_params() == 1_513_409 and multiple == 64
    with pytest.raises(ValueError, match="--ice_network='vnet'"):
        IceConfig(job="ice_ct", ice_network="vnet")
    with pytest.raises(ValueError, match="--ice_patch_size=8"):
        IceConfig(job="ice_ct", ice_patch_size=8)


def test_validation_from_the_saved_model_reproduces_table2(trained, tmp_path):
    """`python -m coretf.analysis.ice_validation`'s path: SavedModel only, tiled, same figures."""
    from coretf.data import builders, ice_ct as ice_data

    model_dir, _ = trained
    builder = builders.get_builder("ice_ct", "synthetic_tiny", str(model_dir.parent / "data"))
    predict = ice_evaluation.saved_model_predictor(str(model_dir / "export"))
    rows = ice_evaluation.validate(ice_data.iter_slices(builder), predict, str(tmp_path), progress=False)
    expected = json.loads((model_dir / "metrics.json").read_text())["table2"]
    for row, reference in zip(rows, expected):
        assert (row["specimen"], row["method"]) == (reference["specimen"], reference["method"])
        assert row["iou_vs_weak"] == pytest.approx(reference["iou_vs_weak"], abs=2e-3)
        assert row["weight_g"] == pytest.approx(reference["weight_g"], rel=5e-3)
    assert (tmp_path / "table2.md").exists()


def test_coretf_predict_segments_a_raw_slice_like_the_validation(trained, tmp_path):
    """`python -m coretf.predict` on a raw 16-bit slice: normalised as in training, then the same
    probabilities as the validation's own tiled path."""
    import tifffile

    from coretf import io as coretf_io
    from coretf import inference
    from coretf.preprocess import ice_slices
    from coretf.synthetic import ice

    model_dir, _ = trained
    raw = ice.make_specimen(1, size=128, slices=4).low_slice(0)
    assert raw.dtype == np.uint16 or raw.dtype == np.uint8
    coretf_io.write_image(tmp_path / "slice.tif", raw)
    predictor = inference.Predictor(str(model_dir / "export"))
    tile = predictor.metadata["tile_size"]
    inference.predict_image(predictor, str(tmp_path / "slice.tif"), str(tmp_path / "out"), tile=tile,
                            overlap=min(32, tile // 4), progress=False)
    confidence = tifffile.imread(tmp_path / "out" / "slice_confidence.tif")
    normalised = ice_slices.label_slice(raw).image.astype(np.float32) / 255.0
    expected = ice_evaluation.saved_model_predictor(str(model_dir / "export"))(normalised)
    assert confidence.shape == raw.shape
    np.testing.assert_allclose(confidence, expected, atol=1e-4)
