"""Loading a coretf SavedModel for inference: TensorFlow and JSON only, no coretf model code.

Every coretf export (`coretf.export`) has two signatures: `serving_default` (the model) and
`metadata` (a JSON string: job, input, scale, tile size, class meaning, ...), and a copy of the
metadata in `coretf.json` beside `saved_model.pb`. An export may also be a folder of numbered
versions (`export/1/`, `export/2/`, the layout TF Serving expects): the highest one is served.

`load` is the one loader that predict, the demo, the ice-core validation and the grain clustering
use:

    served = serving.load("runs/demo/export")
    served.metadata["px_per_cm"], served.hash
    probabilities = served(batch)["probabilities"]      # batch: float32 in [0, 1]
    image = served.transform(raw, "slice.tif") if served.transform else raw

`transform` is the input transform the export declares (`"input_transform"` in its metadata, a
`coretf.<module>:<function>` name taking `(image, name)` and returning the model's input image),
e.g. the ice-core slices' denoising and field-of-view normalisation; exports whose input is the
image itself declare none.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
from collections.abc import Callable

import numpy as np
import tensorflow as tf

METADATA_FILE = "coretf.json"


def export_versions(path: str) -> list[int]:
    """The numbered version folders holding a SavedModel in `path` (TF Serving's layout), sorted."""
    names = os.listdir(path) if os.path.isdir(path) else ()
    return sorted(int(n) for n in names if n.isdigit() and os.path.isfile(os.path.join(path, n, "saved_model.pb")))


def find_export(path: str, flag: str = "--model") -> str:
    """The SavedModel folder at `path`: its highest numbered version folder, or `path` itself.

    Raises:
        ValueError: naming `flag`, when `path` holds neither.
    """
    path = os.fspath(path)
    versions = export_versions(path)
    if versions:
        return os.path.join(path, str(versions[-1]))
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    raise ValueError(f"{flag}={path}: not a SavedModel directory (no saved_model.pb, and no "
                     "numbered version folder holding one)")


def read_metadata(loaded) -> dict:
    """The metadata dict of a loaded coretf SavedModel (a `tf.saved_model.load` result)."""
    return json.loads(loaded.signatures["metadata"]()["json"].numpy().decode())


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


def resolve_transform(spec: str | None, where: str = "SavedModel") -> Callable | None:
    """The function named by an export's `input_transform` ("coretf.<module>:<function>"), or None.

    Raises:
        ValueError: naming `where`, when the name is not a coretf function.
    """
    if not spec:
        return None
    module_name, _, function = spec.partition(":")
    if not (module_name.startswith("coretf.") and function):
        raise ValueError(f"{where}: input_transform {spec!r} is not 'coretf.<module>:<function>'")
    try:
        return getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"{where}: input_transform {spec!r} cannot be found ({error})") from None


class ServedModel:
    """A loaded coretf SavedModel and what its metadata says about inference.

    Attributes:
        path: the SavedModel folder (the version served, for a versioned export).
        metadata: the export's metadata dict.
        hash: `saved_model_hash` of the folder.
        input_name, input_shape: the serving signature's one input ("images" or "layers").
        channels: the last input dimension (3 for photographs, 1 for CT slices).
        transform: the declared input transform, or None.
    """

    def __init__(self, path: str, *, job: str | None = None, flag: str = "--model"):
        self.path = find_export(path, flag)
        self.loaded = tf.saved_model.load(self.path)
        self.metadata = read_metadata(self.loaded)
        if job is not None and self.metadata.get("job") != job:
            raise ValueError(f"{flag}={path}: a SavedModel of job {self.metadata.get('job')!r}, not {job}")
        self.signature = self.loaded.signatures["serving_default"]
        ((self.input_name, spec),) = self.signature.structured_input_signature[1].items()
        self.input_shape = tuple(spec.shape)
        self.channels = int(self.input_shape[-1])
        self._where = f"{flag}={path}"

    @functools.cached_property
    def hash(self) -> str:
        """`saved_model_hash` of the folder (read once, when first asked for)."""
        return saved_model_hash(self.path)

    @functools.cached_property
    def transform(self) -> Callable | None:
        """The declared input transform, or None."""
        return resolve_transform(self.metadata.get("input_transform"), self._where)

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """The serving signature's outputs for one float32 batch, as NumPy arrays."""
        outputs = self.signature(**{self.input_name: tf.constant(batch, tf.float32)})
        return {key: value.numpy() for key, value in outputs.items()}


def load(path: str, *, job: str | None = None, flag: str = "--model") -> ServedModel:
    """Loads the coretf SavedModel at `path` (see `ServedModel`); `job` checks which job made it."""
    return ServedModel(path, job=job, flag=flag)
