"""Custom Keras layers and layer makers shared by backbones and heads; every layer registered and serialisable."""

from deeplab_tf.layers.atrous_conv import AtrousConv2D, AtrousDepthwiseConv2D, conv2d, depthwise_conv2d
from deeplab_tf.layers.batch_norm import BatchNormAfterConv
from deeplab_tf.layers.image_ops import ImageNetNormalization, MobileNetNormalization, ResizeToMatch, ScaleImage

__all__ = [
    "AtrousConv2D",
    "AtrousDepthwiseConv2D",
    "BatchNormAfterConv",
    "ImageNetNormalization",
    "MobileNetNormalization",
    "ResizeToMatch",
    "ScaleImage",
    "conv2d",
    "depthwise_conv2d",
]
