"""TrainConfig validation: each bad value raises ConfigError naming its field."""

import pytest

from deeplab_tf.errors import ConfigError
from deeplab_tf.training import TrainConfig


def _config(**changes):
    return TrainConfig(**{"dataset": "synthetic", "dataset_dir": "/data", **changes})


def test_defaults_are_the_v3_voc_recipe():
    config = _config()
    assert config.crop_size == (513, 513)
    assert (config.batch_size, config.train_steps, config.base_learning_rate) == (16, 30000, 0.007)
    assert (config.momentum, config.weight_decay, config.learning_power) == (0.9, 1e-4, 0.9)
    assert config.fine_tune_batch_norm and config.upsample_logits


@pytest.mark.parametrize("changes, field", [
    ({"batch_size": 0}, "batch_size"),
    ({"train_steps": -1}, "train_steps"),
    ({"crop_size": (0, 5)}, "crop_size"),
    ({"min_scale": 2.0, "max_scale": 1.0}, "min_scale"),
    ({"base_learning_rate": 0.0}, "base_learning_rate"),
    ({"warmup_steps": 30000}, "warmup_steps"),
    ({"momentum": 1.0}, "momentum"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"optimizer": "adam", "last_layer_lr_multiplier": 10.0}, "last_layer_lr_multiplier"),
    ({"last_layer_lr_multiplier": 0.0}, "last_layer_lr_multiplier"),
    ({"sync_batch_norm": True, "fine_tune_batch_norm": False}, "sync_batch_norm"),
    ({"init_scope": "head"}, "init_scope"),
    ({"init_checkpoint": "a", "backbone_weights": "b"}, "init_checkpoint"),
    ({"mixed_precision": "float16"}, "mixed_precision"),
    ({"checkpoint_steps": 0}, "checkpoint_steps"),
    ({"dataset_dir": ""}, "dataset_dir"),
    ({"eval_steps": -1}, "eval_steps"),
    ({"eval_max_images": -2}, "eval_max_images"),
    ({"eval_steps": 10, "eval_split": ""}, "eval_split"),
])
def test_bad_values_name_their_field(changes, field):
    with pytest.raises(ConfigError) as error:
        _config(**changes)
    assert error.value.field == field


def test_batch_must_divide_among_replicas():
    _config(batch_size=8).check_replicas(4)
    with pytest.raises(ConfigError) as error:
        _config(batch_size=6).check_replicas(4)
    assert error.value.field == "batch_size"
    assert "4 replicas" in str(error.value)


def test_round_trip_through_dict():
    config = _config(crop_size=321, mixed_precision="mixed_bfloat16", seed=3)
    assert TrainConfig.from_dict(config.to_dict()) == config
