"""DeepLab v3 / v3+ / v2 / MSC models: shapes, parameter count, saving, stride switch."""

import keras
import numpy as np
import pytest

import deeplab_tf
from deeplab_tf import ModelConfig, build_model, multi_scale_outputs, rebuild

SMALL_V3 = ModelConfig(variant="v3", backbone="resnet18", output_stride=16, num_classes=5, aspp_filters=32)
SMALL_V2 = ModelConfig(variant="v2", backbone="resnet18", output_stride=8, num_classes=5)
SMALL_MSC = ModelConfig(variant="v2", backbone="resnet18", output_stride=8, num_classes=5,
                        msc_scales=(1.0, 0.75, 0.5))
SMALL_V3PLUS = ModelConfig(variant="v3plus", backbone="resnet18", output_stride=16, num_classes=5, aspp_filters=32)
SMALL_MNV2_V3PLUS = ModelConfig(variant="v3plus", backbone="mobilenetv2", width_multiplier=0.5, output_stride=8,
                                num_classes=5, aspp_filters=32, decoder_use_separable_conv=False)


def _images(batch, height, width, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (batch, height, width, 3)).astype("float32")


def test_v3_resnet101_parameter_count_equals_an_independent_count():
    backbone = keras.applications.ResNet101(weights=None, include_top=False).count_params()
    filters, channels, classes = 256, 2048, 21
    bn = 4 * filters  # gamma, beta, moving mean, moving variance
    head = (
        (channels * filters + bn)  # 1×1 branch, no bias (BN follows)
        + 3 * (9 * channels * filters + bn)  # three 3×3 atrous branches
        + (channels * filters + bn)  # image pooling 1×1
        + (5 * filters * filters + bn)  # projection of the 5 concatenated branches
        + (filters * classes + classes)  # classifier with bias
    )
    model = build_model(ModelConfig(variant="v3", backbone="resnet101", num_classes=classes))
    assert model.count_params() == backbone + head


@pytest.mark.parametrize("config", [SMALL_V3, SMALL_V2, SMALL_MSC, SMALL_V3PLUS, SMALL_MNV2_V3PLUS],
                         ids=["v3", "v2", "v2_msc", "v3plus", "v3plus_mnv2"])
@pytest.mark.parametrize("height, width", [(64, 64), (65, 47)])
def test_logits_at_input_size(config, height, width):
    logits = build_model(config)(_images(1, height, width))
    assert logits.shape == (1, height, width, 5)
    assert logits.dtype == "float32"


@pytest.mark.parametrize("config", [SMALL_V3, SMALL_MSC], ids=["v3", "v2_msc"])
@pytest.mark.parametrize("batch", [1, 2])
def test_training_and_inference_modes(config, batch):
    model = build_model(config)
    images = _images(batch, 48, 40)
    for training in (True, False):
        logits = model(images, training=training)
        assert logits.shape == (batch, 48, 40, 5)
        assert np.all(np.isfinite(logits))
    # Inference is deterministic (no dropout, moving BN statistics).
    np.testing.assert_array_equal(model(images, training=False), model(images, training=False))


def test_msc_fuses_by_maximum_and_exposes_each_scale():
    model = build_model(SMALL_MSC)
    view = multi_scale_outputs(model)
    images = _images(2, 41, 37)
    fused, *scales = view(images)
    assert len(scales) == 3
    np.testing.assert_allclose(fused, np.max(np.stack(scales), axis=0), rtol=1e-6)
    np.testing.assert_allclose(fused, model(images), rtol=1e-5, atol=1e-5)
    # Scale 1 is the plain network: MSC shares one set of weights.
    np.testing.assert_allclose(scales[0], model.network(images), rtol=1e-5, atol=1e-5)
    assert model.count_params() == build_model(SMALL_V2).count_params()
    single = build_model(SMALL_V2)
    assert multi_scale_outputs(single) is single


@pytest.mark.parametrize("config", [SMALL_V3, SMALL_MSC, SMALL_V3PLUS, SMALL_MNV2_V3PLUS],
                         ids=["v3", "v2_msc", "v3plus", "v3plus_mnv2"])
def test_keras_file_round_trip_in_safe_mode(config, tmp_path):
    model = build_model(config)
    images = _images(2, 33, 45)
    model(images, training=True)  # move BN statistics away from their initial values
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert type(loaded) is type(model)
    assert loaded.model_config == config
    np.testing.assert_array_equal(loaded(images, training=False), model(images, training=False))


def test_no_lambda_layers_anywhere():
    model = build_model(SMALL_MSC)

    def layers(layer):
        yield layer
        for child in getattr(layer, "_layers", []):
            yield from layers(child)

    assert not any(isinstance(layer, keras.layers.Lambda) for layer in layers(model))


def test_rebuild_at_output_stride_8_keeps_weights():
    model = build_model(SMALL_V3)
    os8 = rebuild(model, output_stride=8)
    assert os8.model_config.output_stride == 8
    assert os8.model_config.atrous_rates == (12, 24, 36)
    assert os8.get_layer("aspp").branch_convs[1].dilation_rate == (12, 12)
    for ours, theirs in zip(os8.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    images = _images(1, 64, 64)
    assert not np.allclose(os8(images), model(images))  # the network did change


def test_public_face():
    config = ModelConfig(backbone="resnet18", num_classes=3)
    backbone = deeplab_tf.build_backbone(config)
    assert backbone(_images(1, 32, 32)).shape == (1, 2, 2, 512)
    assert isinstance(deeplab_tf.build_model(config), deeplab_tf.DeepLab)
