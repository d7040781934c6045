"""Tiny SavedModels for tests of the commands that read an export (predict, the README chains)."""

import keras

from coretf import export as export_lib


def pointwise_export(export_dir: str, px_per_cm: float = 10.0) -> keras.Model:
    """Exports a per-pixel core model (a fixed 1x1 conv) to `export_dir` and returns it.

    Tiled inference through it must equal a whole-image pass exactly, and its class meaning is
    the core job's (1 = undisturbed), so predict and colour_record treat it as the demo's SegNet.
    """
    inputs = keras.Input((None, None, 3))
    logits = keras.layers.Conv2D(2, 1, kernel_initializer=keras.initializers.Constant(
        [[[[4.0, -4.0], [-2.0, 2.0], [1.0, -1.0]]]]))(inputs)
    model = keras.Model(inputs, logits)
    export_lib.export_saved_model(model, export_dir, {
        "job": "sediment_cores", "input_multiple": 1, "confidence_class": 1, "iou_class": 0,
        "class_names": ["disturbed_or_background", "undisturbed"], "px_per_cm": px_per_cm,
        "tile_size": 32})
    return model
