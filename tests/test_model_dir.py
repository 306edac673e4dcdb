"""Model directories: config + checkpoint round trip, at the trained or another stride."""

import numpy as np
import pytest
import tensorflow as tf

import deeplab_tf
from deeplab_tf import ModelConfig, build_model, model_dir


def _trained_dir(tmp_path, config):
    model = build_model(config)
    images = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 3)).astype("float32")
    model(images, training=True)  # BN statistics move away from their initial values
    for weight in model.trainable_weights:  # every weight differs from a fresh model's
        weight.assign(weight + 0.01)
    model_dir.save_model_config(str(tmp_path), config, dataset={"name": "synthetic"})
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(tmp_path / "checkpoints"), 2)
    manager.save()
    return model, images


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(backbone="resnet18", num_classes=4, aspp_filters=16),
        ModelConfig(variant="v2", backbone="resnet18", output_stride=8, num_classes=4, msc_scales=(1.0, 0.5)),
    ],
    ids=["v3", "v2_msc"],
)
def test_checkpoint_restores_every_weight(tmp_path, config):
    model, images = _trained_dir(tmp_path, config)
    loaded = model_dir.load_model(str(tmp_path))
    for ours, theirs in zip(loaded.weights, model.weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.path)
    np.testing.assert_array_equal(loaded(images), model(images))


def test_load_at_another_output_stride(tmp_path):
    model, images = _trained_dir(tmp_path, ModelConfig(backbone="resnet18", num_classes=4, aspp_filters=16))
    os8 = model_dir.load_model(str(tmp_path), output_stride=8)
    assert os8.model_config.atrous_rates == (12, 24, 36)
    np.testing.assert_allclose(os8(images), deeplab_tf.rebuild(model, output_stride=8)(images), rtol=1e-5, atol=1e-4)


def test_missing_pieces_are_input_errors(tmp_path):
    with pytest.raises(deeplab_tf.InputError, match="model_config.json"):
        model_dir.load_model(str(tmp_path))
    model_dir.save_model_config(str(tmp_path), ModelConfig(backbone="resnet18", num_classes=4))
    with pytest.raises(deeplab_tf.InputError, match="no checkpoint"):
        model_dir.load_model(str(tmp_path))
    with pytest.raises(deeplab_tf.InputError, match="no such file"):
        model_dir.load_model(str(tmp_path / "missing.keras"))
