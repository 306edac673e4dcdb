"""Running a network at a fixed input size inside the serving graph (pad, or shrink, then crop back)."""

import operator

import numpy as np
import tensorflow as tf

from deeplab_tf.errors import ConfigError
from deeplab_tf.layers.image_ops import IMAGENET_MEAN_RGB


def check_input_size(input_size):
    """`input_size` (an int or (height, width)) as a (height, width) tuple of positive ints."""
    try:
        sizes = (input_size,) * 2 if np.ndim(input_size) == 0 else tuple(input_size)
        sizes = tuple(operator.index(s) for s in sizes)
    except TypeError:
        sizes = ()
    if len(sizes) != 2 or min(sizes) < 1:
        raise ConfigError("input_size", f"expected a positive int or (height, width), got {input_size!r}")
    return sizes


def at_fixed_size(predict, images, input_size):
    """Runs `predict` on `images` placed in a fixed `input_size` canvas.

    As the official DeepLab exporter does: an image that fits is padded at the
    bottom and right with the ImageNet mean pixel (zero after the model's own
    normalisation) and the padded area is cropped from the output. An image
    larger than `input_size` is first shrunk to fit (aspect ratio kept) and its
    output resized back to the original size, so every output is at the
    caller's input size. Shape-dependent branches are `tf.cond`s that the TFLite
    converter folds away once the input size is fixed.

    Args:
        predict: float32 [B, h, w, 3] → float32 [B, h, w, C] (e.g. probabilities).
        images: float32 [B, H, W, 3], RGB in 0..255.
        input_size: (height, width) the network runs at.

    Returns:
        float32 [B, H, W, C].
    """
    height, width = check_input_size(input_size)
    size = tf.shape(images)[1:3]
    size_f = tf.cast(size, tf.float32)
    scale = tf.minimum(1.0, tf.minimum(height / size_f[0], width / size_f[1]))
    shrink = scale < 1.0
    fitted_size = tf.minimum(
        tf.maximum(tf.cast(tf.math.round(size_f * scale), tf.int32), 1), tf.constant([height, width])
    )
    fitted = tf.cond(
        shrink, lambda: tf.image.resize(images, fitted_size, method="bilinear"), lambda: images
    )
    pad = tf.constant([height, width]) - fitted_size
    mean = tf.constant(IMAGENET_MEAN_RGB, tf.float32)

    def padded():
        paddings = [[0, 0], [0, pad[0]], [0, pad[1]], [0, 0]]
        return tf.pad(fitted - mean, paddings) + mean

    canvas = tf.cond(tf.reduce_any(pad > 0), padded, lambda: fitted)
    canvas = tf.ensure_shape(canvas, [None, height, width, 3])
    outputs = predict(canvas)
    outputs = tf.cond(
        tf.reduce_any(pad > 0), lambda: outputs[:, : fitted_size[0], : fitted_size[1]], lambda: outputs
    )
    return tf.cond(shrink, lambda: tf.image.resize(outputs, size, method="bilinear"), lambda: outputs)
