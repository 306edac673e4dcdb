"""Static facts about a network: parameters, FLOPs and feature-map size."""

import keras
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
from tensorflow.python.util import deprecation

from deeplab_tf.backbones import build_backbone, conv_rates, unit_rates
from deeplab_tf.models import build_model


def count_flops(model, input_size, batch_size=1):
    """FLOPs of one forward pass (a multiply-add counts 2), from TF's graph profiler.

    The model is traced at a fixed input size and its variables frozen into
    constants, so the profiler sees every op's static shape. Convolutions
    count all taps, dilated or not.
    """
    height, width = input_size
    spec = tf.TensorSpec([batch_size, height, width, 3], tf.float32)
    function = tf.function(lambda images: model(images, training=False))
    frozen = convert_variables_to_constants_v2(function.get_concrete_function(spec))
    return graph_flops(frozen.graph)


def graph_flops(graph):
    """FLOPs of one run of a `tf.Graph` whose shapes are all static, from TF's graph profiler."""
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    with deprecation.silence():  # the profiler is TF1 API and says so at every op
        profile = tf.compat.v1.profiler.profile(graph=graph, options=options)
    return int(profile.total_float_ops)


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
