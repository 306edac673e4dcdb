"""Input normalisation and resizing layers that work for any input size."""

import keras
import tensorflow as tf

from deeplab_tf.layers.resize import resize_bilinear, scaled_size, spatial_size

# keras.applications' ResNet "caffe" preprocessing: BGR order, ImageNet mean removed.
IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)


@keras.saving.register_keras_serializable(package="deeplab_tf")
class ImageNetNormalization(keras.layers.Layer):
    """RGB in [0, 255] → what `keras.applications` ResNet weights expect.

    Flips RGB to BGR and subtracts the ImageNet mean pixel, as
    `keras.applications.resnet.preprocess_input` does, so callers always feed
    plain RGB.
    """

    def call(self, images):
        images = tf.cast(images, self.compute_dtype) - tf.constant(IMAGENET_MEAN_RGB, dtype=self.compute_dtype)
        # The flip as three channel slices concatenated, not `images[..., ::-1]`: the same numbers, but a
        # reversed slice is an operator the TFLite GPU delegate refuses (docs/deployment.md, "Mobile GPU").
        # After the mean, not before: int8 conversion then quantises the input once, not each slice.
        return tf.concat([images[..., 2:3], images[..., 1:2], images[..., 0:1]], axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="deeplab_tf")
class MobileNetNormalization(keras.layers.Layer):
    """RGB in [0, 255] → [-1, 1], what `keras.applications` MobileNetV2 weights expect.

    `x / 127.5 − 1`, as `keras.applications.mobilenet_v2.preprocess_input` does.
    """

    def call(self, images):
        return tf.cast(images, self.compute_dtype) / 127.5 - 1.0

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="deeplab_tf")
class ResizeToMatch(keras.layers.Layer):
    """Bilinearly resizes `inputs[0]` to the height and width of `inputs[1]`.

    The target size is read at run time, so one model serves every input size
    (no layer is created in `call`, unlike KerasHub's DeepLabV3, whose TFLite
    export fails because of it). Bilinear resizing is exact under XLA too
    (`deeplab_tf.layers.resize`).
    """

    def __init__(self, interpolation="bilinear", **kwargs):
        super().__init__(**kwargs)
        self.interpolation = interpolation

    def call(self, inputs):
        images, reference = inputs
        size = spatial_size(reference)
        if self.interpolation == "bilinear":
            resized = resize_bilinear(images, size)
        else:
            resized = tf.image.resize(images, size, method=self.interpolation)
        return tf.cast(resized, self.compute_dtype)

    def compute_output_shape(self, input_shapes):
        images, reference = input_shapes
        return (images[0], reference[1], reference[2], images[3])

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}


@keras.saving.register_keras_serializable(package="deeplab_tf")
class ScaleImage(keras.layers.Layer):
    """Bilinearly rescales images by a fixed factor (v2's multi-scale inputs).

    The new size is ceil(size × scale), so a 321 crop at 0.5 becomes 161 as in
    DeepLab v2's Caffe `Interp` shrink. Exact under XLA too (`deeplab_tf.layers.resize`).
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, images):
        size = scaled_size(spatial_size(images), self.scale)
        return tf.cast(resize_bilinear(images, size), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        def scaled(n):
            return None if n is None else int(-(-n * self.scale // 1))

        return (input_shape[0], scaled(input_shape[1]), scaled(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
