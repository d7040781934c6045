"""U-Net (Ronneberger, Fischer and Brox, MICCAI 2015) and the ice-core network of Bagherzadeh et al.

`build_unet` is the encoder-decoder with skip concatenation, in the seed papers' configurations:
- Hutton (2025), sediment-core disturbance: 64 -> 1024 features, depth 4, BatchNorm, 2-class softmax
  (`build_unet()` with its defaults).
- Bagherzadeh et al. (2023), ice-core micro-CT, as described in the paper: five stages, 3x3 convs,
  32 -> 128 features, ReLU, nearest-neighbour upsampling, one sigmoid output, 1.5 M parameters.
  The paper gives no intermediate widths; `build_unet((None, None, 1), 1,
  filters=(32, 64, 96, 112, 128), batchnorm=False, upsampling="nearest")` has 1,474,049.
- Lavrukhin et al. (draft), porous-rock micro-CT: 32 base filters, ELU, transposed-conv decoder,
  2-class softmax: `build_unet((64, 64, 1), 2, filters=32, activation="elu", batchnorm=False)`.

`build_icecore_unet_published` is the network of the published ice-core code
(github.com/Faramarz-bagherzadeh/Icecore_GMM_U-net, `Train a U-net/model_V1.py`), which differs from
the paper's description; see its docstring.
"""

from collections.abc import Callable, Sequence

import keras

from coretf.layers import conv_bn_act, logits_conv

UPSAMPLING = ("transpose", "nearest")

# The published ice-core code: encoder and decoder widths, deepest decoder level first.
ICECORE_ENCODER_FILTERS = (32, 52, 72, 92, 112, 128)
ICECORE_DECODER_FILTERS = (120, 106, 90, 70, 50, 32)


def build_unet(
    input_shape: tuple[int | None, int | None, int] = (None, None, 3),
    num_classes: int = 2,
    *,
    depth: int = 4,
    filters: int | Sequence[int] = 64,
    kernel_size: int = 3,
    activation: str | Callable = "relu",
    batchnorm: bool = True,
    upsampling: str = "transpose",
    convs_per_level: int = 2,
    name: str = "unet",
) -> keras.Model:
    """Build a U-Net as a functional Keras model.

    Each encoder level is `convs_per_level` conv(-BN)-activation blocks, whose output is the skip,
    then a 2x2 max-pool; the bottom level has the same blocks; each decoder level upsamples 2x
    (a 2x2 stride-2 transposed conv to the level's width, or nearest-neighbour repetition),
    concatenates the skip and applies the same blocks. A 1x1 float32 conv gives the logits.

    Args:
        input_shape: `(H, W, C)`; H and W may be None but must be multiples of `2**depth`.
        num_classes: 1 for a single logit (sigmoid applied by the loss or caller), 2+ for softmax
            logits.
        depth: Number of poolings (the paper's "stages" minus one).
        filters: Base width doubled at every level (int), or the widths of all `depth + 1`
            levels, top to bottom.
        kernel_size: Square kernel side of the level convolutions (odd).
        activation: Keras activation of every block ("relu", "elu", ...).
        batchnorm: BatchNormalization after every level convolution.
        upsampling: "transpose" or "nearest".
        convs_per_level: Conv blocks per level.
        name: Model name.

    Returns:
        `keras.Model` from `(batch, H, W, C)` to float32 logits `(batch, H, W, num_classes)`.

    Example:
        >>> model = build_unet()  # Hutton's U-Net, 64 -> 1024: 31,049,474 parameters
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    if upsampling not in UPSAMPLING:
        raise ValueError(f"upsampling must be one of {UPSAMPLING}, got {upsampling!r}")
    if convs_per_level < 1:
        raise ValueError(f"convs_per_level must be >= 1, got {convs_per_level}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size!r}")
    widths = _level_filters(filters, depth)

    def level_blocks(x, width, prefix):
        for i in range(convs_per_level):
            x = conv_bn_act(
                x, width, kernel_size, activation=activation, batchnorm=batchnorm,
                name=f"{prefix}_conv{i + 1}",
            )
        return x

    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    skips = []
    for level in range(depth):
        x = level_blocks(x, widths[level], f"encoder{level + 1}")
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"encoder{level + 1}_pool")(x)
    x = level_blocks(x, widths[depth], "bottom")
    for level in reversed(range(depth)):
        prefix = f"decoder{level + 1}"
        if upsampling == "transpose":
            x = keras.layers.Conv2DTranspose(
                widths[level], 2, strides=2, padding="same", name=f"{prefix}_upconv"
            )(x)
        else:
            x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"{prefix}_up")(x)
        x = keras.layers.Concatenate(name=f"{prefix}_concat")([x, skips[level]])
        x = level_blocks(x, widths[level], prefix)
    outputs = logits_conv(x, num_classes)
    return keras.Model(inputs, outputs, name=name)


def build_icecore_unet_published(
    input_shape: tuple[int | None, int | None, int] = (None, None, 1),
    *,
    name: str = "icecore_unet_published",
) -> keras.Model:
    """The U-Net of the published ice-core code, 1,513,409 parameters (Bagherzadeh et al. 2023).

    The arrangement that the PyTorch code builds, reproduced exactly (3x3 'same' convs with bias,
    no BatchNorm, six poolings, so H and W must be multiples of 64):
    - `conv1` (1 -> 32, linear) at full resolution; its pre-activation output is the top skip.
    - For each encoder width w_k of (32, 52, 72, 92, 112, 128): ReLU (k = 0) or a conv to w_k
      with ReLU (k > 0), 2x2 max-pool, then a *linear* conv w_k -> w_k at the pooled resolution.
      So each "pair" straddles a pooling, only its first conv has a ReLU, and the second (linear)
      conv's output is the skip of the next level up; the last one (128) is the bottleneck.
    - Six decoder levels, each nearest 2x upsampling, concatenation with the skip, and ONE 3x3
      conv with ReLU to (120, 106, 90, 70, 50, 32) features: 128+112 -> 120, 120+92 -> 106,
      106+72 -> 90, 90+52 -> 70, 70+32 -> 50, 50+32 -> 32.
    - A 3x3 (not 1x1) output conv 32 -> 1 giving one logit (the code's sigmoid is in the loss).

    Args:
        input_shape: `(H, W, C)`; the published network takes one channel.
        name: Model name.

    Returns:
        `keras.Model` from `(batch, H, W, C)` to float32 logits `(batch, H, W, 1)`.
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = conv_bn_act(
        inputs, ICECORE_ENCODER_FILTERS[0], 3, activation=None, batchnorm=False, name="conv1"
    )
    skips = [x]
    for k, width in enumerate(ICECORE_ENCODER_FILTERS):
        if k > 0:
            x = conv_bn_act(x, width, 3, activation=None, batchnorm=False, name=f"conv{2 * k + 1}")
        x = keras.layers.Activation("relu", name=f"conv{2 * k + 1}_relu")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{k + 1}")(x)
        x = conv_bn_act(x, width, 3, activation=None, batchnorm=False, name=f"conv{2 * k + 2}")
        skips.append(x)
    skips.pop()  # the deepest linear conv is the bottleneck, not a skip
    for i, width in enumerate(ICECORE_DECODER_FILTERS):
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up{i + 1}")(x)
        x = keras.layers.Concatenate(name=f"up{i + 1}_concat")([x, skips.pop()])
        x = conv_bn_act(x, width, 3, activation="relu", batchnorm=False, name=f"up{i + 1}_conv")
    outputs = logits_conv(x, 1, kernel_size=3)
    return keras.Model(inputs, outputs, name=name)


def _level_filters(filters: int | Sequence[int], depth: int) -> list[int]:
    if isinstance(filters, int):
        widths = [filters * 2**level for level in range(depth + 1)]
    else:
        widths = [int(f) for f in filters]
    if len(widths) != depth + 1 or min(widths) < 1:
        raise ValueError(
            f"filters must be a positive int or {depth + 1} positive ints, got {filters!r}"
        )
    return widths
