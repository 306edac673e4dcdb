"""A dilated convolution that runs as one native convolution op."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="deeplab_tf")
class AtrousConv2D(keras.layers.Conv2D):
    """`Conv2D` whose dilation goes to the convolution op itself.

    Keras 3 on TensorFlow lowers a dilated `Conv2D` through `tf.nn.convolution`,
    which wraps it in SpaceToBatchND / BatchToSpaceND: two extra memory passes
    per layer, 2–6× slower on CPU (DESIGN §8), and ops that TFLite GPU delegates
    refuse. `tf.nn.conv2d` passes `dilations` straight to the Conv2D kernel,
    which oneDNN and cuDNN run natively and TFLite converts to one CONV_2D with
    dilation factors. Same weights and results as `Conv2D`.
    """

    def convolution_op(self, inputs, kernel):
        if self.data_format != "channels_last" or self.padding not in ("same", "valid"):
            return super().convolution_op(inputs, kernel)
        return tf.nn.conv2d(
            inputs,
            kernel,
            strides=[1, *self.strides, 1],
            padding=self.padding.upper(),
            dilations=[1, *self.dilation_rate, 1],
        )


def conv2d(filters, kernel_size, *, strides=1, rate=1, use_bias=True, name=None, **kwargs):
    """A 'same'-padded convolution; dilated ones become `AtrousConv2D`."""
    layer_class = AtrousConv2D if rate > 1 else keras.layers.Conv2D
    return layer_class(
        filters,
        kernel_size,
        strides=strides,
        dilation_rate=rate,
        padding="same",
        use_bias=use_bias,
        name=name,
        **kwargs,
    )
