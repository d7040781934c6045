"""SavedModel export: serving signatures that need no coretf code, and what inference needs.

One writer serves every coretf model: `write_saved_model(export_dir, spec)` writes a
`SavedModelSpec` (the serving function, its input signature and the metadata) with
`keras.export.ExportArchive`, atomically. Only the weights the serving function uses are stored
(no optimizer state, each once) and they are tracked where the SavedModel's restore op finds them, so
the export serves from a TF1 session loader, `saved_model_cli run` and TF Serving as well as from
`tf.saved_model.load`. Every export has two signatures, `serving_default` and `metadata` (a JSON
string, also written as `coretf.json` beside `saved_model.pb`); `coretf.serving` loads them.

Segmentation exports (`segmentation_spec`, `export_saved_model`): `serving_default` takes a batch
of float32 images in [0, 1] (`images`, RGB or as many channels as the model takes) of any height
and width, pads them (mirror padding, as Hutton 2025 §5.1.3 asks) to a multiple of the model's
downsampling factor, runs the network, crops back and returns per-pixel class probabilities
(`probabilities`, (B, H, W, C); a one-logit model gives [1 - p, p]), the `confidence` map (the
probability of the class `confidence_class`), its `spread` (SD over the members of an ensemble;
0 for one model) and the predictive `entropy`. An ensemble export holds its members in one
graph and returns their mean. Batch normalisation is folded into the convolutions first, and the
folded model's output is checked against the trained one.

Metadata keys of a segmentation export (what `coretf.predict` reads):
  job, dataset, model      which job, data and architecture made it
  input                    what the images must be (human-readable)
  input_transform          optional "coretf.<module>:<function>" applied to a raw image first
  tile_size                the training patch side, px
  input_multiple           the downsampling factor (sides are padded to a multiple inside)
  class_names, iou_class   class meaning; the class whose IoU the job reports
  confidence_class, confidence_meaning   the class of the `confidence` output
  px_per_cm / um_per_voxel the training scale, where the job has one
  temperature              the logits are divided by it (1: none; `--temperature_scaling`)
  members                  1, or the ensemble's size (`--seeds`, `--folds`)
  dtype_policy, batchnorm_folded, folded_difference   added by the export
  provenance               coretf version, git commit, TensorFlow/Keras versions, date, command
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from coretf import io as coretf_io
from coretf import provenance
from coretf.models import fold_batchnorm
from coretf.serving import METADATA_FILE

REQUIRED_SEGMENTATION_KEYS = ("job", "input_multiple", "confidence_class")


@dataclasses.dataclass
class SavedModelSpec:
    """One SavedModel to write.

    Attributes:
        name: the folder in the model directory ("export", "export_encoder").
        serve: the serving function (a Python function of tensors returning a dict of tensors);
            the variables it uses are what the SavedModel stores.
        input_signature: its `tf.TensorSpec`s.
        metadata: JSON-able dict returned by the `metadata` signature.
    """

    name: str
    serve: Callable
    input_signature: list[tf.TensorSpec]
    metadata: dict


def write_saved_model(export_dir: str, spec: SavedModelSpec, *, version: int = 0) -> str:
    """Writes `spec` as a SavedModel at `export_dir` (or `export_dir/<version>`), atomically.

    Returns:
        The folder written.
    """
    target = os.path.join(export_dir, str(version)) if version else export_dir
    spec = dataclasses.replace(spec, metadata={**spec.metadata, "provenance": provenance.record()})
    if version and os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
        # An unversioned export in the same folder would stand beside the versions: TF Serving and
        # coretf.serving read the versions, so the old one goes.
        for name in os.listdir(export_dir):
            if not name.isdigit():
                entry = os.path.join(export_dir, name)
                shutil.rmtree(entry) if os.path.isdir(entry) else os.remove(entry)
    # Nothing is `track`ed: the archive then stores the variables the endpoints use, once (a tracked
    # Keras model's variables would be stored a second time, beside their TensorFlow values).
    archive = keras.export.ExportArchive()
    archive.add_endpoint("serving_default", spec.serve, input_signature=spec.input_signature)
    metadata_json = json.dumps(spec.metadata, sort_keys=True)
    archive.add_endpoint("metadata", lambda: {"json": tf.constant(metadata_json)}, input_signature=[])
    with coretf_io.atomic_dir(target) as tmp:
        archive.write_out(tmp, verbose=False)
        coretf_io.write_json(os.path.join(tmp, METADATA_FILE), spec.metadata)
    return target


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


def segmentation_serve(models: keras.Model | list[keras.Model], multiple: int, confidence_class: int) -> Callable:
    """The serving function of a segmentation model, or of an ensemble of them (one graph): pad,
    run every member, crop back; the members' mean probabilities, the confidence class's, the
    spread (SD over the members of that probability: 0 for one model) and the predictive entropy
    of the mean (nats: 0 when sure, ln C at a uniform guess)."""
    models = models if isinstance(models, list) else [models]

    def probabilities_of(model, padded, height, width):
        logits = tf.cast(model(padded, training=False), tf.float32)[:, :height, :width, :]
        if logits.shape[-1] == 1:
            positive = tf.sigmoid(logits)
            return tf.concat([1.0 - positive, positive], axis=-1)
        return tf.nn.softmax(logits, axis=-1)

    def serve(images):
        channels = images.shape[-1]
        takes = (f"coretf serving: `images` must be float32 (batch, height, width, {channels}) in "
                 f"[0, 1], at least {multiple} px a side")
        tf.debugging.assert_rank(images, 4, message=takes)
        tf.debugging.assert_all_finite(images, "coretf serving: input images contain NaN or Inf")
        height, width = tf.shape(images)[1], tf.shape(images)[2]
        tf.debugging.assert_greater_equal(tf.minimum(height, width), multiple, message=takes)
        pad_h, pad_w = (-height) % multiple, (-width) % multiple
        padded = tf.pad(images, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="SYMMETRIC")
        members = tf.stack([probabilities_of(model, padded, height, width) for model in models])
        probabilities = tf.reduce_mean(members, axis=0)
        entropy = -tf.reduce_sum(probabilities * tf.math.log(tf.maximum(probabilities, 1e-12)), axis=-1)
        return {"probabilities": probabilities, "confidence": probabilities[..., confidence_class],
                "spread": tf.math.reduce_std(members[..., confidence_class], axis=0), "entropy": entropy}

    return serve


def segmentation_spec(model: keras.Model | list[keras.Model], metadata: dict, *, name: str = "export",
                      fold: bool = True, dtype_policy: str = "float32") -> SavedModelSpec:
    """The SavedModel of a trained segmentation model (see the module docstring).

    Args:
        model: trained functional model producing (B, H, W, C) logits, or the members of an
            ensemble (`segmentation_serve`: their mean and spread; metadata "members" = N).
        metadata: JSON-able dict with at least `REQUIRED_SEGMENTATION_KEYS`.
        name: the export folder's name.
        fold: fold batch normalisation into the convolutions.
        dtype_policy: compute policy of the exported graph ("float32" or "mixed_bfloat16").

    Returns:
        The spec, its metadata with "dtype_policy", "batchnorm_folded" and "folded_difference"
        (the figures of `check_equal`) added.
    """
    missing = [key for key in REQUIRED_SEGMENTATION_KEYS if key not in metadata]
    if missing:
        raise ValueError(f"export metadata lacks {', '.join(repr(k) for k in missing)}")
    multiple = int(metadata["input_multiple"])
    members = model if isinstance(model, list) else [model]
    serving = [fold_batchnorm(m, dtype_policy=dtype_policy) if fold else m for m in members]
    differences = [check_equal(m, s, multiple, dtype_policy) for m, s in zip(members, serving)]
    metadata = {**metadata, "dtype_policy": dtype_policy, "batchnorm_folded": fold, "members": len(members),
                "folded_difference": max(differences, key=lambda d: d["max"])}
    channels = int(members[0].inputs[0].shape[-1])  # 3 for photographs, 1 for CT slices
    metadata.update(input_channels=channels, input_range=[0.0, 1.0], min_side=multiple)
    return SavedModelSpec(
        name=name,
        serve=segmentation_serve(serving, multiple, int(metadata["confidence_class"])),
        input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32, name="images")],
        metadata=metadata)


def export_saved_model(model: keras.Model, export_dir: str, metadata: dict, *, fold: bool = True,
                       dtype_policy: str = "float32", version: int = 0) -> dict:
    """Exports a segmentation model at `export_dir` (`segmentation_spec`, then `write_saved_model`).

    Returns:
        The metadata written.
    """
    spec = segmentation_spec(model, metadata, fold=fold, dtype_policy=dtype_policy)
    write_saved_model(export_dir, spec, version=version)
    return spec.metadata
