"""Tests of the U-Net builders, including the published ice-core network."""

import keras
import numpy as np
import pytest

from coretf.models import MODELS, build_icecore_unet_published, build_unet

SMALL = dict(depth=2, filters=4)


def _images(shape, seed=0):
    return np.random.default_rng(seed).uniform(size=shape).astype("float32")


@pytest.mark.parametrize("upsampling", ["transpose", "nearest"])
@pytest.mark.parametrize("size", [(64, 64), (32, 96)])
def test_output_shape(size, upsampling):
    keras.utils.set_random_seed(1)
    model = build_unet(num_classes=3, upsampling=upsampling, **SMALL)
    assert tuple(model(_images((2, *size, 3))).shape) == (2, *size, 3)


def test_single_logit_output():
    model = build_unet((None, None, 1), 1, **SMALL)
    assert tuple(model(_images((2, 32, 32, 1))).shape) == (2, 32, 32, 1)
    # Logits, not probabilities: the sigmoid belongs to the loss.
    assert model.layers[-1].get_config()["activation"] == "linear"


def test_pinned_parameter_counts():
    assert build_unet(**SMALL).count_params() == 7_714
    lean = build_unet(upsampling="nearest", batchnorm=False, convs_per_level=1, **SMALL)
    assert lean.count_params() == 3_758
    assert MODELS["unet"] is build_unet


def test_paper_configurations():
    # Hutton (2025): 64 -> 1024 features, depth 4, BatchNorm, two classes.
    hutton = build_unet()
    widths = [hutton.get_layer(f"encoder{i}_conv2").filters for i in range(1, 5)]
    assert widths == [64, 128, 256, 512]
    assert hutton.get_layer("bottom_conv2").filters == 1024
    assert hutton.count_params() == 31_049_474
    # Bagherzadeh et al. (2023), as the paper describes it: five stages, 32 -> 128, nearest,
    # about 1.5 M parameters (the paper gives no intermediate widths; these are one choice).
    paper = build_unet(
        (None, None, 1), 1, filters=(32, 64, 96, 112, 128), batchnorm=False, upsampling="nearest"
    )
    assert paper.count_params() == 1_474_049
    # Lavrukhin et al.: 32 base filters, ELU, transposed-conv decoder, two classes, 64 px patches.
    porous = build_unet((64, 64, 1), 2, filters=32, activation="elu", batchnorm=False)
    assert porous.get_layer("encoder1_conv1").get_config()["activation"] == "elu"
    assert porous.count_params() == 7_759_554


def test_icecore_published_network():
    model = build_icecore_unet_published()
    assert model.count_params() == 1_513_409
    assert tuple(model(_images((2, 64, 64, 1))).shape) == (2, 64, 64, 1)
    widths = [model.get_layer(f"up{i}_conv").filters for i in range(1, 7)]
    assert widths == [120, 106, 90, 70, 50, 32]
    # The second conv of each encoder pair is linear; the first gets a ReLU.
    assert model.get_layer("conv2").get_config()["activation"] == "linear"
    assert model.get_layer("conv3_relu").get_config()["activation"] == "relu"


def test_save_load_round_trip(tmp_path):
    keras.utils.set_random_seed(2)
    model = build_unet(**SMALL)
    x = _images((2, 32, 64, 3))
    # BatchNorm statistics away from their initial values, so that restoring them is tested.
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(size=layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, layer.moving_variance.shape))
    model.save(tmp_path / "m.keras")
    restored = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )


def test_logits_float32_under_mixed_precision(mixed_bfloat16):
    model = build_unet(**SMALL)
    assert model.get_layer("encoder1_conv1").compute_dtype == "bfloat16"
    assert model(_images((2, 64, 64, 3))).dtype == "float32"
    assert build_icecore_unet_published()(_images((2, 64, 64, 1))).dtype == "float32"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(upsampling="bilinear"), "upsampling"),
        (dict(filters=(8, 16)), "filters"),
        (dict(kernel_size=4), "kernel_size"),
        (dict(convs_per_level=0), "convs_per_level"),
        (dict(num_classes=0), "num_classes"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_unet(**{**SMALL, **kwargs})
