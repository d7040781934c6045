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


def colour_encoder_export(export_dir: str, layers: int = 6, size: int = 32) -> None:
    """Exports a grain encoder whose latent mean is each particle's mean colour per layer
    (a fixed function, (N, layers, size, size, 3) -> (N, 3 * layers)), with the metadata of a
    sediment_grains `export_encoder/`."""
    import tensorflow as tf

    def serve(batch):
        z_mean = tf.reshape(tf.reduce_mean(batch, axis=(2, 3)), (-1, 3 * layers))
        return {"z_mean": z_mean, "z_log_var": tf.zeros_like(z_mean)}

    export_lib.write_saved_model(export_dir, export_lib.SavedModelSpec(
        "export_encoder", serve, [tf.TensorSpec([None, layers, size, size, 3], tf.float32, name="layers")],
        {"job": "sediment_grains", "model": "encoder"}))
