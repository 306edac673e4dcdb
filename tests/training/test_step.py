"""The training step: XLA (the GPU path) computes what the plain step does; the optimisers it uses."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf import ModelConfig, build_model
from deeplab_tf.training.config import TrainConfig
from deeplab_tf.training.step import TrainStep, configure_batch_norm, make_optimizer

# No dropout: XLA and the plain step draw different random masks.
MODEL = ModelConfig(variant="v3", backbone="resnet18", num_classes=4, aspp_filters=16, dropout_rate=0.0)


def _first_step(policy, jit_compile, images, labels):
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = build_model(MODEL)
        train_config = TrainConfig(dataset_dir="unused", batch_size=2, crop_size=(64, 64),
                                   mixed_precision=None if policy == "float32" else policy)
        configure_batch_norm(model, train_config)
        optimizer = make_optimizer(train_config, 0.01)
        optimizer.build(model.trainable_variables)
        step = TrainStep(model, MODEL, train_config, optimizer).make_replica_step(jit_compile)
        loss, _, confusion, not_finite = tf.function(step)(images, labels)
        return float(loss), confusion.numpy(), bool(not_finite), model.get_weights()
    finally:
        keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_xla_step_matches_the_plain_step(policy):
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 255, (2, 64, 64, 3)), tf.float32)
    labels = tf.constant(np.where(rng.random((2, 64, 64)) < 0.1, 255, rng.integers(0, 4, (2, 64, 64))), tf.int32)
    plain = _first_step(policy, False, images, labels)
    compiled = _first_step(policy, True, images, labels)
    tolerance = 1e-4 if policy == "float32" else 2e-2
    assert not plain[2] and not compiled[2]
    assert compiled[0] == pytest.approx(plain[0], rel=tolerance)
    assert compiled[1].sum() == plain[1].sum() == int((labels.numpy() != 255).sum())
    # The update itself: every weight moved alike.
    for after_compiled, after_plain in zip(compiled[3], plain[3]):
        np.testing.assert_allclose(after_compiled, after_plain, rtol=10 * tolerance, atol=10 * tolerance)


@pytest.mark.parametrize("name, after_one_step", [("sgd", 0.9), ("nesterov", 0.81), ("adam", 0.9)])
def test_make_optimizer_builds_the_named_update(name, after_one_step):
    # On w²/2 from w = 1 at rate 0.1 and momentum 0.9: SGD steps to 1 − 0.1; Nesterov also
    # takes the momentum's look-ahead, 1 − 0.1 − 0.9·0.1; Adam's first step is the rate.
    optimizer = make_optimizer(TrainConfig(dataset_dir="unused", optimizer=name, momentum=0.9), 0.1)
    weight = keras.Variable(1.0)
    optimizer.apply_gradients([(tf.constant(1.0), weight)])
    assert float(weight.numpy()) == pytest.approx(after_one_step, abs=1e-4)
