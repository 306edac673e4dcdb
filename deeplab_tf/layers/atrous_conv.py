"""Dilated convolutions, regular and depthwise, that run as one native op (sliced for bfloat16 on CPU)."""

import functools

import keras
import tensorflow as tf

# Input channels per slice of a bfloat16 dilated convolution on CPU (see `convolution_op`).
CPU_BFLOAT16_SLICE = 512


@keras.saving.register_keras_serializable(package="deeplab_tf")
class AtrousConv2D(keras.layers.Conv2D):
    """`Conv2D` whose dilation goes to the convolution op itself.

    Keras 3 on TensorFlow lowers a dilated `Conv2D` through `tf.nn.convolution`,
    which wraps it in SpaceToBatchND / BatchToSpaceND: two extra memory passes
    per layer, 2–6× slower on CPU (docs/performance.md, What each optimisation gained),
    and ops that TFLite GPU delegates
    refuse. `tf.nn.conv2d` passes `dilations` straight to the Conv2D kernel,
    which oneDNN and cuDNN run natively and TFLite converts to one CONV_2D with
    dilation factors. Same weights and results as `Conv2D`.
    """

    def convolution_op(self, inputs, kernel):
        if (self.data_format != "channels_last" or self.padding not in ("same", "valid")
                or not _runs_dilations_natively(inputs.dtype)):
            return super().convolution_op(inputs, kernel)
        channels = inputs.shape[-1]
        if inputs.dtype != tf.bfloat16 or channels is None or channels <= CPU_BFLOAT16_SLICE or _has_gpu():
            return self._conv(inputs, kernel)
        # oneDNN's AMX kernel runs a bfloat16 dilated convolution with thousands of input
        # channels (ASPP's 2048 → 256 branches) 3–8× slower than the sum of the same
        # convolution over 512-channel slices (docs/performance.md, What each optimisation
        # gained); float32 gains nothing.
        slices = range(0, channels, CPU_BFLOAT16_SLICE)
        return tf.add_n([
            self._conv(inputs[..., start : start + CPU_BFLOAT16_SLICE],
                       kernel[:, :, start : start + CPU_BFLOAT16_SLICE])
            for start in slices
        ])

    def _conv(self, inputs, kernel):
        return tf.nn.conv2d(
            inputs,
            kernel,
            strides=[1, *self.strides, 1],
            padding=self.padding.upper(),
            dilations=[1, *self.dilation_rate, 1],
        )



@keras.saving.register_keras_serializable(package="deeplab_tf")
class AtrousDepthwiseConv2D(keras.layers.DepthwiseConv2D):
    """`DepthwiseConv2D` whose dilation goes to the depthwise op itself.

    Keras lowers a dilated depthwise convolution through `tf.nn.depthwise_conv2d`,
    which wraps it in SpaceToBatchND / BatchToSpaceND, as for `Conv2D` (see
    `AtrousConv2D`). This layer runs `DepthwiseConv2dNative` with its `dilations`
    attribute, which TFLite converts to one DEPTHWISE_CONV_2D with dilation
    factors. TensorFlow's CPU gradient kernels of that op ignore the dilation
    (their gradients come out wrong, silently), so the gradient is taken through
    the SpaceToBatchND form instead: the same function, so the same gradient.
    Same weights and results as `DepthwiseConv2D`.
    """

    def call(self, inputs):
        strided = tuple(self.strides) != (1, 1)  # a stride and a dilation together: Keras' own decomposition
        if (self.data_format != "channels_last" or self.padding not in ("same", "valid") or strided
                or not _runs_dilations_natively(inputs.dtype)):
            return super().call(inputs)
        outputs = _dilated_depthwise(inputs, self.kernel, self.padding.upper(), list(self.dilation_rate))
        if self.use_bias:
            outputs = outputs + self.bias
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs


def _dilated_depthwise(inputs, kernel, padding, rate):
    kernel = tf.cast(kernel, inputs.dtype)

    @tf.custom_gradient
    def depthwise(x, k):
        def gradient(upstream):
            with tf.GradientTape() as tape:
                tape.watch([x, k])
                reference = tf.nn.depthwise_conv2d(x, k, [1, 1, 1, 1], padding, dilations=rate)
            return tape.gradient(reference, [x, k], output_gradients=upstream)

        outputs = tf.raw_ops.DepthwiseConv2dNative(
            input=x, filter=k, strides=[1, 1, 1, 1], padding=padding, dilations=[1, *rate, 1]
        )
        return outputs, gradient

    return depthwise(inputs, kernel)


def _has_gpu():
    return bool(tf.config.list_logical_devices("GPU"))


def _runs_dilations_natively(dtype):
    return _has_gpu() or cpu_runs_dilations(tf.as_dtype(dtype).name)


@functools.cache
def cpu_runs_dilations(dtype_name):
    """Whether this CPU's kernels take a dilation in `dtype_name`: Conv2D and its gradients, depthwise.

    oneDNN's kernels do. TensorFlow turns oneDNN on by default only on CPUs
    with AVX-512 or AMX, and uses it for bfloat16 only there; its own kernels
    refuse a dilated depthwise convolution and a dilated Conv2D gradient. Where
    this is False the layers take Keras' SpaceToBatchND form: slower, the same
    function. Asked once per dtype, eagerly, with a 5×5 input.
    """
    with tf.init_scope(), tf.device("/CPU:0"):
        x = tf.zeros([1, 5, 5, 1], dtype_name)
        k = tf.zeros([3, 3, 1, 1], dtype_name)
        dilated = {"strides": [1, 1, 1, 1], "padding": "SAME", "dilations": [1, 2, 2, 1]}
        try:
            tf.raw_ops.Conv2D(input=x, filter=k, **dilated)
            tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=[3, 3, 1, 1], out_backprop=x, **dilated)
            tf.raw_ops.Conv2DBackpropInput(input_sizes=[1, 5, 5, 1], filter=k, out_backprop=x, **dilated)
            tf.raw_ops.DepthwiseConv2dNative(input=x, filter=k, **dilated)
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.NotFoundError):
            return False
    return True


def _same_padded(plain, atrous, rate, *args, **kwargs):
    """A 'same'-padded `plain` layer, or its `atrous` form when dilated."""
    return (atrous if rate > 1 else plain)(*args, dilation_rate=rate, padding="same", **kwargs)


def depthwise_conv2d(kernel_size, *, strides=1, rate=1, use_bias=True, name=None, **kwargs):
    """A 'same'-padded depthwise convolution; dilated ones become `AtrousDepthwiseConv2D`."""
    return _same_padded(keras.layers.DepthwiseConv2D, AtrousDepthwiseConv2D, rate, kernel_size,
                        strides=strides, use_bias=use_bias, name=name, **kwargs)


def conv2d(filters, kernel_size, *, strides=1, rate=1, use_bias=True, name=None, **kwargs):
    """A 'same'-padded convolution; dilated ones become `AtrousConv2D`."""
    return _same_padded(keras.layers.Conv2D, AtrousConv2D, rate, filters, kernel_size,
                        strides=strides, use_bias=use_bias, name=name, **kwargs)
