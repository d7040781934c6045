"""Shared building blocks of the coretf segmentation models."""

from coretf.layers.conv import conv_bn_act, logits_conv
from coretf.layers.normalization import BatchNormalization
from coretf.layers.pooling import MaxPoolingWithArgmax2D, MaxUnpooling2D

__all__ = ["BatchNormalization", "conv_bn_act", "logits_conv", "MaxPoolingWithArgmax2D", "MaxUnpooling2D"]
