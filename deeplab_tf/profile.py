"""Static facts about a network: parameters, FLOPs and feature-map size."""

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
from tensorflow.python.util import deprecation

from deeplab_tf.backbones import build_backbone, conv_rates, unit_rates
from deeplab_tf.models import build_model


def count_flops(model, input_size, batch_size=1, *, padding_taps=True):
    """FLOPs of one forward pass (a multiply-add counts 2), from TF's graph profiler.

    The model is traced at a fixed input size and its variables frozen into
    constants, so the profiler sees every op's static shape. Convolutions
    count all taps, dilated or not; `padding_taps=False` leaves out the taps
    that fall on "same" padding (`padding_flops`).
    """
    graph = forward_graph(model, input_size, batch_size)
    return graph_flops(graph) - (0 if padding_taps else padding_flops(graph))


def forward_graph(model, input_size, batch_size=1):
    """The inference-mode forward pass at a fixed input size, variables frozen into constants."""
    height, width = input_size
    spec = tf.TensorSpec([batch_size, height, width, 3], tf.float32)
    function = tf.function(lambda images: model(images, training=False))
    return convert_variables_to_constants_v2(function.get_concrete_function(spec)).graph


def graph_flops(graph):
    """FLOPs of one run of a `tf.Graph` whose shapes are all static, from TF's graph profiler."""
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    with deprecation.silence():  # the profiler is TF1 API and says so at every op
        profile = tf.compat.v1.profiler.profile(graph=graph, options=options)
    return int(profile.total_float_ops)


def padding_flops(graph):
    """The FLOPs `graph_flops` counts for convolution taps that read only the zeros of "same" padding.

    A dilated 3x3 on a feature map not much larger than its rate reads mostly
    padding (ASPP's rate 12 on a 5x5 map reads only its centre tap), and
    oneDNN's kernels skip those taps, so at small inputs a count with them is
    far more work than is done: half of a ResNet-18 v3's at 65x65
    (docs/performance.md). NHWC convolutions and depthwise convolutions; a
    dilation in Keras' SpaceToBatchND form pads explicitly, and its padding
    stays counted.
    """
    total = 0
    for op in graph.get_operations():
        if op.type not in ("Conv2D", "DepthwiseConv2dNative") or op.get_attr("padding") != b"SAME":
            continue
        images, kernel, output = (t.shape.as_list() for t in (op.inputs[0], op.inputs[1], op.outputs[0]))
        strides, dilations = op.get_attr("strides"), op.get_attr("dilations")
        inside = 1
        for axis in (1, 2):
            inside *= _taps_inside(images[axis], output[axis], kernel[axis - 1], strides[axis], dilations[axis])
        all_taps = output[1] * output[2] * kernel[0] * kernel[1]
        # Conv2D: in × out channels a tap; depthwise: channels × multiplier. Either is kernel[2] * kernel[3].
        total += 2 * output[0] * (all_taps - inside) * kernel[2] * kernel[3]
    return total


def _taps_inside(size, output_size, kernel_size, stride, dilation):
    """How many (output position, tap) pairs along one axis of a "same" convolution read the input itself."""
    padding = max((output_size - 1) * stride + (kernel_size - 1) * dilation + 1 - size, 0)
    positions = np.arange(output_size)[:, None] * stride - padding // 2 + np.arange(kernel_size) * dilation
    return int(np.sum((positions >= 0) & (positions < size)))


def feature_size(config, input_size):
    """[height, width] of the backbone's last feature map for an input size."""
    images = keras.Input(shape=(*input_size, 3), batch_size=1)
    return list(build_backbone(config).compute_output_shape(images.shape)[1:3])


def model_info(config, input_size):
    """What `tools.model_info` prints: params, FLOPs, output stride, sizes, rates."""
    model = build_model(config)
    return {
        "model_config": config.to_dict(),
        "input_size": list(input_size),
        "params": int(model.count_params()),
        "flops": count_flops(model, input_size),
        "output_stride": config.output_stride,
        "feature_size": feature_size(config, input_size),
        "unit_rates": unit_rates(config),
        "conv_rates": conv_rates(config),
    }
