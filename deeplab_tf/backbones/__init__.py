"""Atrous backbones: ResNet-18/34/50/101 and MobileNetV2."""

from deeplab_tf.backbones.block_plan import BlockSpec, block_plan, resnet_blocks
from deeplab_tf.backbones.imagenet_weights import load_imagenet_weights
from deeplab_tf.backbones.mobilenet_v2 import AtrousMobileNetV2, inverted_residual_plan, inverted_residuals
from deeplab_tf.backbones.resnet import AtrousResNet
from deeplab_tf.backbones.select import backbone_class, build_backbone, conv_rates, unit_rates

__all__ = [
    "AtrousMobileNetV2",
    "AtrousResNet",
    "BlockSpec",
    "backbone_class",
    "block_plan",
    "build_backbone",
    "conv_rates",
    "inverted_residual_plan",
    "inverted_residuals",
    "load_imagenet_weights",
    "resnet_blocks",
    "unit_rates",
]
