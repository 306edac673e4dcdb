"""The atrous MobileNetV2: keras.applications compatibility, strides and rates, dilated depthwise ops."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import deeplab_tf
from deeplab_tf import ModelConfig, build_backbone, load_imagenet_weights
from deeplab_tf.backbones import inverted_residual_plan


def _randomise_batch_norm(model, rng):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, variance.shape)])


@pytest.mark.parametrize("width", [1.0, 0.5])
def test_reproduces_keras_applications_block_16_project_bn_at_os32(width, tmp_path):
    application = keras.applications.MobileNetV2(weights=None, include_top=False, alpha=width)
    _randomise_batch_norm(application, np.random.default_rng(0))
    reference = keras.Model(application.input, application.get_layer("block_16_project_BN").output)
    # Through the weights file, as a user loads the downloaded ..._no_top.h5.
    path = tmp_path / "mobilenet_v2.weights.h5"
    application.save_weights(path)
    backbone = build_backbone(ModelConfig(backbone="mobilenetv2", width_multiplier=width, output_stride=32))
    copied = load_imagenet_weights(backbone, str(path))
    assert len(copied) == len([layer for layer in application.layers if layer.weights]) - 2  # no Conv_1 head
    assert backbone.output_shape[-1] == reference.output_shape[-1] == int(320 * width)

    images = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    theirs = reference(keras.applications.mobilenet_v2.preprocess_input(images.copy()), training=False).numpy()
    ours = backbone(images, training=False).numpy()
    assert ours.shape == theirs.shape == (2, 2, 2, int(320 * width))
    error = np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs))
    assert error < 1e-4, f"relative error {error:.2e}"


@pytest.mark.parametrize("output_stride, size, rates", [
    (32, 3, [1] * 17),
    (16, 5, [1] * 14 + [2] * 3),  # block_13 keeps rate 1 where its stride goes; blocks 14-16 take 2
    (8, 9, [1] * 7 + [2] * 7 + [4] * 3),
])
def test_strides_become_depthwise_dilation(output_stride, size, rates):
    config = ModelConfig(backbone="mobilenetv2", output_stride=output_stride)
    assert [block.rate for block in inverted_residual_plan(config)] == rates
    backbone = build_backbone(config)
    assert backbone.compute_output_shape((1, 65, 65, 3)) == (1, size, size, 320)
    for block in inverted_residual_plan(config):
        layer = backbone.get_layer(f"{block.prefix}depthwise")
        assert layer.dilation_rate == (block.rate, block.rate) and layer.strides == (block.stride,) * 2
    graph = tf.function(backbone).get_concrete_function(tf.zeros((1, 65, 65, 3))).graph
    types = {op.type for op in graph.get_operations()}
    assert "SpaceToBatchND" not in types and "DepthwiseConv2dNative" in types


def test_low_level_output_is_block_2_depthwise_at_stride_4():
    backbone = build_backbone(ModelConfig(backbone="mobilenetv2", width_multiplier=0.5), low_level_output=True)
    low_level, features = backbone.compute_output_shape((1, 64, 64, 3))
    assert low_level == (1, 16, 16, 6 * 16) and features == (1, 4, 4, 160)


def test_multi_grid_and_resnet_options_are_clear_config_errors():
    with pytest.raises(deeplab_tf.ConfigError, match="multi_grid.*does not apply to mobilenetv2"):
        ModelConfig(backbone="mobilenetv2", multi_grid=(1, 2, 4))
    with pytest.raises(deeplab_tf.ConfigError, match="width_multiplier.*mobilenetv2 only"):
        ModelConfig(backbone="resnet50", width_multiplier=0.5)
    with pytest.raises(deeplab_tf.ConfigError, match="width_multiplier"):
        ModelConfig(backbone="mobilenetv2", width_multiplier=0.6)
    # The mobile head: ASPP's 1x1 branch and image pooling, no atrous branches.
    assert ModelConfig(backbone="mobilenetv2").atrous_rates == ()
