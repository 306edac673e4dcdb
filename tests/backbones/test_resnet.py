"""The atrous ResNet: keras.applications compatibility, feature sizes, dilation."""

import keras
import numpy as np
import pytest

import deeplab_tf
from deeplab_tf import ModelConfig, build_backbone, load_imagenet_weights
from deeplab_tf.backbones import AtrousResNet, block_plan


def _relative_error(ours, theirs):
    return float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))


@pytest.mark.parametrize(
    "name, application",
    [("resnet50", keras.applications.ResNet50), ("resnet101", keras.applications.ResNet101)],
)
def test_reproduces_keras_applications_at_os32(name, application):
    reference = application(weights=None, include_top=False)
    # Randomise the BN statistics so a skipped BN layer could not go unnoticed.
    rng = np.random.default_rng(0)
    for layer in reference.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([gamma, beta + rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, variance.shape)])
    backbone = build_backbone(ModelConfig(backbone=name, output_stride=32, multi_grid=(1, 1, 1)))
    copied = load_imagenet_weights(backbone, reference)
    assert len(copied) == len([layer for layer in reference.layers if layer.weights])

    images = np.random.default_rng(1).uniform(0, 255, (2, 67, 64, 3)).astype("float32")
    theirs = reference(keras.applications.resnet.preprocess_input(images.copy()), training=False).numpy()
    ours = backbone(images, training=False).numpy()
    assert ours.shape == theirs.shape == (2, 3, 2, 2048)
    assert _relative_error(ours, theirs) < 1e-4


def test_loads_a_weights_file(tmp_path):
    reference = keras.applications.ResNet50(weights=None, include_top=False)
    path = tmp_path / "resnet50_notop.weights.h5"
    reference.save_weights(path)
    model = deeplab_tf.build_model(ModelConfig(backbone="resnet50", num_classes=3))
    load_imagenet_weights(model, str(path))
    kernel = model.backbone.get_layer("conv4_block6_2_conv").get_weights()[0]
    np.testing.assert_array_equal(kernel, reference.get_layer("conv4_block6_2_conv").get_weights()[0])


def test_bad_weights_sources_are_input_errors(tmp_path):
    backbone = build_backbone(ModelConfig(backbone="resnet50"))
    with pytest.raises(deeplab_tf.InputError, match="no such file"):
        load_imagenet_weights(backbone, str(tmp_path / "missing.h5"))
    broken = tmp_path / "broken.weights.h5"
    broken.write_bytes(b"not hdf5")
    with pytest.raises(deeplab_tf.InputError, match="broken.weights.h5"):
        load_imagenet_weights(backbone, str(broken))
    small = build_backbone(ModelConfig(backbone="resnet18"))
    with pytest.raises(deeplab_tf.InputError, match="resnet50, resnet101 and mobilenetv2"):
        load_imagenet_weights(small, str(broken))


@pytest.mark.parametrize("output_stride, size", [(32, 17), (16, 33), (8, 65)])
def test_feature_map_size_at_513(output_stride, size):
    backbone = build_backbone(ModelConfig(backbone="resnet18", output_stride=output_stride))
    assert backbone.compute_output_shape((1, 513, 513, 3)) == (1, size, size, 512)
    from deeplab_tf.profile import feature_size

    assert feature_size(ModelConfig(backbone="resnet101", output_stride=output_stride), (513, 513)) == [size, size]


def test_layers_dilate_as_planned():
    config = ModelConfig(backbone="resnet34", output_stride=8, multi_grid=(1, 2, 4), num_cascaded_blocks=1)
    backbone = build_backbone(config)
    for block in block_plan(config):
        for unit, rate in enumerate(block.unit_rates):
            layer = backbone.get_layer(f"{block.prefix}_block{unit + 1}_2_conv")
            assert layer.dilation_rate == (rate, rate)
            assert layer.strides == (1, 1)
    # Dilated layers run as one native convolution, not SpaceToBatchND pairs.
    assert type(backbone.get_layer("conv5_block3_2_conv")).__name__ == "AtrousConv2D"
    assert backbone.output_shape[-1] == 512


def test_atrous_conv_matches_keras_dilated_conv():
    from deeplab_tf.layers import AtrousConv2D

    images = np.random.default_rng(2).normal(size=(2, 19, 23, 5)).astype("float32")
    ours = AtrousConv2D(7, 3, dilation_rate=4, padding="same")
    reference = keras.layers.Conv2D(7, 3, dilation_rate=4, padding="same")
    reference.build(images.shape)
    ours.build(images.shape)
    ours.set_weights(reference.get_weights())
    np.testing.assert_allclose(ours(images), reference(images), rtol=1e-5, atol=1e-5)


def test_build_backbone_gives_the_class_the_config_as_explicit_arguments():
    config = ModelConfig(backbone="resnet18", output_stride=8, multi_grid=(1, 2), num_cascaded_blocks=1,
                         batch_norm_decay=0.99)
    built = build_backbone(config)
    explicit = AtrousResNet(depth=18, output_stride=8, multi_grid=(1, 2), num_cascaded_blocks=1, batch_norm_decay=0.99)
    assert built.get_config() == explicit.get_config()
    assert explicit.get_config()["multi_grid"] == [1, 2] and explicit.name == "resnet18_os8"
    assert [(w.path, w.shape) for w in built.weights] == [(w.path, w.shape) for w in explicit.weights]
    assert explicit.get_layer("conv5_block1_1_bn").momentum == 0.99
    with pytest.raises(deeplab_tf.ConfigError, match="depth"):
        AtrousResNet(depth=20)
    with pytest.raises(deeplab_tf.ConfigError, match="multi_grid"):
        AtrousResNet(depth=18, multi_grid=(1, 2, 4))
