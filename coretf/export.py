"""SavedModel export: a serving signature that needs no coretf code, and what inference needs.

The exported `serving_default` takes a batch of float32 images (RGB, or as many channels as the model takes) in [0, 1] of any height and
width, pads them (mirror padding, as Hutton 2025 §5.1.3 asks) to a multiple of the model's
downsampling factor, runs the network, crops back and returns per-pixel class probabilities and
a confidence map. The `metadata` signature returns a JSON string with the job, input
normalisation, training scale, class meaning and tile size. Batch normalisation is folded into
the convolutions first, and the folded model's output is checked against the trained one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from coretf.models import fold_batchnorm

METADATA_FILE = "coretf.json"


class _ServingModule(tf.Module):
    def __init__(self, model: keras.Model, metadata: dict):
        super().__init__()
        self.model = model
        self._multiple = int(metadata["input_multiple"])
        self._confidence_class = int(metadata["confidence_class"])
        self._metadata_json = json.dumps(metadata, sort_keys=True)
        channels = int(model.inputs[0].shape[-1])  # 3 for photographs, 1 for CT slices
        self.serve = tf.function(
            self._serve,
            input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32, name="images")])

    def _serve(self, images):
        tf.debugging.assert_all_finite(images, "coretf serving: input images contain NaN or Inf")
        height, width = tf.shape(images)[1], tf.shape(images)[2]
        pad_h = (-height) % self._multiple
        pad_w = (-width) % self._multiple
        padded = tf.pad(images, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="SYMMETRIC")
        logits = tf.cast(self.model(padded, training=False), tf.float32)[:, :height, :width, :]
        if logits.shape[-1] == 1:
            positive = tf.sigmoid(logits)
            probabilities = tf.concat([1.0 - positive, positive], axis=-1)
        else:
            probabilities = tf.nn.softmax(logits, axis=-1)
        return {
            "probabilities": probabilities,
            "confidence": probabilities[..., self._confidence_class],
        }

    @tf.function(input_signature=[])
    def metadata(self):
        return {"json": tf.constant(self._metadata_json)}


def check_equal(reference: keras.Model, candidate: keras.Model, multiple: int, dtype_policy: str) -> dict:
    """Compares softmax outputs on a seeded random batch; raises when they differ too much.

    SegNet's argmax pooling is discontinuous: where a window's two largest values are within
    rounding of each other, any change of rounding (folding, another CPU kernel, bfloat16) may
    pool from another position and move that value, so a few pixels may differ by a lot while
    a wrong fold would differ almost everywhere. Hence the checks bound shares of pixels:
    in float32 at most 1 % of the probabilities may differ by more than 1e-4; where either
    model computes in bfloat16, the mean difference must stay below 0.05 and the predicted class
    agree on 95 % of pixels.

    Returns:
        {"max": largest difference, "mean": mean difference, "share_above_1e-4": share of
        probabilities differing by more than 1e-4, "class_agreement": share of pixels whose
        predicted class agrees}.
    """
    size = max(2 * multiple, 64)
    channels = int(reference.inputs[0].shape[-1])
    images = np.random.default_rng(0).random((2, size, size, channels), dtype=np.float32)

    def probabilities(model):
        logits = tf.cast(model(images, training=False), tf.float32)
        p = tf.sigmoid(logits) if logits.shape[-1] == 1 else tf.nn.softmax(logits, -1)
        return p.numpy()

    reference_p, candidate_p = probabilities(reference), probabilities(candidate)
    difference = np.abs(reference_p - candidate_p)
    if reference_p.shape[-1] == 1:
        agreement = np.mean((reference_p > 0.5) == (candidate_p > 0.5))
    else:
        agreement = np.mean(reference_p.argmax(-1) == candidate_p.argmax(-1))
    figures = {"max": float(difference.max()), "mean": float(difference.mean()),
               "share_above_1e-4": float(np.mean(difference > 1e-4)),
               "class_agreement": float(agreement)}
    if dtype_policy == "float32" and reference.compute_dtype == "float32":
        if figures["share_above_1e-4"] > 0.01:
            raise RuntimeError(
                f"export: the folded model differs from the trained model by more than 1e-4 on "
                f"{100 * figures['share_above_1e-4']:.2f} % of the probabilities (at most 1 % "
                f"allowed; largest difference {figures['max']:.3g})")
    elif figures["mean"] > 0.05 or figures["class_agreement"] < 0.95:
        raise RuntimeError(
            f"export: the folded {dtype_policy} model differs from the trained model (mean "
            f"difference {figures['mean']:.3g} > 0.05 or class agreement "
            f"{figures['class_agreement']:.3f} < 0.95)")
    return figures


def export_saved_model(
    model: keras.Model,
    export_dir: str,
    metadata: dict,
    *,
    fold: bool = True,
    dtype_policy: str = "float32",
) -> dict:
    """Exports `model` as a SavedModel at `export_dir`, atomically (replacing an older export).

    Args:
        model: trained functional model producing (B, H, W, C) logits.
        export_dir: destination folder.
        metadata: JSON-able dict; must hold "input_multiple" (padding multiple) and
            "confidence_class"; "job", "px_per_cm", "class_names", "tile_size", "input" expected.
        fold: fold batch normalisation into the convolutions.
        dtype_policy: compute policy of the exported graph ("float32" or "mixed_bfloat16").

    Returns:
        The metadata written, with "dtype_policy", "batchnorm_folded" and "folded_difference" (the
        figures of `check_equal`) added.
    """
    for key in ("input_multiple", "confidence_class"):
        if key not in metadata:
            raise ValueError(f"export metadata lacks {key!r}")
    serving_model = fold_batchnorm(model, dtype_policy=dtype_policy) if fold else model
    metadata = {**metadata, "dtype_policy": dtype_policy, "batchnorm_folded": fold,
                "folded_difference": check_equal(model, serving_model, metadata["input_multiple"],
                                                 dtype_policy)}
    module = _ServingModule(serving_model, metadata)
    parent = os.path.dirname(os.path.abspath(export_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve,
                                                     "metadata": module.metadata})
        with open(os.path.join(tmp, METADATA_FILE), "w") as f:
            json.dump(metadata, f, indent=2, sort_keys=True)
        if os.path.exists(export_dir):
            shutil.rmtree(export_dir)
        os.replace(tmp, export_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return metadata


def load_metadata(saved_model) -> dict:
    """The metadata dict of a loaded coretf SavedModel (`tf.saved_model.load` result)."""
    return json.loads(saved_model.signatures["metadata"]()["json"].numpy().decode())


def saved_model_hash(export_dir: str) -> str:
    """SHA-256 over the SavedModel graph and variables, to record which model made an output."""
    digest = hashlib.sha256()
    for root, _, files in sorted(os.walk(export_dir)):
        for name in sorted(files):
            if name == METADATA_FILE:
                continue
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, export_dir).encode())
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()
