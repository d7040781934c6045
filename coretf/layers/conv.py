"""The convolution blocks shared by SegNet, U-Net and FCN-8s.

`conv_bn_act` is the conv -> BatchNorm -> activation unit of all three models (BatchNorm: Ioffe
and Szegedy, ICML 2015, on TensorFlow's fused kernel: `coretf.layers.normalization`); `logits_conv` is the classifier that ends SegNet and U-Net, kept in
float32 so that logits and losses stay float32 under a mixed-precision policy.
"""

from collections.abc import Callable

import keras

from coretf.layers.normalization import BatchNormalization


def conv_bn_act(
    x: keras.KerasTensor,
    filters: int,
    kernel_size: int,
    *,
    name: str,
    activation: str | Callable | None = "relu",
    batchnorm: bool = True,
) -> keras.KerasTensor:
    """'Same'-padded 2-D convolution, optional BatchNorm, optional activation.

    With `batchnorm=True` the layers are `Conv2D(use_bias=False)` named `name`,
    `BatchNormalization` named `{name}_bn` and (unless `activation` is None) `Activation` named
    `{name}_act`; the conv has no bias because BN's beta replaces it, and the BN sits directly
    after the conv so that `coretf.models.fold_batchnorm` can fold it. With `batchnorm=False`, a
    single `Conv2D` named `name` with bias and the activation built in: the layout of Keras'
    VGG16, whose weights can then be copied by layer name.

    Args:
        x: Input tensor `(batch, H, W, C_in)`, channels last.
        filters: Number of output channels.
        kernel_size: Square kernel side.
        name: Name of the conv layer; the BN and activation names derive from it.
        activation: Keras activation name or callable; None for a linear block.
        batchnorm: Whether a BatchNormalization follows the conv.

    Returns:
        Tensor `(batch, H, W, filters)`.
    """
    # He initialisation: every block is followed by a ReLU-like activation or feeds one.
    if not batchnorm:
        return keras.layers.Conv2D(
            filters,
            kernel_size,
            padding="same",
            activation=activation,
            kernel_initializer="he_normal",
            name=name,
        )(x)
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name=name,
    )(x)
    # momentum 0.9 is PyTorch's default (0.1 there), the paper's code's setting; Keras' 0.99
    # leaves the moving statistics near their initial values for the first few hundred steps,
    # which ruins validation of the short runs the papers make (3 epochs).
    x = BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    if activation is not None:
        x = keras.layers.Activation(activation, name=f"{name}_act")(x)
    return x


def logits_conv(
    x: keras.KerasTensor, num_classes: int, kernel_size: int = 1, *, name: str = "logits"
) -> keras.KerasTensor:
    """Linear classifier convolution computed in float32, whatever the global dtype policy.

    Args:
        x: Features `(batch, H, W, C)`.
        num_classes: Output channels; 1 gives a single logit for a sigmoid, 2+ softmax logits.
        kernel_size: Square kernel side (1 for SegNet and U-Net, 3 in the published ice-core code).
        name: Layer name.

    Returns:
        Float32 logits `(batch, H, W, num_classes)`; no activation (the loss applies it).
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    # float32 here rather than a float32 Activation after it: bfloat16 keeps only 8 bits of
    # mantissa, so logits rounded to it would already have lost what the loss needs.
    return keras.layers.Conv2D(
        num_classes, kernel_size, padding="same", dtype="float32", name=name
    )(x)
