"""The six-branch ResNet variational autoencoder of Golikov et al. (2022, `seeds/003_*`, §2.1, Fig. 2).

Encoder: one ResNet branch per focal layer (six), each globally average-pooled; the branch
outputs are concatenated and mapped to the latent mean and log-variance (512 in the paper).
The paper's branches are ImageNet-pretrained ResNet-152s; at 280 px six of them cost ~110 GFLOP
per particle forward, so the default here is a small ResNet (basic blocks, 16-128 filters) that
a CPU trains in minutes; "resnet18" (basic blocks) and Keras' "resnet50" / "resnet152" (with an
optional local ImageNet weights file: nothing is downloaded) are selectable, and the six
branches can share one set of weights.

Decoder (the paper does not describe it): a dense layer to a start x start x C grid, five
stride-2 transposed-convolution stages (x32), a 3x3 convolution to 18 channels (6 layers x RGB)
with a sigmoid, then a centre crop. 280 is not a multiple of 32: the grid starts at
ceil(280 / 32) = 9 px, the stages reach 9 x 32 = 288 px, and a Cropping2D removes 4 px on each
side to give exactly 280 px. Any crop size works the same way (64 px: 2 -> 64, nothing cropped).

Loss = reconstruction + beta * KL(N(mu, sigma) || N(0, I)), with the reductions stated:
  - "sum" (default): squared error summed over the 6 x S x S x 3 values of each example and KL
    summed over the latent, both averaged over the batch: the evidence lower bound of a Gaussian
    decoder, in which the KL weighs as much as one pixel value;
  - "mean" (the paper's literal eq. 1 + eq. 2): squared error averaged over all values (1.4 M at
    280 px) plus the KL summed over 512 latent dimensions and averaged over the batch; the KL
    then outweighs the reconstruction by ~10^6 per value and the latent tends to collapse.
`GrainVAE.train_step` is custom, with `keras.metrics.Mean` trackers for the three terms.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from coretf.layers.conv import conv_bn_act
from coretf.layers.normalization import BatchNormalization
from coretf.layers.sampling import Sampling

NUM_LAYERS = 6
# Backbone -> (stem filters, stem kernel, stem max-pool, ((filters, blocks, stride), ...)),
# basic residual blocks. "small" downsamples by 32 like a ResNet, with few filters.
BASIC_BACKBONES = {
    "small": (16, 3, False, ((16, 1, 2), (32, 1, 2), (64, 1, 2), (128, 1, 2))),
    "resnet18": (64, 7, True, ((64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2))),
}
KERAS_BACKBONES = {"resnet50": keras.applications.ResNet50, "resnet152": keras.applications.ResNet152}
BACKBONES = tuple(BASIC_BACKBONES) + tuple(KERAS_BACKBONES)
RECONSTRUCTIONS = ("sum", "mean")


@keras.saving.register_keras_serializable(package="coretf")
class SplitLayers(keras.layers.Layer):
    """(batch, L, H, W, C) -> L tensors (batch, H, W, C), one per focal layer."""

    def __init__(self, num_layers: int = NUM_LAYERS, **kwargs):
        super().__init__(**kwargs)
        self.num_layers = num_layers

    def call(self, inputs):
        return [inputs[:, i] for i in range(self.num_layers)]

    def compute_output_shape(self, input_shape):
        return [(input_shape[0], *input_shape[2:])] * self.num_layers

    def get_config(self):
        return {**super().get_config(), "num_layers": self.num_layers}


def _basic_block(x, filters: int, stride: int, name: str):
    shortcut = x
    x = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                            kernel_initializer="he_normal", name=f"{name}_conv1")(x)
    x = BatchNormalization(momentum=0.9, name=f"{name}_conv1_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_conv1_act")(x)
    x = conv_bn_act(x, filters, 3, name=f"{name}_conv2", activation=None)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides=stride, use_bias=False,
                                       kernel_initializer="he_normal", name=f"{name}_proj")(shortcut)
        shortcut = BatchNormalization(momentum=0.9, name=f"{name}_proj_bn")(shortcut)
    return keras.layers.Activation("relu", name=f"{name}_out")(keras.layers.Add(name=f"{name}_add")([x, shortcut]))


def build_resnet_branch(crop_size: int, backbone: str = "small", *, weights: str | None = None,
                        name: str = "branch") -> keras.Model:
    """One focal layer's feature extractor: RGB in [0, 1] -> pooled features.

    Args:
        crop_size: input side, px.
        backbone: one of BACKBONES.
        weights: Keras backbones only: a local ImageNet weights file (`*_notop.h5`), or None.
        name: model name.

    Returns:
        Model (batch, crop_size, crop_size, 3) float -> (batch, F) float features
        (F = 128 small, 512 resnet18, 2048 resnet50/152).
    """
    inputs = keras.Input((crop_size, crop_size, 3), name=f"{name}_rgb")
    if backbone in KERAS_BACKBONES:
        # ImageNet ResNets expect Caffe-style inputs: BGR, 0-255, ImageNet mean subtracted.
        x = keras.layers.Rescaling(255.0, name=f"{name}_to255")(inputs)
        x = keras.layers.Lambda(keras.applications.resnet.preprocess_input, name=f"{name}_caffe")(x)
        net = KERAS_BACKBONES[backbone](include_top=False, weights=weights, pooling="avg",
                                        input_shape=(crop_size, crop_size, 3), name=f"{name}_{backbone}")
        return keras.Model(inputs, net(x), name=name)
    if backbone not in BASIC_BACKBONES:
        raise ValueError(f"backbone {backbone!r}: must be one of {', '.join(BACKBONES)}")
    if weights:
        raise ValueError(f"backbone {backbone!r} has no ImageNet weights; use resnet50 or resnet152")
    stem_filters, stem_kernel, stem_pool, stages = BASIC_BACKBONES[backbone]
    x = keras.layers.Conv2D(stem_filters, stem_kernel, strides=2, padding="same", use_bias=False,
                            kernel_initializer="he_normal", name=f"{name}_stem")(inputs)
    x = BatchNormalization(momentum=0.9, name=f"{name}_stem_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_stem_act")(x)
    if stem_pool:
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_stem_pool")(x)
    for s, (filters, blocks, stride) in enumerate(stages):
        for b in range(blocks):
            x = _basic_block(x, filters, stride if b == 0 else 1, f"{name}_s{s}b{b}")
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(x), name=name)


def build_grain_encoder(crop_size: int = 280, latent_dim: int = 512, *, backbone: str = "small",
                        shared_branches: bool = False, weights: str | None = None) -> keras.Model:
    """Six focal layers -> (z_mean, z_log_var).

    Args:
        crop_size: side of the particle crops, px.
        latent_dim: latent size (the paper: 512).
        backbone: branch architecture (BACKBONES).
        shared_branches: one branch's weights for all six layers instead of six branches.
        weights: local ImageNet weights file for the Keras backbones.

    Returns:
        Model (batch, 6, S, S, 3) float32 in [0, 1] -> [(batch, latent), (batch, latent)] float32.
    """
    inputs = keras.Input((NUM_LAYERS, crop_size, crop_size, 3), name="layers")
    parts = SplitLayers(NUM_LAYERS, name="split_layers")(inputs)
    if shared_branches:
        branch = build_resnet_branch(crop_size, backbone, weights=weights, name="branch")
        features = [branch(p) for p in parts]
    else:
        features = [build_resnet_branch(crop_size, backbone, weights=weights, name=f"branch_{i}")(p)
                    for i, p in enumerate(parts)]
    x = keras.layers.Concatenate(name="branches")(features)
    z_mean = keras.layers.Dense(latent_dim, dtype="float32", name="z_mean")(x)
    z_log_var = keras.layers.Dense(latent_dim, dtype="float32", kernel_initializer="zeros",
                                   name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def build_grain_decoder(crop_size: int = 280, latent_dim: int = 512, *,
                        filters: tuple[int, ...] = (256, 128, 64, 32, 32)) -> keras.Model:
    """Latent -> six RGB focal layers at crop_size (see the module docstring for the crop).

    Args:
        crop_size: output side, px.
        latent_dim: latent size.
        filters: filters of the stride-2 transposed-convolution stages (one stage each).

    Returns:
        Model (batch, latent) -> (batch, 6, S, S, 3) float32 in [0, 1].
    """
    factor = 2 ** len(filters)
    start = math.ceil(crop_size / factor)
    excess = start * factor - crop_size
    inputs = keras.Input((latent_dim,), name="z")
    x = keras.layers.Dense(start * start * filters[0], activation="relu", name="project")(inputs)
    x = keras.layers.Reshape((start, start, filters[0]), name="grid")(x)
    for i, f in enumerate(filters):
        x = keras.layers.Conv2DTranspose(f, 3, strides=2, padding="same", use_bias=False,
                                         kernel_initializer="he_normal", name=f"up{i}")(x)
        x = BatchNormalization(momentum=0.9, name=f"up{i}_bn")(x)
        x = keras.layers.Activation("relu", name=f"up{i}_act")(x)
    x = keras.layers.Conv2D(NUM_LAYERS * 3, 3, padding="same", name="rgb")(x)
    x = keras.layers.Activation("sigmoid", dtype="float32", name="rgb_sigmoid")(x)
    if excess:
        x = keras.layers.Cropping2D(((excess // 2, excess - excess // 2),) * 2, name="crop")(x)
    x = keras.layers.Reshape((crop_size, crop_size, NUM_LAYERS, 3), name="split_rgb")(x)
    outputs = keras.layers.Permute((3, 1, 2, 4), name="layers_first")(x)
    return keras.Model(inputs, outputs, name="decoder")


def kl_divergence(z_mean, z_log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) summed over the latent: (batch, latent) -> (batch,)."""
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)


def vae_losses(x, reconstruction, z_mean, z_log_var, *, beta: float = 1.0, reduction: str = "sum"):
    """(total, reconstruction, KL) scalars with the reductions of the module docstring.

    Args:
        x, reconstruction: (batch, 6, S, S, 3) float in [0, 1].
        z_mean, z_log_var: (batch, latent).
        beta: weight of the KL term.
        reduction: "sum" or "mean" (RECONSTRUCTIONS).
    """
    squared = ops.square(ops.cast(x, "float32") - ops.cast(reconstruction, "float32"))
    if reduction == "sum":
        rec = ops.mean(ops.sum(ops.reshape(squared, (ops.shape(squared)[0], -1)), axis=-1))
    elif reduction == "mean":
        rec = ops.mean(squared)
    else:
        raise ValueError(f"reduction {reduction!r}: must be one of {RECONSTRUCTIONS}")
    kl = ops.mean(kl_divergence(ops.cast(z_mean, "float32"), ops.cast(z_log_var, "float32")))
    return rec + beta * kl, rec, kl


@keras.saving.register_keras_serializable(package="coretf")
class GrainVAE(keras.Model):
    """Encoder + Sampling + decoder, trained on the loss of `vae_losses`.

    Calling the model returns the reconstruction of a sampled z (training) or of the mean
    (inference). Fit it on a dataset of (batch, 6, S, S, 3) float32 batches in [0, 1].
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, *, beta: float = 1.0,
                 reduction: str = "sum", seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if reduction not in RECONSTRUCTIONS:
            raise ValueError(f"reduction {reduction!r}: must be one of {RECONSTRUCTIONS}")
        self.encoder, self.decoder = encoder, decoder
        self.beta, self.reduction, self.seed = beta, reduction, seed
        self.sampling = Sampling(seed=seed, name="sampling")
        self.total_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    def build(self, input_shape=None):
        # The encoder and decoder are built functional models; Sampling has no weights.
        self.built = True

    @property
    def metrics(self):
        return [self.total_tracker, self.reconstruction_tracker, self.kl_tracker]

    def call(self, inputs, training=False):
        z_mean, z_log_var = self.encoder(inputs, training=training)
        z = self.sampling([z_mean, z_log_var]) if training else z_mean
        return self.decoder(z, training=training)

    def _step_losses(self, x, training: bool):
        z_mean, z_log_var = self.encoder(x, training=training)
        reconstruction = self.decoder(self.sampling([z_mean, z_log_var]), training=training)
        return vae_losses(x, reconstruction, z_mean, z_log_var, beta=self.beta, reduction=self.reduction)

    def _record(self, losses):
        for tracker, value in zip(self.metrics, losses):
            tracker.update_state(value)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        with tf.GradientTape() as tape:
            losses = self._step_losses(x, training=True)
            scaled = self.optimizer.scale_loss(losses[0])  # loss scaling under mixed_float16
        gradients = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self._record(losses)

    def test_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        return self._record(self._step_losses(x, training=False))

    def get_config(self):
        return {**super().get_config(), "beta": self.beta, "reduction": self.reduction, "seed": self.seed,
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        decoder = keras.saving.deserialize_keras_object(config.pop("decoder"))
        return cls(encoder, decoder, **config)


def build_grain_vae(crop_size: int = 280, latent_dim: int = 512, *, backbone: str = "small",
                    shared_branches: bool = False, weights: str | None = None, beta: float = 1.0,
                    reduction: str = "sum", seed: int | None = None) -> GrainVAE:
    """The six-branch ResNet VAE, built (arguments: `build_grain_encoder` and `GrainVAE`)."""
    encoder = build_grain_encoder(crop_size, latent_dim, backbone=backbone, shared_branches=shared_branches,
                                  weights=weights)
    model = GrainVAE(encoder, build_grain_decoder(crop_size, latent_dim), beta=beta, reduction=reduction,
                     seed=seed, name="grain_vae")
    model.build((None, NUM_LAYERS, crop_size, crop_size, 3))
    return model
