"""Segmentation models of the seed papers, as functional Keras builders."""

from coretf.models.fcn8 import build_fcn8
from coretf.models.folding import fold_batchnorm
from coretf.models.segnet import build_segnet
from coretf.models.unet import build_icecore_unet_published, build_unet

# Name -> builder, for the training app's --architecture flag; every builder takes
# (input_shape, num_classes, *, ...) and returns logits.
MODELS = {"segnet": build_segnet, "unet": build_unet, "fcn8": build_fcn8}

__all__ = [
    "MODELS",
    "build_fcn8",
    "build_icecore_unet_published",
    "build_segnet",
    "build_unet",
    "fold_batchnorm",
]
