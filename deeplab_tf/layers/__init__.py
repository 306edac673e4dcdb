"""Custom Keras layers shared by backbones and heads; all registered and serialisable."""

from deeplab_tf.layers.atrous_conv import AtrousConv2D, AtrousDepthwiseConv2D, conv2d, depthwise_conv2d
from deeplab_tf.layers.image_ops import ImageNetNormalization, MobileNetNormalization, ResizeToMatch, ScaleImage

__all__ = [
    "AtrousConv2D",
    "AtrousDepthwiseConv2D",
    "ImageNetNormalization",
    "MobileNetNormalization",
    "ResizeToMatch",
    "ScaleImage",
    "conv2d",
    "depthwise_conv2d",
]
