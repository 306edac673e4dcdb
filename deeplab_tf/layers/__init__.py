"""Custom Keras layers shared by backbones and heads; all registered and serialisable."""

from deeplab_tf.layers.atrous_conv import AtrousConv2D, conv2d
from deeplab_tf.layers.image_ops import ImageNetNormalization, ResizeToMatch, ScaleImage

__all__ = ["AtrousConv2D", "ImageNetNormalization", "ResizeToMatch", "ScaleImage", "conv2d"]
