"""ResNet-18/34/50/101 that trade stride for atrous convolution (DeepLab v2/v3).

He et al., "Deep Residual Learning for Image Recognition", https://arxiv.org/abs/1512.03385;
atrous version as in Chen et al., "Rethinking Atrous Convolution for Semantic Image
Segmentation", https://arxiv.org/abs/1706.05587, §3.2.
"""

import keras

from deeplab_tf.backbones.base import AtrousBackbone
from deeplab_tf.backbones.block_plan import resnet_blocks
from deeplab_tf.config import BACKBONE_LAYOUTS
from deeplab_tf.errors import ConfigError
from deeplab_tf.layers import BatchNormAfterConv, ImageNetNormalization, conv2d

# keras.applications' BatchNormalization epsilon, kept so its weights reproduce.
BACKBONE_BN_EPSILON = 1.001e-5
DEPTHS = {name: int(name[len("resnet"):]) for name in BACKBONE_LAYOUTS}  # "resnet50": 50


@keras.saving.register_keras_serializable(package="deeplab_tf")
class AtrousResNet(AtrousBackbone):
    """An atrous ResNet: RGB in [0, 255] → the last feature map at `output_stride`.

    Bottleneck ResNet-50/101 follow `keras.applications` layer for layer (stride
    on the first 1×1 conv of a block, projection shortcut where the shape
    changes, biased convolutions, same layer names), so its ImageNet weights load
    with `deeplab_tf.load_imagenet_weights`. Basic-block ResNet-18/34 use
    bias-free convolutions. A shortcut is projected only where the unit changes
    the shape, so cascaded blocks 5–7 have identity shortcuts.

    A basic unit strides on its first 3×3 convolution, as in He et al. (and
    torchvision's ResNet-18/34). Where output stride replaces that stride with
    dilation, the convolution keeps the rate of the grid it reads (the
    previous block's) and only the second 3×3 takes the doubled rate
    (`BlockSpec.entry_rate`). So the OS8 network sampled at every second pixel
    is the OS16 network, which is what switching output stride at test time
    assumes (docs/evaluation.md, Why switching output stride at test time is sound).
    Official DeepLab's `lite_bottleneck` reaches
    the same identity by moving the stride to the unit's last 3×3; we keep the
    standard layout, so the network at OS32 is the plain ResNet and weights
    trained for it keep their meaning.

    Args:
        depth: 18, 34 (basic units), 50 or 101 (bottleneck units).
        output_stride: 8, 16 or 32, the ratio of input to output size; the
            blocks past it dilate instead of striding (`resnet_blocks`).
        multi_grid: rate multipliers of block4's units (and of the cascaded
            blocks'); None: all 1.
        num_cascaded_blocks: copies of block4 after it (blocks 5–7).
        batch_norm_decay: moving-average decay of every BatchNormalization.
        fold_batch_norm: build the inference form, where every convolution has
            a bias and no BatchNormalization follows it (weights from
            `deeplab_tf.fold_batch_norms`); for inference and export only.
        low_level_output: also return block1's output (stride 4), the feature
            the v3+ decoder refines with: the outputs are then
            `[low_level, features]`.
        dtype: the dtype policy of every layer; None takes the global one.

    Example:
    ```python
    backbone = AtrousResNet(depth=50, output_stride=16, multi_grid=(1, 2, 4))
    features = backbone(images)  # [B, ceil(H/16), ceil(W/16), 2048]
    # Or from a ModelConfig: deeplab_tf.build_backbone(config).
    ```
    """

    ARGUMENTS = ("depth", "output_stride", "multi_grid", "num_cascaded_blocks", "batch_norm_decay",
                 "fold_batch_norm", "low_level_output")

    def __init__(self, depth=50, output_stride=16, multi_grid=None, num_cascaded_blocks=0,
                 batch_norm_decay=0.9997, fold_batch_norm=False, low_level_output=False, **kwargs):
        if f"resnet{depth}" not in DEPTHS:
            raise ConfigError("depth", f"got {depth!r}; allowed values: {', '.join(map(str, DEPTHS.values()))}")
        unit_type, units_per_block = BACKBONE_LAYOUTS[f"resnet{depth}"]
        multi_grid = tuple(multi_grid or (1,) * units_per_block[-1])
        if len(multi_grid) != units_per_block[-1]:
            raise ConfigError("multi_grid", f"resnet{depth} has {units_per_block[-1]} units in its last block, "
                                            f"so multi_grid needs as many values, got {list(multi_grid)}")
        kwargs.setdefault("name", f"resnet{depth}_os{output_stride}")
        dtype = kwargs.get("dtype")
        norm = BatchNormAfterConv(batch_norm_decay, BACKBONE_BN_EPSILON, fold_batch_norm, dtype)
        bottleneck = unit_type == "bottleneck"

        # === Functional Model ===
        images = keras.Input(shape=(None, None, 3), name="image")
        x = ImageNetNormalization(name="preprocess", dtype=dtype)(images)
        x = _stem(x, bottleneck, norm)
        low_level = None
        for block in resnet_blocks(units_per_block, output_stride, multi_grid, num_cascaded_blocks):
            for unit, rate in enumerate(block.unit_rates):
                x = _residual_unit(
                    x,
                    bottleneck,
                    norm,
                    filters=block.filters,
                    stride=block.stride if unit == 0 else 1,
                    entry_rate=block.entry_rate if unit == 0 else rate,
                    rate=rate,
                    name=f"{block.prefix}_block{unit + 1}",
                )
            if low_level is None:
                low_level = x  # block1's output, at the stem's stride 4
        arguments = dict(depth=depth, output_stride=output_stride, multi_grid=multi_grid,
                         num_cascaded_blocks=num_cascaded_blocks, batch_norm_decay=batch_norm_decay,
                         fold_batch_norm=fold_batch_norm, low_level_output=low_level_output)
        self._finish(images, low_level, x, arguments, **kwargs)

    @classmethod
    def config_arguments(cls, config):
        return dict(depth=DEPTHS[config.backbone], output_stride=config.output_stride,
                    multi_grid=config.multi_grid, num_cascaded_blocks=config.num_cascaded_blocks,
                    batch_norm_decay=config.batch_norm_decay)


def _stem(x, bottleneck, norm):
    dtype = norm.dtype
    x = keras.layers.ZeroPadding2D(3, name="conv1_pad", dtype=dtype)(x)
    x = keras.layers.Conv2D(64, 7, strides=2, use_bias=norm.conv_bias(bottleneck), name="conv1_conv",
                            dtype=dtype)(x)
    x = norm(x, "conv1_bn")
    x = keras.layers.Activation("relu", name="conv1_relu", dtype=dtype)(x)
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad", dtype=dtype)(x)
    return keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool", dtype=dtype)(x)


def _residual_unit(x, bottleneck, norm, *, filters, stride, entry_rate, rate, name):
    dtype = norm.dtype
    bias = norm.conv_bias(bottleneck)
    out_filters = 4 * filters if bottleneck else filters
    shortcut = x
    if stride != 1 or x.shape[-1] != out_filters:
        shortcut = conv2d(out_filters, 1, strides=stride, use_bias=bias, name=f"{name}_0_conv", dtype=dtype)(x)
        shortcut = norm(shortcut, f"{name}_0_bn")

    if bottleneck:
        # keras.applications puts the stride on the first 1×1 convolution.
        x = conv2d(filters, 1, strides=stride, name=f"{name}_1_conv", dtype=dtype)(x)
        x = norm(x, f"{name}_1_bn")
        x = keras.layers.Activation("relu", name=f"{name}_1_relu", dtype=dtype)(x)
        x = conv2d(filters, 3, rate=rate, name=f"{name}_2_conv", dtype=dtype)(x)
        x = norm(x, f"{name}_2_bn")
        x = keras.layers.Activation("relu", name=f"{name}_2_relu", dtype=dtype)(x)
        x = conv2d(out_filters, 1, name=f"{name}_3_conv", dtype=dtype)(x)
        x = norm(x, f"{name}_3_bn")
    else:
        x = conv2d(filters, 3, strides=stride, rate=entry_rate, use_bias=bias, name=f"{name}_1_conv",
                   dtype=dtype)(x)
        x = norm(x, f"{name}_1_bn")
        x = keras.layers.Activation("relu", name=f"{name}_1_relu", dtype=dtype)(x)
        x = conv2d(filters, 3, rate=rate, use_bias=bias, name=f"{name}_2_conv", dtype=dtype)(x)
        x = norm(x, f"{name}_2_bn")

    x = keras.layers.Add(name=f"{name}_add", dtype=dtype)([shortcut, x])
    return keras.layers.Activation("relu", name=f"{name}_out", dtype=dtype)(x)
