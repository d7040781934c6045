"""FCN-8s on a VGG16 backbone.

Long, Shelhamer and Darrell, "Fully Convolutional Networks for Semantic Segmentation", CVPR 2015,
Sec. 4.2 and Fig. 3.

VGG16's five conv blocks (2, 2, 3, 3, 3 convs of 3x3, each block ending in a 2x2 max-pool); fc6 and
fc7 as a 7x7 and a 1x1 convolution with ReLU and dropout; a 1x1 class scorer; the stride-32 scores
upsampled 2x by a learned transposed conv and added to the scores of pool4, upsampled 2x again and
added to the scores of pool3, then upsampled 8x to the input size. As in the paper the 2x
upsamplings start as bilinear interpolation and are learned; the 8x one is fixed bilinear. 'Same'
padding replaces the paper's 100-pixel padding and crops, so H and W must be multiples of 32.

Hutton (2025) used FCN-8 as one of the three sediment-core networks (kernel 3 or 5).
"""

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from coretf.layers import conv_bn_act

VGG16_FILTERS = (64, 128, 256, 512, 512)
VGG16_CONVS = (2, 2, 3, 3, 3)


@keras.saving.register_keras_serializable(package="coretf")
class BilinearUpsampling(keras.initializers.Initializer):
    """Transposed-conv kernel that upsamples each channel by bilinear interpolation.

    For a kernel `(k, k, C, C)` (Keras' `Conv2DTranspose` layout `(kh, kw, out, in)`) with
    `k = 2 * stride`, channel c maps to channel c only, through the separable triangle filter
    `1 - |i - center| / factor`, the initialisation of the FCN upsampling layers.
    """

    def __call__(self, shape, dtype=None):
        size, size_w, out_channels, in_channels = shape
        if size != size_w or out_channels != in_channels:
            raise ValueError(f"BilinearUpsampling needs a (k, k, C, C) kernel, got {shape}")
        factor = (size + 1) // 2
        center = factor - 1 if size % 2 == 1 else factor - 0.5
        tri = 1 - np.abs(np.arange(size) - center) / factor
        kernel = np.zeros(shape, dtype="float32")
        for c in range(out_channels):
            kernel[:, :, c, c] = np.outer(tri, tri)
        return keras.ops.convert_to_tensor(kernel, dtype=dtype or "float32")

    def get_config(self):
        return {}


def build_fcn8(
    input_shape: tuple[int | None, int | None, int] = (None, None, 3),
    num_classes: int = 2,
    *,
    kernel_size: int = 3,
    filters: Sequence[int] = VGG16_FILTERS,
    fc_filters: int = 4096,
    fc6_kernel: int = 7,
    dropout: float = 0.5,
    batchnorm: bool = False,
    vgg16_weights: str | None = None,
    name: str = "fcn8",
) -> keras.Model:
    """Build FCN-8s as a functional Keras model.

    Args:
        input_shape: `(H, W, C)`; H and W may be None but must be multiples of 32.
        num_classes: Score channels (logits).
        kernel_size: Backbone kernel side (3 in VGG16; Hutton also tried 5).
        filters: Widths of the five VGG16 blocks.
        fc_filters: Width of fc6 and fc7 (4096 in VGG16).
        fc6_kernel: Kernel side of fc6 (7 in VGG16, which covers the 7x7 pool5 map at 224 px).
        dropout: Dropout rate after fc6 and fc7.
        batchnorm: BatchNorm after every backbone conv (not in VGG16; incompatible with
            `vgg16_weights`).
        vgg16_weights: Path of a LOCAL Keras VGG16 no-top weight file (`.h5` or `.weights.h5`, e.g.
            `vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`) whose conv weights initialise the
            backbone. Nothing is ever downloaded. Requires the VGG16 shape: kernel 3, the default
            `filters`, no BatchNorm and 3 input channels.
        name: Model name.

    Returns:
        `keras.Model` from `(batch, H, W, C)` images to float32 logits `(batch, H, W, num_classes)`.
    """
    filters = tuple(int(f) for f in filters)
    if len(filters) != len(VGG16_CONVS) or min(filters) < 1:
        raise ValueError(f"filters must be {len(VGG16_CONVS)} positive ints, got {filters!r}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size!r}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if vgg16_weights is not None:
        _check_vgg16_compatible(input_shape, kernel_size, filters, batchnorm, vgg16_weights)

    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    pools = []
    for block, (width, convs) in enumerate(zip(filters, VGG16_CONVS), start=1):
        for i in range(1, convs + 1):
            # Keras VGG16's layer names, so that its weights copy over by name.
            x = conv_bn_act(
                x, width, kernel_size, batchnorm=batchnorm, name=f"block{block}_conv{i}"
            )
        x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
        pools.append(x)
    for layer, kernel in (("fc6", fc6_kernel), ("fc7", 1)):
        x = conv_bn_act(x, fc_filters, kernel, batchnorm=False, name=layer)
        x = keras.layers.Dropout(dropout, name=f"{layer}_dropout")(x)
    x = _score(x, num_classes, "score_fr")
    # Two learned 2x upsamplings, each fused with the scores of a shallower pool (pool4, pool3).
    for pool, stage in ((pools[3], "pool4"), (pools[2], "pool3")):
        x = _upsample(x, num_classes, 2, name=f"upscore_{stage}")
        x = keras.layers.Add(name=f"fuse_{stage}")([x, _score(pool, num_classes, f"score_{stage}")])
    outputs = _upsample(x, num_classes, 8, name="upscore8", trainable=False, dtype="float32")
    model = keras.Model(inputs, outputs, name=name)
    if vgg16_weights is not None:
        _load_vgg16_backbone(model, vgg16_weights)
    return model


def _score(x: keras.KerasTensor, num_classes: int, name: str) -> keras.KerasTensor:
    return keras.layers.Conv2D(num_classes, 1, name=name)(x)


def _upsample(x, num_classes, stride, *, name, trainable=True, dtype=None):
    # Kernel 2 * stride with 'same' padding is PyTorch's (k=2s, padding=s/2): exactly s-fold output.
    return keras.layers.Conv2DTranspose(
        num_classes,
        2 * stride,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_initializer=BilinearUpsampling(),
        trainable=trainable,
        dtype=dtype,
        name=name,
    )(x)


def _check_vgg16_compatible(input_shape, kernel_size, filters, batchnorm, path) -> None:
    problems = []
    if kernel_size != 3:
        problems.append(f"kernel_size={kernel_size} (VGG16 has 3)")
    if filters != VGG16_FILTERS:
        problems.append(f"filters={filters} (VGG16 has {VGG16_FILTERS})")
    if batchnorm:
        problems.append("batchnorm=True (VGG16 has no BatchNorm)")
    if input_shape[-1] != 3:
        problems.append(f"{input_shape[-1]} input channels (VGG16 takes 3)")
    if problems:
        raise ValueError("vgg16_weights needs the VGG16 backbone; got " + ", ".join(problems))
    # Checked here so that a name such as "imagenet" can never reach the downloader.
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f"vgg16_weights: no such local file {path!r} (nothing is downloaded)"
        )


def _load_vgg16_backbone(model: keras.Model, path: str) -> None:
    # keras.applications only downloads for weights="imagenet"; a path is read with load_weights,
    # which understands both the legacy .h5 and the Keras 3 .weights.h5 layouts.
    vgg = keras.applications.VGG16(include_top=False, weights=path, input_shape=(None, None, 3))
    for layer in vgg.layers:
        if isinstance(layer, keras.layers.Conv2D):
            model.get_layer(layer.name).set_weights(layer.get_weights())
