"""A model's dtype policy goes to each of its layers; no library function changes the global policy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf import ModelConfig, build_model, fold_batch_norms, rebuild
from deeplab_tf.training import TrainConfig, build_task

_MOBILE = dict(backbone="mobilenetv2", width_multiplier=0.35, num_classes=3, aspp_filters=16)
CONFIGS = {
    "v3plus_mobilenetv2": (ModelConfig(variant="v3plus", **_MOBILE), False),
    "v2_mobilenetv2": (ModelConfig(variant="v2", output_stride=8, **_MOBILE), False),
    "v3_resnet18_msc_folded": (ModelConfig(variant="v3", backbone="resnet18", num_classes=3, aspp_filters=16,
                                           msc_scales=(1.0, 0.5)), True),
}
POLICIES = ("mixed_bfloat16", "float32")


def _dtypes(model):
    """(class, policy, compute dtype, variable dtype) of the model and every layer in it, then each weight's dtype.

    An input layer computes nothing: its tensor's dtype is what counts (its
    policy is whichever was global when it was made).
    """
    layers = [model, *model._flatten_layers(include_self=False, recursive=True)]
    return ([("InputLayer", layer.dtype) if isinstance(layer, keras.layers.InputLayer) else
             (type(layer).__name__, layer.dtype_policy.name, layer.compute_dtype, layer.variable_dtype)
             for layer in layers], [(weight.path, weight.dtype) for weight in model.weights])


def _under_global_policy(policy, make):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        return make()
    finally:
        keras.config.set_dtype_policy(previous)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("name", CONFIGS)
def test_policy_argument_gives_every_layer_what_the_global_policy_gave(name, policy):
    config, folded = CONFIGS[name]
    # Before the policy was passed to the layers, build_model set it globally while it built.
    reference = _under_global_policy(policy, lambda: build_model(config, fold_batch_norm=folded))
    # Under the other global policy, so that a layer that took the global one would differ.
    other = next(p for p in POLICIES if p != policy)
    model = _under_global_policy(other, lambda: build_model(config, fold_batch_norm=folded, dtype_policy=policy))
    assert _dtypes(model) == _dtypes(reference)
    assert model.dtype_policy.name == policy
    if config.is_mobilenet and policy != "float32":
        return  # a bfloat16 dilated depthwise convolution has no CPU kernel without AVX-512
    model.set_weights(reference.get_weights())
    images = np.random.default_rng(0).uniform(0, 255, (1, 33, 41, 3)).astype("float32")
    np.testing.assert_array_equal(model(images, training=False), reference(images, training=False))


def test_building_training_rebuilding_and_folding_leave_the_global_policy_alone(monkeypatch):
    def refuse(policy):
        raise AssertionError(f"the global dtype policy was set to {policy}")

    before = keras.config.dtype_policy()
    monkeypatch.setattr(keras.config, "set_dtype_policy", refuse)
    config = ModelConfig(variant="v3plus", **_MOBILE)
    model = build_model(config, dtype_policy="mixed_bfloat16")
    rebuilt = rebuild(model, dtype_policy="mixed_bfloat16", output_stride=8)
    folded = fold_batch_norms(model)
    # A training step, as every training entry point builds it (`build_task`).
    train_config = TrainConfig(dataset_dir="(tensors)", batch_size=1, crop_size=(33, 33),
                               mixed_precision="mixed_bfloat16")
    task = build_task(config, train_config, seed=0)
    images = tf.random.uniform([1, 33, 33, 3], 0, 255, seed=0)
    labels = tf.zeros([1, 33, 33], tf.int32)
    loss = task.train_step.make_replica_step()(images, labels)[0]
    assert np.isfinite(float(loss)) and int(task.optimizer.iterations.numpy()) == 1
    for network in (model, rebuilt, folded, task.model):
        assert network.get_layer("classifier").dtype_policy.name == "mixed_bfloat16"
        assert network.backbone.get_layer("Conv1").compute_dtype == "bfloat16"
    assert keras.config.dtype_policy() is before and before.name == "float32"
