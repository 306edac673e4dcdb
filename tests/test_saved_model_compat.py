"""Files written by earlier code (tests/fixtures/models, see its README) still load, with the same outputs."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf import ModelConfig, build_model
from deeplab_tf.backbones import AtrousMobileNetV2

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "models")
SAVED = ("v3", "v3plus", "v2_msc")


def _fixture(name):
    return os.path.join(FIXTURES, name)


def _config(name):
    with open(_fixture(f"{name}.json")) as file:
        return ModelConfig.from_json(file.read())


def _assert_expected_outputs(model, name):
    expected = np.load(_fixture("expected_outputs.npz"))
    logits = model(expected["image"], training=False)
    np.testing.assert_allclose(logits, expected[name], rtol=1e-5, atol=1e-5 * np.abs(expected[name]).max())


@pytest.mark.parametrize("name", SAVED)
def test_keras_file_loads_in_safe_mode_with_the_same_outputs(name):
    model = keras.saving.load_model(_fixture(f"{name}.keras"), safe_mode=True)
    assert model.model_config == _config(name)
    _assert_expected_outputs(model, name)


@pytest.mark.parametrize("name", SAVED)
def test_checkpoint_restores_every_weight_with_the_same_outputs(name):
    model = build_model(_config(name))
    tf.train.Checkpoint(model=model).read(_fixture(f"{name}_checkpoint/ckpt")).assert_consumed()
    _assert_expected_outputs(model, name)


def test_weights_keep_their_paths_shapes_and_order():
    with open(_fixture("weight_structures.json")) as file:
        structures = json.load(file)
    for name, saved in structures.items():
        model = build_model(ModelConfig.from_dict(saved["config"]), fold_batch_norm=saved["fold_batch_norm"])
        assert [[w.path, list(w.shape)] for w in model.weights] == saved["weights"], name


def test_backbone_config_of_a_model_config_dict_still_deserialises():
    # What a backbone's get_config returned before backbones took explicit arguments.
    old = {"config": _config("v3plus").to_dict(), "fold_batch_norm": False, "low_level_output": True,
           "name": "backbone", "trainable": True}
    backbone = AtrousMobileNetV2.from_config(old)
    assert backbone.get_config() == {"alpha": 0.35, "output_stride": 8, "batch_norm_decay": 0.9997,
                                     "fold_batch_norm": False, "low_level_output": True,
                                     "name": "backbone", "trainable": True}
    assert [w.path for w in backbone.weights] == [w.path for w in build_model(_config("v3plus")).backbone.weights]
