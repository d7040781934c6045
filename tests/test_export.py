"""Export: folded SavedModel equals the Keras model, takes any size, carries its metadata; serving loads it."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from coretf import export, serving
from coretf.models import build_segnet, build_unet
from tests import serving_check

METADATA = {"job": "sediment_cores", "input_multiple": 4, "confidence_class": 1, "tile_size": 32}


def _trained_like(model):
    """Non-trivial batch-norm statistics, so folding has something to fold."""
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 2, gamma.shape), rng.normal(0, 0.3, beta.shape),
                               rng.normal(0, 0.3, mean.shape), rng.uniform(0.5, 2, var.shape)])
    return model


@pytest.fixture(scope="module")
def segnet():
    keras.utils.set_random_seed(0)
    return _trained_like(build_segnet(kernel_size=3, filters=4, depth=2))


def test_float32_export_matches_keras_model(segnet, tmp_path):
    written = export.export_saved_model(segnet, str(tmp_path / "export"), METADATA)
    assert written["batchnorm_folded"] and written["folded_difference"]["share_above_1e-4"] <= 0.01
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    images = np.random.default_rng(1).random((2, 24, 40, 3), dtype=np.float32)
    out = loaded.signatures["serving_default"](images=tf.constant(images))
    expected = tf.nn.softmax(segnet(images, training=False), -1).numpy()
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-4)
    assert serving.read_metadata(loaded)["tile_size"] == 32
    import coretf

    provenance = serving.read_metadata(loaded)["provenance"]
    assert provenance["coretf"] == coretf.__version__ and provenance["tensorflow"] == tf.__version__
    assert set(provenance) == {"coretf", "git_commit", "tensorflow", "keras", "python", "date", "command"}
    assert json.loads((tmp_path / "export" / serving.METADATA_FILE).read_text())["job"] == "sediment_cores"
    assert [p.name for p in tmp_path.iterdir()] == ["export"]  # no temporary folder left behind


def test_odd_sizes_are_padded_and_cropped_back(segnet, tmp_path):
    export.export_saved_model(segnet, str(tmp_path / "export"), METADATA)
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    out = loaded.signatures["serving_default"](images=tf.zeros([1, 13, 29, 3]))
    assert out["probabilities"].shape == (1, 13, 29, 2)
    assert out["confidence"].shape == (1, 13, 29)
    np.testing.assert_allclose(tf.reduce_sum(out["probabilities"], -1).numpy(), 1.0, atol=1e-5)


def test_bfloat16_export_agrees(segnet, tmp_path):
    written = export.export_saved_model(segnet, str(tmp_path / "export"), METADATA,
                                        dtype_policy="mixed_bfloat16")
    assert written["dtype_policy"] == "mixed_bfloat16" and written["folded_difference"]["mean"] < 0.05
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    images = np.random.default_rng(2).random((2, 32, 32, 3), dtype=np.float32)
    served = loaded.signatures["serving_default"](images=tf.constant(images))["probabilities"]
    assert served.dtype == tf.float32
    expected = tf.nn.softmax(segnet(images, training=False), -1)
    assert float(tf.reduce_mean(tf.abs(served - expected))) < 0.05


def test_single_logit_model_exports_two_class_probabilities(tmp_path):
    keras.utils.set_random_seed(0)
    unet = build_unet(num_classes=1, depth=2, filters=4, upsampling="nearest")
    export.export_saved_model(unet, str(tmp_path / "export"), METADATA)
    images = tf.random.uniform([1, 16, 16, 3], seed=0)
    out = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"](images=images)
    np.testing.assert_allclose(out["confidence"].numpy(), tf.sigmoid(unet(images))[..., 0].numpy(), atol=1e-5)
    probabilities = out["probabilities"].numpy()
    assert probabilities.shape == (1, 16, 16, 2)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(out["confidence"].numpy(), probabilities[..., 1])


def test_missing_metadata_and_hash(segnet, tmp_path):
    with pytest.raises(ValueError, match="input_multiple"):
        export.export_saved_model(segnet, str(tmp_path / "export"), {"confidence_class": 1})
    assert not (tmp_path / "export").exists()
    export.export_saved_model(segnet, str(tmp_path / "export"), METADATA)
    digest = serving.saved_model_hash(str(tmp_path / "export"))
    assert len(digest) == 64 and digest == serving.saved_model_hash(str(tmp_path / "export"))


def test_check_equal_catches_a_wrong_fold(segnet):
    from coretf.models import fold_batchnorm

    folded = fold_batchnorm(segnet)
    figures = export.check_equal(segnet, folded, 4, "float32")
    assert figures["share_above_1e-4"] <= 0.01 and figures["class_agreement"] > 0.99
    # A fold that forgot one BatchNorm's shift: the first conv's bias back to zero.
    first = next(layer for layer in folded.layers if isinstance(layer, keras.layers.Conv2D))
    kernel, bias = first.get_weights()
    first.set_weights([kernel, np.zeros_like(bias)])
    with pytest.raises(RuntimeError, match="differs from the trained model"):
        export.check_equal(segnet, folded, 4, "float32")


def test_versioned_exports_and_the_loader_picks_the_newest(segnet, tmp_path):
    """--export_version=N writes export/N/ (TF Serving's layout); serving.load takes the folder."""
    export.export_saved_model(segnet, str(tmp_path / "export"), METADATA)  # an older unversioned export
    for version in (1, 2):
        export.export_saved_model(segnet, str(tmp_path / "export"), {**METADATA, "tile_size": 16 * version},
                                  version=version)
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["1", "2"]
    served = serving.load(str(tmp_path / "export"))
    assert served.path == str(tmp_path / "export" / "2") and served.metadata["tile_size"] == 32
    assert served.input_name == "images" and served.channels == 3 and served.transform is None
    images = np.random.default_rng(3).random((1, 16, 24, 3), dtype=np.float32)
    np.testing.assert_allclose(served(images)["probabilities"],
                               tf.nn.softmax(segnet(images, training=False), -1).numpy(), atol=1e-4)
    with pytest.raises(ValueError, match=r"--model=.*: not a SavedModel directory"):
        serving.load(str(tmp_path))
    with pytest.raises(ValueError, match="a SavedModel of job 'sediment_cores', not ice_ct"):
        serving.load(str(tmp_path / "export"), job="ice_ct")


def test_export_is_weights_only_and_serves_from_a_session(segnet, tmp_path):
    export.export_saved_model(segnet, str(tmp_path / "export"), METADATA)
    from coretf.models import fold_batchnorm

    serving_check.assert_weights_only(str(tmp_path / "export"), fold_batchnorm(segnet))
    images = np.random.default_rng(4).random((2, 20, 28, 3), dtype=np.float32)
    session = serving_check.session_outputs(str(tmp_path / "export"), {"images": images})
    expected = tf.nn.softmax(segnet(images, training=False), -1).numpy()
    np.testing.assert_allclose(session["probabilities"], expected, atol=1e-4)
    assert serving_check.metadata_through_session(str(tmp_path / "export"))["tile_size"] == 32


def test_input_transform_is_resolved_by_name():
    transform = serving.resolve_transform("coretf.io:to_float")
    assert transform(np.array([[255]], np.uint8))[0, 0] == 1.0
    assert serving.resolve_transform(None) is None
    for bad in ("os:getcwd", "coretf.io", "coretf.io:no_such_function"):
        with pytest.raises(ValueError, match="input_transform"):
            serving.resolve_transform(bad)
