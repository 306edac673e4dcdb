"""Test-time inference: single scale, flips, scales, sliding windows, stride switch, SavedModels."""

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf import ConfigError, ModelConfig, build_model
from deeplab_tf.inference import (
    InferenceSettings,
    Predictor,
    SavedModelLogits,
    at_output_stride,
    predict_probabilities,
    sliding_window_logits,
)

V3 = ModelConfig(variant="v3", backbone="resnet18", output_stride=16, num_classes=5, aspp_filters=16)
MSC = ModelConfig(variant="v2", backbone="resnet18", output_stride=8, num_classes=5, msc_scales=(1.0, 0.5))


def _images(height, width, batch=1, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (batch, height, width, 3)).astype("float32")


def _perturbed(model, seed=1):
    # Non-trivial BN statistics and weights, so no symmetry hides a bug.
    model(_images(64, 64, batch=2, seed=seed), training=True)
    return model


@pytest.fixture(scope="module")
def v3_model():
    return _perturbed(build_model(V3))


def _softmax(logits):
    return tf.nn.softmax(logits, axis=-1).numpy()


@pytest.mark.parametrize("config", [V3, MSC], ids=["v3", "v2_msc"])
def test_scale_one_without_flip_is_single_scale_inference(config):
    model = _perturbed(build_model(config))
    images = _images(50, 67, batch=2)
    expected = _softmax(model(images, training=False))
    result = Predictor(model)(images).numpy()
    # Graph and eager execution round differently (oneDNN), hence no exact equality.
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-5)


def _symmetrise(model):
    # Every kernel made its own mirror image: the network commutes with a left-right flip
    # wherever striding samples symmetric columns (odd widths at every stride-2 step).
    for weight in model.weights:
        if len(weight.shape) == 4:
            value = weight.numpy()
            weight.assign((value + value[:, ::-1]) / 2)
    return model


def test_flip_of_a_left_right_symmetric_model_equals_no_flip():
    model = _symmetrise(_perturbed(build_model(V3)))
    images = _images(40, 65)  # 65 → 33 → 17 → 9 → 5: every stride-2 step keeps the centre column
    logits = model(images, training=False).numpy()
    np.testing.assert_allclose(model(images[:, :, ::-1], training=False).numpy()[:, :, ::-1], logits,
                               rtol=1e-4, atol=1e-4)  # the premise
    flipped = Predictor(model, InferenceSettings(flip=True))(images).numpy()
    np.testing.assert_allclose(flipped, _softmax(logits), rtol=1e-4, atol=1e-5)


def test_flip_averages_with_the_mirrored_prediction(v3_model):
    images = _images(40, 52)
    plain_logits = v3_model(images, training=False).numpy()
    mirrored_logits = v3_model(images[:, :, ::-1], training=False).numpy()[:, :, ::-1]
    # A model that is not symmetric, so flipping matters. Checked on the logits: a random
    # model's softmax can saturate, leaving its probabilities alike where its logits are not.
    assert np.abs(mirrored_logits - plain_logits).max() > 1e-3
    flipped = Predictor(v3_model, InferenceSettings(flip=True))(images).numpy()
    np.testing.assert_allclose(flipped, (_softmax(plain_logits) + _softmax(mirrored_logits)) / 2,
                               rtol=1e-5, atol=1e-6)


def test_multi_scale_averages_each_scale_resized_to_the_image(v3_model):
    images = _images(45, 58)
    scales = (0.5, 1.0, 1.75)
    settings = InferenceSettings(scales=scales, flip=True)
    expected = 0
    for scale in scales:
        size = (int(np.ceil(45 * scale)), int(np.ceil(58 * scale)))
        for mirror in (False, True):
            scaled = tf.image.resize(images[:, :, ::-1] if mirror else images, size)
            logits = tf.image.resize(v3_model(scaled, training=False), (45, 58)).numpy()
            expected = expected + _softmax(logits[:, :, ::-1] if mirror else logits)
    expected /= 2 * len(scales)
    result = Predictor(v3_model, settings)(images[0]).numpy()  # one [H, W, 3] image
    assert result.shape == (45, 58, 5)
    np.testing.assert_allclose(result, expected[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.sum(-1), 1.0, rtol=1e-5)


def test_one_trace_serves_every_image_size(v3_model):
    predictor = Predictor(v3_model, InferenceSettings(scales=(0.75, 1.0), flip=True))
    for height, width in [(33, 40), (64, 48), (41, 41)]:
        assert predictor(_images(height, width)).shape == (1, height, width, 5)
    assert predictor._run.experimental_get_tracing_count() == 1


def _numpy_sliding_window(model, images, window, stride):
    height, width = images.shape[1:3]
    tile_h, tile_w = min(window[0], height), min(window[1], width)

    def starts(length, tile, step):
        positions = list(range(0, length - tile, step)) + [length - tile]
        return sorted(set(positions))

    total = np.zeros(images.shape[:3] + (5,))
    count = np.zeros(images.shape[:3] + (1,))
    for top in starts(height, tile_h, stride[0]):
        for left in starts(width, tile_w, stride[1]):
            tile = images[:, top : top + tile_h, left : left + tile_w]
            total[:, top : top + tile_h, left : left + tile_w] += model(tile, training=False).numpy()
            count[:, top : top + tile_h, left : left + tile_w] += 1
    assert count.min() >= 1
    return total / count


def test_sliding_window_averages_overlapping_tiles(v3_model):
    images = _images(70, 45, batch=2)
    logits = tf.function(lambda x: sliding_window_logits(v3_model, x, (32, 24), overlap=1 / 3))(images)
    expected = _numpy_sliding_window(v3_model, images, (32, 24), stride=(21, 16))
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-4, atol=1e-4)
    # Tiles see less context than the whole image, so the result is not the plain logits.
    assert np.abs(logits.numpy() - v3_model(images, training=False).numpy()).max() > 1e-3


def test_a_window_larger_than_the_image_is_whole_image_inference(v3_model):
    images = _images(40, 30)
    windowed = Predictor(v3_model, InferenceSettings(window_size=(64,)))(images)
    np.testing.assert_allclose(windowed, _softmax(v3_model(images, training=False)), rtol=1e-5, atol=1e-6)


def test_output_stride_switch_keeps_the_weights(v3_model):
    assert at_output_stride(v3_model, None) is v3_model
    assert at_output_stride(v3_model, 16) is v3_model
    os8 = at_output_stride(v3_model, 8)
    assert os8.model_config.output_stride == 8
    assert os8.model_config.atrous_rates == (12, 24, 36)
    for ours, theirs in zip(os8.weights, v3_model.weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    images = _images(48, 48)
    assert Predictor(os8)(images).shape == (1, 48, 48, 5)


@pytest.mark.parametrize(
    "values, field",
    [
        (dict(scales=()), "eval_scales"),
        (dict(scales=(1.0, 0.0)), "eval_scales"),
        (dict(window_size=(0, 5)), "window_size"),
        (dict(window_size=(1, 2, 3)), "window_size"),
        (dict(window_overlap=1.0), "window_overlap"),
    ],
)
def test_bad_settings_name_their_field(values, field):
    with pytest.raises(ConfigError) as error:
        InferenceSettings(**values)
    assert error.value.field == field


class _Exported(tf.Module):
    """What `tools.export` writes, in miniature: uint8 images → labels and probabilities."""

    def __init__(self):
        super().__init__()
        self.kernel = tf.Variable(np.random.default_rng(0).normal(size=(1, 1, 3, 4)).astype("float32") / 50)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="image")])
    def serve(self, image):
        logits = tf.nn.conv2d(tf.cast(image, tf.float32), self.kernel, 1, "SAME")
        probabilities = tf.nn.softmax(logits)
        return {"labels": tf.argmax(probabilities, -1, output_type=tf.int32), "probabilities": probabilities}


def test_saved_model_serves_as_a_logits_model(tmp_path):
    module = _Exported()
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.serve})
    model = SavedModelLogits(str(tmp_path))
    images = np.round(_images(20, 30))
    expected = module.serve(tf.constant(images, tf.uint8))["probabilities"].numpy()
    result = Predictor(model)(images).numpy()
    # Graph and eager execution round differently (oneDNN), hence no exact equality.
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-5)
    # Flips and scales run through it like through a Keras model.
    both = predict_probabilities(model, images, InferenceSettings(scales=(0.5, 1.0), flip=True))
    assert both.shape == (1, 20, 30, 4)
