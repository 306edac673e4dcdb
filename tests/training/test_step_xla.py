"""The whole v3, v3+ and v2-MSC training step compiles with XLA and computes what the plain step does.

At a 139 crop at OS32, where TensorFlow's own XLA resize is wrong (tests/layers/test_resize.py): the
logits are upsampled 5 → 139 and, in v3+'s decoder, 5 → 35 (v2's loss, at the logits' stride, fuses
4 → 5 and 3 → 5, which XLA gets right; its pairs are in the resize tests). BN is frozen, as v2 and
v3's second stage train: trained, the image pooling branch normalises over the batch's 2 pooled
vectors, a gradient so ill-conditioned that round-off alone moves the update by percents
(tools/gpu_check_sections.py, `_one_step`). The networks have no dilated convolution (OS32, rates of
1): TensorFlow's plain CPU kernels of a dilated convolution need oneDNN, which CPUs without AVX-512
run without; the resizes are what is tested.
"""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf import ModelConfig, build_model
from deeplab_tf.training.config import TrainConfig
from deeplab_tf.training.step import TrainStep, configure_batch_norm, make_optimizer

# No dropout: XLA and the plain step draw different random masks.
V3 = ModelConfig(variant="v3", backbone="resnet18", output_stride=32, multi_grid=(1, 1), atrous_rates=(),
                 num_classes=3, aspp_filters=8, dropout_rate=0.0)
MODELS = {  # name: (model, crop)
    "v3": (V3, 139),
    "v3plus": (dataclasses.replace(V3, variant="v3plus"), 139),
    # v2's own loss (--noupsample_logits): at the logits' stride, each scale fused into the full one.
    "v2_msc": (dataclasses.replace(V3, variant="v2", atrous_rates=(1, 1, 1, 1), msc_scales=(1.0, 0.75, 0.5)),
               139),
}
# float32: XLA fuses and reorders float32 arithmetic, so the two steps differ by round-off only.
FLOAT32_TOLERANCE = 1e-4
# bfloat16 keeps 8 significant bits and XLA rounds at other places than the plain step (its fusions keep
# float32 between ops), so two right bfloat16 steps differ by several percent (7% for v3 here, each
# 6–8% from float32's; 23% for v3+, whose update is small). So the compiled bfloat16 step must be as
# close to float32's as the plain one is (within this factor); a wrong resize moves the logits by about
# their own size (and TensorFlow's own bfloat16 resize gradient does not even compile).
BFLOAT16_FACTOR = 1.5
# float16 keeps 11 significant bits, 8 times bfloat16's precision.
FLOAT16_TOLERANCE = 2e-2


def _batch(name, batch_size=2):
    crop = MODELS[name][1]
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 255, (batch_size, crop, crop, 3)), tf.float32)
    shape = (batch_size, crop, crop)
    labels = np.where(rng.random(shape) < 0.1, 255, rng.integers(0, 3, shape))
    return images, tf.constant(labels, tf.int32)


def _first_step(name, policy, jit_compile, batch, max_skipped=0, whole_step_compiled=False):
    """(loss, every weight's update flattened, not finite) of the first step that applies.

    `whole_step_compiled`: the update and loss scaling too, as a TPU compiles the step.
    """
    model_config = MODELS[name][0]
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = build_model(model_config)
        train_config = TrainConfig(dataset_dir="unused", batch_size=int(batch[0].shape[0]),
                                   crop_size=tuple(batch[0].shape[1:3]),
                                   fine_tune_batch_norm=False, upsample_logits=model_config.variant != "v2",
                                   mixed_precision=None if policy == "float32" else policy)
        configure_batch_norm(model, train_config)
        optimizer = make_optimizer(train_config, 0.01)
        optimizer.build(model.trainable_variables)
        train_step = TrainStep(model, model_config, train_config, optimizer)
        step = tf.function(train_step.make_replica_step(jit_compile), jit_compile=whole_step_compiled)
        before = [v.numpy() for v in train_step.trainable_variables]
        for _ in range(max_skipped + 1):  # dynamic loss scaling skips the steps whose gradients overflow
            loss, _, _, not_finite = step(*batch)
            update = np.concatenate([(v.numpy() - b).ravel()
                                     for v, b in zip(train_step.trainable_variables, before)])
            if np.any(update):
                break
        return float(loss), update, bool(not_finite)
    finally:
        keras.config.set_dtype_policy("float32")


def _assert_close(compiled, plain, tolerance):
    assert not compiled[2] and not plain[2]
    assert compiled[0] == pytest.approx(plain[0], rel=tolerance)
    assert np.any(plain[1])
    assert np.linalg.norm(compiled[1] - plain[1]) <= tolerance * np.linalg.norm(plain[1])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_compiled_step_matches_the_plain_step_in_float32(name):
    batch = _batch(name)
    _assert_close(_first_step(name, "float32", True, batch), _first_step(name, "float32", False, batch),
                  FLOAT32_TOLERANCE)


def test_compiled_step_matches_the_plain_step_in_mixed_bfloat16():
    """v3+: both of its resizes that XLA gets wrong (decoder and logits)."""
    batch = _batch("v3plus")
    reference = _first_step("v3plus", "float32", False, batch)
    compiled = _first_step("v3plus", "mixed_bfloat16", True, batch)
    plain = _first_step("v3plus", "mixed_bfloat16", False, batch)
    assert not compiled[2] and not plain[2]
    # The loss, a mean over pixels, keeps bfloat16's precision (0.4%).
    assert compiled[0] == pytest.approx(reference[0], rel=1e-2)
    compiled_error = np.linalg.norm(compiled[1] - reference[1])
    plain_error = np.linalg.norm(plain[1] - reference[1])
    assert np.any(plain[1]) and compiled_error <= BFLOAT16_FACTOR * plain_error, (compiled_error, plain_error)


def test_whole_mixed_float16_step_with_loss_scaling_compiles_and_matches_float32():
    """keras-team/keras#20931: dtype errors in the upsampling gradient under mixed_float16. Here the whole
    step compiles (the TPU check: no op XLA cannot compile, update and loss scaling included), and its
    update is float32's to float16's precision (the plain float16 step does not run on CPUs)."""
    batch = _batch("v3plus")
    half = _first_step("v3plus", "mixed_float16", True, batch, max_skipped=8, whole_step_compiled=True)
    _assert_close(half, _first_step("v3plus", "float32", True, batch), FLOAT16_TOLERANCE)
