"""End-to-end smoke test of the grain job: two steps on the tiny synthetic config, then the files."""

import json
import os

import numpy as np
import tensorflow as tf

from coretf.jobs import base
from coretf.jobs.sediment_grains import GrainsConfig
from coretf.runner import train_and_evaluate
from tests import serving_check


def test_two_steps_then_checkpoint_logs_and_both_saved_models(tmp_path):
    config = GrainsConfig(job="sediment_grains", dataset="synthetic_tiny", data_dir=str(tmp_path / "data"),
                         batch_size=2, epochs=1, steps_per_epoch=2, vae_latent_dim=8, vae_clusters=6,
                         vae_shared_branches=True, image_summaries=2, mixed_precision="float32")
    model_dir = str(tmp_path / "model")
    metrics = train_and_evaluate(config, model_dir)
    assert os.path.exists(os.path.join(model_dir, "best.weights.h5"))
    assert os.listdir(os.path.join(model_dir, "logs", "images"))  # reconstruction images
    assert any(f.startswith("events") for f in os.listdir(os.path.join(model_dir, "logs", "train")))
    assert set(metrics["test"]) == {"loss", "reconstruction_loss", "kl_loss"}
    assert metrics["test"]["loss"] > 0
    scores = metrics["clusters"]["scores"]
    assert set(scores) == {"vae_latent", "raw_pixels_pca", "colour_shape"}
    assert all(0 <= s["purity"] <= 1 for by_k in scores.values() for s in by_k.values())
    stability = metrics["clusters"]["stability"]  # the latent's clusters over five K-means seeds
    assert stability["seeds"] == [0, 1, 2, 3, 4] and set(stability["vae_latent"]) == set(scores["vae_latent"])
    for by_score in stability["vae_latent"].values():
        assert -1 <= by_score["pairwise_ari"]["mean"] <= 1 and by_score["purity"]["sd"] >= 0
    with open(os.path.join(model_dir, "metrics.json")) as f:
        assert json.load(f)["best_epoch"] == 1

    layers = np.random.default_rng(0).random((2, 6, 32, 32, 3)).astype(np.float32)
    full = tf.saved_model.load(os.path.join(model_dir, "export"))
    encoder = tf.saved_model.load(os.path.join(model_dir, "export_encoder"))
    out = full.signatures["serving_default"](layers=tf.constant(layers))
    mean = encoder.signatures["serving_default"](layers=tf.constant(layers))["z_mean"].numpy()
    assert out["reconstruction"].shape == (2, 6, 32, 32, 3) and mean.shape == (2, 8)
    np.testing.assert_allclose(out["z_mean"].numpy(), mean, atol=1e-5)
    meta = json.loads(encoder.signatures["metadata"]()["json"].numpy().decode())
    assert meta["model"] == "encoder" and meta["crop_size"] == 32
    assert base.make_job(config).summary_lines(metrics)[0].startswith("best epoch")
    # both exports serve from a TF1 session loader (TF Serving's way) as from Python
    for name, keys in (("export", ("z_mean", "reconstruction")), ("export_encoder", ("z_mean", "z_log_var"))):
        session = serving_check.session_outputs(os.path.join(model_dir, name), {"layers": layers})
        python = (full if name == "export" else encoder).signatures["serving_default"](layers=tf.constant(layers))
        for key in keys:
            np.testing.assert_allclose(session[key], python[key].numpy(), atol=1e-5)
        assert not any("optimizer" in n.lower() for n, _ in serving_check.stored_variables(
            os.path.join(model_dir, name)))
    # the kept VAE is model.keras: a later run starts from it (--init_from), every layer matched
    from coretf import warm_start
    from coretf.models import resnet_vae

    fresh = resnet_vae.build_grain_vae(32, 8, backbone="small", shared_branches=True)
    report = warm_start.warm_start(fresh, model_dir)
    assert report["skipped"] == [] and report["loaded"] > 10
    np.testing.assert_allclose(fresh.encoder.predict_on_batch(layers)[0], mean, atol=1e-5)
