"""Serving an export the way TF Serving and `saved_model_cli run` do: a TF1 session loader.

A SavedModel whose variables its restore op cannot reach loads in Python through
`tf.saved_model.load` but fails here ("Could not find variable ..."), so every job's export test
compares this path with the Python one.
"""

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf


def session_outputs(export_dir: str, inputs: dict[str, np.ndarray], signature: str = "serving_default"):
    """The signature's outputs for `inputs`, through a TF1 session loader in a graph of its own."""
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
        signature_def = meta_graph.signature_def[signature]
        feed = {signature_def.inputs[name].name: value for name, value in inputs.items()}
        fetch = {name: tensor.name for name, tensor in signature_def.outputs.items()}
        return session.run(fetch, feed)


def saved_model_cli_outputs(export_dir: str, name: str, value: np.ndarray, outdir: str) -> dict:
    """`saved_model_cli run` on one input; returns its outputs (saved as .npy in `outdir`)."""
    os.makedirs(outdir, exist_ok=True)
    source = os.path.join(outdir, "input.npy")
    np.save(source, value)
    command = [os.path.join(os.path.dirname(sys.executable), "saved_model_cli"), "run", "--dir", export_dir,
               "--tag_set", "serve", "--signature_def", "serving_default",
               "--inputs", f"{name}={source}", "--outdir", outdir, "--overwrite"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return {f[:-4]: np.load(os.path.join(outdir, f)) for f in os.listdir(outdir)
            if f.endswith(".npy") and f != "input.npy"}


def stored_variables(export_dir: str) -> list[tuple[str, list[int]]]:
    """(name, shape) of every variable the SavedModel stores."""
    return tf.train.list_variables(os.path.join(export_dir, "variables", "variables"))


def assert_weights_only(export_dir: str, model) -> None:
    """The export stores the model's weights once each and nothing else (no optimizer state)."""
    names = [name for name, _ in stored_variables(export_dir)]
    assert not any("optimizer" in n.lower() for n in names), names
    stored = sum(int(np.prod(shape)) for name, shape in stored_variables(export_dir)
                 if name != "_CHECKPOINTABLE_OBJECT_GRAPH")
    assert stored == model.count_params(), (stored, model.count_params())


def metadata_through_session(export_dir: str) -> dict:
    """The `metadata` signature's JSON through the session loader."""
    return json.loads(session_outputs(export_dir, {}, "metadata")["json"].decode())
