"""Tests of the SegNet-Basic builder."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from coretf.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D
from coretf.models import MODELS, build_segnet

SMALL = dict(kernel_size=3, filters=(4, 8, 8), depth=3)


def _images(shape, seed=0):
    return np.random.default_rng(seed).uniform(size=shape).astype("float32")


@pytest.mark.parametrize("size", [(64, 64), (32, 96)])
def test_output_shape(size):
    keras.utils.set_random_seed(1)
    model = build_segnet(num_classes=3, **SMALL)
    logits = model(_images((2, *size, 3)))
    assert tuple(logits.shape) == (2, *size, 3)
    assert model.output_shape == (None, None, None, 3)


def test_pinned_parameter_counts():
    assert build_segnet(**SMALL).count_params() == 2_134
    # SegNet-Basic (Badrinarayanan et al.): 7x7 kernels, 64 features, four levels.
    assert build_segnet((256, 256, 3), 2).count_params() == 1_416_514
    assert MODELS["segnet"] is build_segnet


def test_architecture_follows_segnet_basic():
    model = build_segnet(**SMALL)
    pools = [l for l in model.layers if isinstance(l, MaxPoolingWithArgmax2D)]
    unpools = [l for l in model.layers if isinstance(l, MaxUnpooling2D)]
    assert len(pools) == len(unpools) == 3
    # Decoder convs are linear (conv + BN, no ReLU); encoder convs end in ReLU.
    acts = [l.name for l in model.layers if isinstance(l, keras.layers.Activation)]
    assert acts == ["encoder1_conv_act", "encoder2_conv_act", "encoder3_conv_act"]
    # The logits come straight from the 1x1 classifier: no BatchNorm or ReLU after it.
    assert model.layers[-1].name == "logits" and model.layers[-1].kernel_size == (1, 1)
    assert model.layers[-2].name == "decoder1_conv_bn"


def test_save_load_round_trip(tmp_path):
    keras.utils.set_random_seed(2)
    model = build_segnet(**SMALL)
    x = _images((2, 32, 64, 3))
    # BatchNorm statistics away from their initial values, so that restoring them is tested.
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(size=layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, layer.moving_variance.shape))
    path = tmp_path / "m.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )


def test_xla_matches_eager():
    keras.utils.set_random_seed(3)
    model = build_segnet(**SMALL)
    x = _images((2, 64, 64, 3))
    eager = model(x, training=False)
    compiled = tf.function(lambda t: model(t, training=False), jit_compile=True)(x)
    np.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-4)


def test_logits_float32_under_mixed_precision(mixed_bfloat16):
    model = build_segnet(**SMALL)
    assert model.get_layer("encoder1_conv").compute_dtype == "bfloat16"
    assert model(_images((2, 64, 64, 3))).dtype == "float32"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kernel_size=4), "kernel_size"),
        (dict(filters=(8, 8)), "filters"),
        (dict(depth=0), "depth"),
        (dict(num_classes=0), "num_classes"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_segnet(**kwargs)
