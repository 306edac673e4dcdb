"""The `train_step` section: one training step on the device (float32 plain and XLA, mixed precision) against float32."""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from deeplab_tf.benchmarking import random_batch
from deeplab_tf.label_space import IGNORE_LABEL
from deeplab_tf.gpu_check.compare import check_config, compare, seeded_weights
from deeplab_tf.training.config import TrainConfig
from deeplab_tf.training.task import build_task

# A loss scale whose scaled gradients overflow float16 (largest finite: 65504) in any network.
_OVERFLOWING_SCALE = 2.0**40
# Halvings of Keras' initial loss scale (2^15) allowed before a mixed_float16 step must apply.
_MAX_SKIPPED_STEPS = 8


@dataclasses.dataclass
class _Step:
    """One training step's outcome."""

    loss: float
    not_finite: bool
    update: np.ndarray  # every trainable weight's change, flattened
    optimizer: keras.optimizers.Optimizer
    run: object  # the compiled step, to run again
    model: keras.Model
    skipped_steps: int  # mixed_float16: steps loss scaling skipped before this one applied


def _one_step(device_name, config, weights, policy, jit_compile, batch):
    """The first step of tools.train's training (`build_task`'s) from `weights` on `batch`, on `device_name`.

    BN is frozen, as v2 and v3's second stage train: with BN trained, the image
    pooling branch normalises over the batch's 2 pooled vectors, and that
    gradient is so ill-conditioned that float32 round-off alone moves the update
    by 0.5% and bfloat16 by 87% (ResNet-18, 64x64, batch 2); frozen, XLA's
    float32 update is within 6e-7 of the plain one and bfloat16's within 4%.
    """
    train_config = TrainConfig(dataset_dir="(random tensors)", batch_size=int(batch[0].shape[0]),
                               crop_size=tuple(batch[0].shape[1:3]), fine_tune_batch_norm=False,
                               mixed_precision=None if policy == "float32" else policy, jit_compile=jit_compile)
    # The poly rate at step 0 is the base rate (no warm-up), and nothing here advances the step:
    # every run of this step, the skipped ones included, takes the base rate.
    with tf.device(device_name):
        task = build_task(config, train_config, weights=weights)
        step = task.train_step
        run = tf.function(step.make_replica_step(jit_compile))
        before = [v.numpy() for v in step.trainable_variables]
        loss, _, _, not_finite = run(*batch)
        skipped = 0
        # Dynamic loss scaling starts high and skips (halving the scale) until the gradients fit float16.
        while policy == "mixed_float16" and skipped < _MAX_SKIPPED_STEPS and all(
                np.array_equal(v.numpy(), b) for v, b in zip(step.trainable_variables, before)):
            skipped += 1
            loss, _, _, not_finite = run(*batch)
        update = np.concatenate([(v.numpy() - b).ravel() for v, b in zip(step.trainable_variables, before)])
    return _Step(float(loss), bool(not_finite), update, task.optimizer, run, task.model, skipped)


def _step_row(name, settings, step, reference, tolerance, **facts):
    """Both the loss and the weight update within `tolerance` of the reference step's."""
    row = compare(name, settings, step.update, reference.update, tolerance, classes=False, norm="l2", **facts)
    row["loss"], row["reference_loss"] = step.loss, reference.loss
    row["loss_difference"] = abs(step.loss - reference.loss) / abs(reference.loss)
    row["passed"] = row["passed"] and not step.not_finite and row["loss_difference"] <= tolerance
    return row


def _bfloat16_supported(settings):
    """Whether the device under test computes in bfloat16: any CPU; a GPU from compute capability 8.0 (Ampere)."""
    if not settings.on_gpu:
        return True
    gpu = tf.config.list_physical_devices("GPU")[int(settings.device.rsplit(":", 1)[1])]
    capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
    return bool(capability) and tuple(capability) >= (8, 0)


def train_step(settings):
    """One training step on the device in float32 (plain, XLA), mixed_float16 and mixed_bfloat16 against float32.

    The mixed_bfloat16 step is XLA-compiled on a GPU, as `tools.train
    --jit_compile=auto` runs it, and plain on the CPU; the mixed_float16 step is
    compiled everywhere. Its row also runs a step whose scaled gradients
    overflow: loss scaling must skip it (no weight moves) and halve the scale.
    """
    tf.config.experimental.enable_tensor_float_32_execution(False)
    config = check_config(settings)
    weights = seeded_weights(config)
    with tf.device(settings.reference_device):
        batch = random_batch(settings.batch_size, settings.input_size, config.num_classes, IGNORE_LABEL)
    reference = _one_step(settings.reference_device, config, weights, "float32", False, batch)
    for jit_compile in (False, True):
        step = _one_step(settings.device, config, weights, "float32", jit_compile, batch)
        yield _step_row("train step float32" + (", XLA" if jit_compile else ""), settings, step, reference,
                        settings.tolerance, jit_compile=jit_compile)

    # XLA always: TensorFlow's CPU kernels have no float16 gradient of a dilated convolution.
    step = _one_step(settings.device, config, weights, "mixed_float16", True, batch)
    row = _step_row("train step mixed_float16, loss scaling, XLA", settings, step, reference,
                    settings.mixed_tolerance, jit_compile=True)
    row["skipped_steps"] = step.skipped_steps
    row.update(_overflow_is_skipped(settings.device, step, batch))
    row["passed"] = row["passed"] and row["overflow_step_skipped"]
    yield row

    if not _bfloat16_supported(settings):
        yield {"check": "train step mixed_bfloat16", "device": settings.device, "skipped": True,
               "reason": "the GPU has no bfloat16 (compute capability below 8.0)", "passed": True}
        return
    jit_compile = settings.on_gpu
    step = _one_step(settings.device, config, weights, "mixed_bfloat16", jit_compile, batch)
    yield _step_row("train step mixed_bfloat16", settings, step, reference, settings.mixed_tolerance,
                    jit_compile=jit_compile)


def _overflow_is_skipped(device_name, step, batch):
    """Runs `step` again at a loss scale that overflows float16: no weight may move, and the scale must halve."""
    scale = step.optimizer.dynamic_scale
    applied_at = float(scale.numpy())
    with tf.device(device_name):
        scale.assign(_OVERFLOWING_SCALE)
        before = [v.numpy() for v in step.model.trainable_variables]
        step.run(*batch)
        unchanged = all(np.array_equal(v.numpy(), b) for v, b in zip(step.model.trainable_variables, before))
    halved = float(scale.numpy()) == _OVERFLOWING_SCALE / 2
    return {"loss_scale_applied": applied_at,
            "overflow_step_skipped": bool(unchanged and halved),
            "overflow_scale_after": float(scale.numpy())}
