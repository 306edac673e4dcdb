"""Atrous ResNet backbones."""

from deeplab_tf.backbones.block_plan import BlockSpec, block_plan, conv_rates, unit_rates
from deeplab_tf.backbones.resnet import AtrousResNet, build_backbone
from deeplab_tf.backbones.imagenet_weights import load_imagenet_weights

__all__ = [
    "AtrousResNet",
    "BlockSpec",
    "block_plan",
    "conv_rates",
    "build_backbone",
    "load_imagenet_weights",
    "unit_rates",
]
