"""SegNet-Basic with max-pooling-index unpooling.

Badrinarayanan, Kendall and Cipolla, "SegNet: A Deep Convolutional Encoder-Decoder Architecture for
Image Segmentation", TPAMI 2017: SegNet-Basic (Sec. 4.1) has four encoders, each a 7x7 convolution
with 64 features, BatchNorm, ReLU and 2x2 max pooling that keeps the argmax indices, and four
decoders, each an unpooling with the matching encoder's indices and a 7x7 convolution with BatchNorm
and no ReLU, followed by a 1x1 classifier. Hutton (2025) found it the best of the three networks for
sediment-core disturbance (Table 2), with kernels 3 and 5 as well as 7.

Unlike the public coreclean code, the classifier output here is plain logits: no BatchNorm or ReLU
on the logits, and float32 under mixed precision.
"""

from collections.abc import Sequence

import keras

from coretf.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D, conv_bn_act, logits_conv

KERNEL_SIZES = (3, 5, 7)


def build_segnet(
    input_shape: tuple[int | None, int | None, int] = (None, None, 3),
    num_classes: int = 2,
    *,
    kernel_size: int = 7,
    filters: int | Sequence[int] = 64,
    depth: int = 4,
    name: str = "segnet",
) -> keras.Model:
    """Build SegNet-Basic as a functional Keras model.

    Args:
        input_shape: `(H, W, C)`; H and W may be None but must be multiples of `2**depth` at run
            time (pad the input: the index pooling never crops).
        num_classes: Logit channels (2 for disturbed / undisturbed).
        kernel_size: 3, 5 or 7 (the paper's 7; Hutton also used 3 and 5).
        filters: Features of every level (int), or one int per level (length `depth`); decoder
            level i outputs the features of encoder level i - 1 so that the next unpooling's
            indices match.
        depth: Number of encoder (and decoder) levels.
        name: Model name.

    Returns:
        `keras.Model` mapping `(batch, H, W, C)` images to float32 logits
        `(batch, H, W, num_classes)`.

    Example:
        >>> model = build_segnet((256, 256, 3), 2)  # SegNet-Basic: 1,416,514 parameters
    """
    if kernel_size not in KERNEL_SIZES:
        raise ValueError(f"kernel_size must be one of {KERNEL_SIZES}, got {kernel_size!r}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    widths = _level_filters(filters, depth)

    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    indices = []
    for level, width in enumerate(widths):
        x = conv_bn_act(x, width, kernel_size, name=f"encoder{level + 1}_conv")
        x, idx = MaxPoolingWithArgmax2D(name=f"encoder{level + 1}_pool")(x)
        indices.append(idx)
    for level in reversed(range(depth)):
        x = MaxUnpooling2D(name=f"decoder{level + 1}_unpool")([x, indices[level]])
        # SegNet-Basic decoders are linear (conv + BN): the paper drops the ReLU there.
        out_width = widths[max(level - 1, 0)]
        x = conv_bn_act(x, out_width, kernel_size, activation=None, name=f"decoder{level + 1}_conv")
    outputs = logits_conv(x, num_classes)
    return keras.Model(inputs, outputs, name=name)


def _level_filters(filters: int | Sequence[int], depth: int) -> list[int]:
    if isinstance(filters, int):
        widths = [filters] * depth
    else:
        widths = [int(f) for f in filters]
    if len(widths) != depth or min(widths) < 1:
        raise ValueError(
            f"filters must be a positive int or {depth} positive ints, got {filters!r}"
        )
    return widths
