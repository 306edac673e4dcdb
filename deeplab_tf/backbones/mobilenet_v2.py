"""MobileNetV2 that trades stride for atrous depthwise convolution (mobile DeepLab v3 / v3+).

Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
https://arxiv.org/abs/1801.04381 (Table 2 is the layout below; §6.3 the DeepLabv3
head on it). Atrous as for the ResNets: Chen et al. 2017, https://arxiv.org/abs/1706.05587, §3.1.
"""

import dataclasses

import keras

from deeplab_tf.backbones.base import AtrousBackbone
from deeplab_tf.layers import BatchNormAfterConv, MobileNetNormalization, depthwise_conv2d

# keras.applications.MobileNetV2's BatchNormalization epsilon, kept so its weights reproduce.
MOBILENET_BN_EPSILON = 1e-3
STEM_FILTERS = 32
# (expansion, output channels at width 1.0, stride) of block_0 … block_16 (Table 2).
INVERTED_RESIDUALS = (
    (1, 16, 1),
    (6, 24, 2), (6, 24, 1),
    (6, 32, 2), (6, 32, 1), (6, 32, 1),
    (6, 64, 2), (6, 64, 1), (6, 64, 1), (6, 64, 1),
    (6, 96, 1), (6, 96, 1), (6, 96, 1),
    (6, 160, 2), (6, 160, 1), (6, 160, 1),
    (6, 320, 1),
)
# The stride-4 feature the v3+ decoder refines with: block_2's depthwise output
# (official DeepLab's `layer_4/depthwise_output`).
LOW_LEVEL_LAYER = "block_2_depthwise_relu"
# Layers of keras.applications.MobileNetV2 this backbone leaves out: the 1280-channel
# head after block_16 and the classifier. `load_imagenet_weights` skips them.
IMAGENET_LAYERS_LEFT_OUT = ("Conv_1", "Conv_1_bn", "predictions")


@dataclasses.dataclass(frozen=True)
class InvertedResidual:
    """One inverted residual block: expand 1×1 → depthwise 3×3 → linear project 1×1.

    Attributes:
        prefix: the `keras.applications` layer-name prefix ("expanded_conv_", "block_1_", …).
        expansion: expand ratio (block_0 has no expand convolution).
        filters: output channels, after the width multiplier.
        stride: stride of the depthwise convolution at this output stride (1 or 2).
        rate: atrous rate of the depthwise convolution.
        residual: whether the input is added back (same shape in the original network).
    """

    prefix: str
    expansion: int
    filters: int
    stride: int
    rate: int
    residual: bool


def make_divisible(channels, divisor=8):
    """`channels` rounded to the nearest multiple of `divisor`, never below 90% of it (Table 2's widths)."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


def stem_filters(alpha):
    return make_divisible(STEM_FILTERS * alpha)


def inverted_residual_plan(config):
    """The blocks of the MobileNetV2 a `ModelConfig` describes (see `inverted_residuals`)."""
    return inverted_residuals(config.width_multiplier, config.output_stride)


def inverted_residuals(alpha, output_stride):
    """The blocks of a MobileNetV2 of width `alpha`, with their strides and rates at `output_stride`.

    Until the running stride reaches `output_stride` a block keeps its stride;
    after that it keeps stride 1 and the atrous rate doubles instead. A block
    whose stride is replaced keeps the rate of the grid it reads, and only the
    blocks after it take the doubled rate, as official DeepLab's MobileNetV2
    does and as the ResNets' `BlockSpec.entry_rate`: the network at output
    stride S/2, sampled at every second pixel, is the network at S.
    """
    running_stride, rate = 2, 1  # after Conv1
    in_channels = stem_filters(alpha)
    blocks = []
    for index, (expansion, width, original_stride) in enumerate(INVERTED_RESIDUALS):
        filters = make_divisible(int(width * alpha))
        stride, block_rate = original_stride, rate
        if stride == 2:
            if running_stride < output_stride:
                running_stride *= 2
            else:
                stride, rate = 1, rate * 2
        # The residual follows the original network's shapes, whatever the output stride.
        residual = original_stride == 1 and in_channels == filters
        blocks.append(InvertedResidual(
            prefix=f"block_{index}_" if index else "expanded_conv_",
            expansion=expansion, filters=filters, stride=stride, rate=block_rate, residual=residual,
        ))
        in_channels = filters
    return blocks


def depthwise_rates(config):
    """{block name: atrous rate of its depthwise convolution}."""
    return {block.prefix.rstrip("_"): block.rate for block in inverted_residual_plan(config)}


@keras.saving.register_keras_serializable(package="deeplab_tf")
class AtrousMobileNetV2(AtrousBackbone):
    """An atrous MobileNetV2: RGB in [0, 255] → block_16's 320-channel projection at `output_stride`.

    Layer for layer `keras.applications.MobileNetV2(include_top=False, alpha=...)`
    (same names, shapes and BatchNormalization epsilon) up to
    `block_16_project_BN`, official DeepLab's `layer_18`; the 1280-channel
    `Conv_1` head is left out. So ImageNet weights load with
    `deeplab_tf.load_imagenet_weights`. The input is normalised inside, `x/127.5 − 1`.

    Strided depthwise convolutions pad as TensorFlow's `SAME`. keras.applications
    pads them by (0, 1) when the input size is unknown, which is `SAME` on even
    sizes: the two networks agree exactly there. On odd sizes (513) `SAME` pads
    both sides, as official DeepLab does, so the sampling grid stays centred and
    the à trous identity holds. Dilated depthwise convolutions are
    `AtrousDepthwiseConv2D`: one op, no SpaceToBatchND.

    Args:
        alpha: the width multiplier (`keras.applications`' `alpha`): 0.35, 0.5,
            0.75, 1.0, 1.3 or 1.4 have ImageNet weights.
        output_stride: 8, 16 or 32, the ratio of input to output size; the
            blocks past it dilate instead of striding (`inverted_residuals`).
        batch_norm_decay: moving-average decay of every BatchNormalization.
        fold_batch_norm: the inference form: biased convolutions and no
            BatchNormalization (weights from `deeplab_tf.fold_batch_norms`).
        low_level_output: also return the stride-4 feature of the v3+ decoder
            (`LOW_LEVEL_LAYER`): the outputs are then `[low_level, features]`.
        dtype: the dtype policy of every layer; None takes the global one.

    Example:
    ```python
    backbone = AtrousMobileNetV2(alpha=0.5, output_stride=16)
    features = backbone(images)  # [B, ceil(H/16), ceil(W/16), 160]
    # Or from a ModelConfig: deeplab_tf.build_backbone(config).
    ```
    """

    ARGUMENTS = ("alpha", "output_stride", "batch_norm_decay", "fold_batch_norm", "low_level_output")

    def __init__(self, alpha=1.0, output_stride=16, batch_norm_decay=0.9997, fold_batch_norm=False,
                 low_level_output=False, **kwargs):
        kwargs.setdefault("name", f"mobilenetv2_{int(round(100 * alpha)):03d}_os{output_stride}")
        dtype = kwargs.get("dtype")
        norm = BatchNormAfterConv(batch_norm_decay, MOBILENET_BN_EPSILON, fold_batch_norm, dtype)

        # === Functional Model ===
        images = keras.Input(shape=(None, None, 3), name="image")
        x = MobileNetNormalization(name="preprocess", dtype=dtype)(images)
        x = keras.layers.Conv2D(stem_filters(alpha), 3, strides=2, padding="same",
                                use_bias=norm.conv_bias(), name="Conv1", dtype=dtype)(x)
        x = norm(x, "bn_Conv1")
        x = keras.layers.ReLU(6.0, name="Conv1_relu", dtype=dtype)(x)
        low_level = None
        for block in inverted_residuals(alpha, output_stride):
            x, depthwise = _inverted_residual(x, block, norm)
            if f"{block.prefix}depthwise_relu" == LOW_LEVEL_LAYER:
                low_level = depthwise
        arguments = dict(alpha=alpha, output_stride=output_stride, batch_norm_decay=batch_norm_decay,
                         fold_batch_norm=fold_batch_norm, low_level_output=low_level_output)
        self._finish(images, low_level, x, arguments, **kwargs)

    @classmethod
    def config_arguments(cls, config):
        return dict(alpha=config.width_multiplier, output_stride=config.output_stride,
                    batch_norm_decay=config.batch_norm_decay)


def _inverted_residual(inputs, block, norm):
    """The block's output and its depthwise output (after BN and ReLU6)."""
    prefix, dtype = block.prefix, norm.dtype
    bias = norm.conv_bias()
    x = inputs
    if block.expansion != 1:
        x = keras.layers.Conv2D(block.expansion * inputs.shape[-1], 1, use_bias=bias, name=f"{prefix}expand",
                                dtype=dtype)(x)
        x = norm(x, f"{prefix}expand_BN")
        x = keras.layers.ReLU(6.0, name=f"{prefix}expand_relu", dtype=dtype)(x)
    x = depthwise_conv2d(3, strides=block.stride, rate=block.rate, use_bias=bias, name=f"{prefix}depthwise",
                         dtype=dtype)(x)
    x = norm(x, f"{prefix}depthwise_BN")
    depthwise = x = keras.layers.ReLU(6.0, name=f"{prefix}depthwise_relu", dtype=dtype)(x)
    x = keras.layers.Conv2D(block.filters, 1, use_bias=bias, name=f"{prefix}project", dtype=dtype)(x)
    x = norm(x, f"{prefix}project_BN")
    if block.residual:
        x = keras.layers.Add(name=f"{prefix}add", dtype=dtype)([inputs, x])
    return x, depthwise
