"""Starting a run from a trained model (`--init_from`): a lab fine-tunes the synthetic model.

Every model directory keeps its kept model as `model.keras` (architecture and weights, no
optimizer state). `warm_start` loads one and copies its weights into a new model layer by layer,
matched by layer name (the builders name every layer; nested models by their path, e.g.
`unet/encoder1_conv1`). A layer whose weights have other shapes (another number of classes,
another kernel size) or that the source lacks is refused, naming the layers, unless the user
asks for such layers to be skipped (`--init_skip_mismatch`): they then keep their fresh weights
and are named in metrics.json.
"""

from __future__ import annotations

import os

import keras

MODEL_FILE = "model.keras"


def find_source(path: str, flag: str = "--init_from") -> str:
    """The `model.keras` of a model directory, of the model directory around an export (or a
    numbered export version), or the .keras file itself.

    Raises:
        ValueError: naming `flag`, when there is no trained model there.
    """
    path = os.fspath(path)
    if os.path.isfile(path) and path.endswith(".keras"):
        return path
    folder = os.path.abspath(path)
    for candidate in (folder, os.path.dirname(folder), os.path.dirname(os.path.dirname(folder))):
        if os.path.isfile(os.path.join(candidate, MODEL_FILE)):
            return os.path.join(candidate, MODEL_FILE)
    raise ValueError(f"{flag}={path}: no trained model there (a model directory holding {MODEL_FILE}, "
                     f"its export/ folder, or a .keras file)")


def _layers(model: keras.Model, prefix: str = "") -> dict[str, keras.layers.Layer]:
    """{path: layer} of every layer with weights, through nested models."""
    found = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.update(_layers(layer, f"{prefix}{layer.name}/"))
        elif layer.weights:
            found[f"{prefix}{layer.name}"] = layer
    return found


def _submodels(model: keras.Model) -> list[keras.Model]:
    """The model, or the encoder and decoder of a model built from them (the grain VAE)."""
    parts = [getattr(model, name) for name in ("encoder", "decoder") if isinstance(getattr(model, name, None), keras.Model)]
    return parts or [model]


def warm_start(model: keras.Model, path: str, *, skip_mismatch: bool = False, flag: str = "--init_from") -> dict:
    """Copies the weights of the trained model at `path` into `model`, layer by layer.

    Returns:
        {"source": the .keras file, "loaded": number of layers loaded, "skipped": [names of the
        layers that kept their fresh weights, with why]}.

    Raises:
        ValueError: naming the flag and the layers, when layers do not match and `skip_mismatch`
            is off, or when no layer matches at all.
    """
    source_path = find_source(path, flag)
    source = keras.models.load_model(source_path, compile=False)
    available = {}
    for part in _submodels(source):
        available.update(_layers(part, f"{part.name}/" if part is not source else ""))
    loaded, skipped = 0, []
    for part in _submodels(model):
        for name, layer in _layers(part, f"{part.name}/" if part is not model else "").items():
            match = available.get(name)
            if match is None:
                skipped.append(f"{name} (not in the source model)")
                continue
            shapes = [tuple(w.shape) for w in layer.weights]
            source_shapes = [tuple(w.shape) for w in match.weights]
            if shapes != source_shapes:
                skipped.append(f"{name} (weights {shapes} here, {source_shapes} in the source)")
                continue
            layer.set_weights(match.get_weights())
            loaded += 1
    if skipped and not skip_mismatch:
        shown = "; ".join(skipped[:5]) + ("; ..." if len(skipped) > 5 else "")
        raise ValueError(f"{flag}={path}: {len(skipped)} layer(s) do not match: {shown}. Pass "
                         "--init_skip_mismatch to keep fresh weights in those layers")
    if not loaded:
        raise ValueError(f"{flag}={path}: no layer of {source_path} matches this model's layers "
                         "(another architecture?)")
    return {"source": source_path, "loaded": loaded, "skipped": skipped}
