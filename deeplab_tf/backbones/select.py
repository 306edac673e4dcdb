"""The backbone a `ModelConfig` names, and its per-layer atrous rates, whichever family it is."""

from deeplab_tf.backbones import mobilenet_v2
from deeplab_tf.backbones.block_plan import conv_rates as resnet_conv_rates
from deeplab_tf.backbones.block_plan import unit_rates as resnet_unit_rates
from deeplab_tf.backbones.mobilenet_v2 import AtrousMobileNetV2
from deeplab_tf.backbones.resnet import AtrousResNet


def backbone_class(config):
    """`AtrousMobileNetV2` or `AtrousResNet`."""
    return AtrousMobileNetV2 if config.is_mobilenet else AtrousResNet


def build_backbone(config, **kwargs):
    """The atrous backbone of a `ModelConfig`: RGB 0..255 → last feature map.

    Maps the config to the backbone class's arguments (`config_arguments`);
    `kwargs` go to the class as well (`fold_batch_norm`, `low_level_output`,
    `name`, `dtype`).
    """
    return backbone_class(config).from_model_config(config, **kwargs)


def unit_rates(config):
    """{block name: [atrous rate of each unit]}, as `tools.model_info` reports.

    A MobileNetV2 block is one unit (its depthwise convolution's rate).
    """
    if config.is_mobilenet:
        return {name: [rate] for name, rate in mobilenet_v2.depthwise_rates(config).items()}
    return resnet_unit_rates(config)


def conv_rates(config):
    """{block name: [[rate of each 3×3 convolution] of each unit]}, as `tools.model_info` reports."""
    if config.is_mobilenet:
        return {name: [[rate]] for name, rate in mobilenet_v2.depthwise_rates(config).items()}
    return resnet_conv_rates(config)
