"""Six-branch ResNet VAE: shapes, parameter counts, the 280 px decoder, loss golden values, saving."""

import keras
import numpy as np
import pytest

from coretf.layers.sampling import Sampling
from coretf.models import resnet_vae


def test_kl_golden_value():
    # KL(N(mu, e^lv) || N(0, 1)) = 0.5 * (mu^2 + e^lv - 1 - lv) per dimension, summed.
    mean = np.array([[0.0, 1.0], [2.0, 0.0]], np.float32)
    log_var = np.array([[0.0, 0.0], [0.0, np.log(2.0)]], np.float32)
    expected = [0.5, 0.5 * 4 + 0.5 * (2 - 1 - np.log(2.0))]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(resnet_vae.kl_divergence(mean, log_var)), expected, rtol=1e-6)


def test_loss_reductions():
    x = np.zeros((2, 6, 4, 4, 3), np.float32)
    reconstruction = np.full_like(x, 0.5)
    z = np.zeros((2, 3), np.float32)
    total, rec, kl = [float(v) for v in resnet_vae.vae_losses(x, reconstruction, z, z, reduction="sum")]
    assert rec == pytest.approx(6 * 4 * 4 * 3 * 0.25) and kl == 0.0 and total == rec
    _, rec, _ = resnet_vae.vae_losses(x, reconstruction, z + 1, z, beta=2.0, reduction="mean")
    assert float(rec) == pytest.approx(0.25)
    total, _, kl = resnet_vae.vae_losses(x, reconstruction, z + 1, z, beta=2.0, reduction="mean")
    assert float(kl) == pytest.approx(1.5) and float(total) == pytest.approx(0.25 + 3.0)


@pytest.mark.parametrize("size, start", [(280, 9), (64, 2)])
def test_decoder_reaches_the_crop_size(size, start):
    decoder = resnet_vae.build_grain_decoder(size, 8, filters=(8, 8, 8, 8, 8))
    assert decoder.get_layer("grid").output.shape[1] == start
    assert decoder.output.shape == (None, 6, size, size, 3)


def test_encoder_shapes_and_parameter_counts():
    separate = resnet_vae.build_grain_encoder(32, 16)
    shared = resnet_vae.build_grain_encoder(32, 16, shared_branches=True)
    assert [tuple(o.shape) for o in separate.outputs] == [(None, 16), (None, 16)]
    # Six small branches of 309,296 weights each (or one shared) plus two 768 -> 16 dense layers.
    assert separate.count_params() == 6 * 309296 + 2 * (768 * 16 + 16)
    assert shared.count_params() == 309296 + 2 * (768 * 16 + 16)


def test_resnet152_branch_is_available():
    branch = resnet_vae.build_resnet_branch(64, "resnet152")
    assert branch.output.shape == (None, 2048) and branch.count_params() == 58370944
    with pytest.raises(ValueError, match="no ImageNet weights"):
        resnet_vae.build_resnet_branch(64, "small", weights="x.h5")


def test_sampling_uses_mean_and_variance():
    keras.utils.set_random_seed(0)
    z = keras.ops.convert_to_numpy(Sampling(seed=1)([np.full((4000, 2), 3.0, np.float32),
                                                     np.full((4000, 2), np.log(4.0), np.float32)]))
    assert abs(z.mean() - 3.0) < 0.1 and abs(z.std() - 2.0) < 0.1


def test_train_step_reduces_loss_and_weights_round_trip(tmp_path):
    keras.utils.set_random_seed(0)
    model = resnet_vae.build_grain_vae(32, 8, shared_branches=True, seed=0)
    model.compile(keras.optimizers.Adam(1e-3), jit_compile=False)
    x = np.random.default_rng(0).random((4, 6, 32, 32, 3)).astype(np.float32) * 0.2 + 0.4
    history = model.fit(x, batch_size=4, epochs=6, verbose=0).history
    assert set(history) == {"loss", "reconstruction_loss", "kl_loss"}
    assert history["loss"][-1] < history["loss"][0]
    model.save_weights(tmp_path / "vae.weights.h5")
    again = resnet_vae.build_grain_vae(32, 8, shared_branches=True, seed=0)
    again.load_weights(tmp_path / "vae.weights.h5")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert model.predict(x, verbose=0).dtype == np.float32
