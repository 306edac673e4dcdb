"""The train mode: one step of the trainer's training (forward, loss, backward, update) on random tensors."""

import dataclasses

import numpy as np
import tensorflow as tf

from deeplab_tf.label_space import IGNORE_LABEL
from deeplab_tf.profile import count_flops, graph_flops, padding_flops
from deeplab_tf.training.config import TrainConfig
from deeplab_tf.training.task import build_task


# The TrainConfig fields that change what one step computes, reported with the result.
_TRAIN_STEP_FIELDS = ("optimizer", "momentum", "weight_decay", "last_layer_lr_multiplier",
                      "fine_tune_batch_norm", "upsample_logits")
_IGNORED_FRACTION = 0.1


def train(config):
    """One step of tools.train's training (forward, loss, backward, update) on random images and labels.

    The step is `build_task`'s, as the trainer's; the poly rate follows a step
    counter the timed function advances.
    """
    model_config = config.model_config
    train_config = dataclasses.replace(
        config.train_config or TrainConfig(dataset_dir="(random tensors)"),  # required, but nothing is read
        batch_size=config.batch_size, crop_size=tuple(config.input_size),
        mixed_precision=config.dtype_policy, jit_compile=config.jit_compile,
    )
    task = build_task(model_config, train_config, seed=0)
    replica_step = task.train_step.make_replica_step(config.jit_compile)

    @tf.function
    def step(images, labels):
        loss = replica_step(images, labels)[0]
        task.global_step.assign_add(1)
        return loss

    images, labels = random_batch(config.batch_size, config.input_size, model_config.num_classes, IGNORE_LABEL)
    runs = config.paired_timing(lambda: step(images, labels).numpy())
    return {
        "model_config": model_config.to_dict(),
        "train_step": {name: getattr(train_config, name) for name in _TRAIN_STEP_FIELDS},
        "params": int(task.model.count_params()),
        "trainable_params": int(sum(np.prod(v.shape) for v in task.train_step.trainable_variables)),
        "ignored_label_fraction": _IGNORED_FRACTION,
        "flops": _gradient_flops(task.train_step, images, labels),
        "forward_flops": count_flops(task.model, config.input_size, config.batch_size, padding_taps=False),
        "flops_note": "flops: counted by TF's graph profiler on the traced loss-and-gradient graph of one "
                      "step (training-mode forward, loss, weight decay, backward; a multiply-add counts 2), not "
                      "estimated as 3x forward. Left out: the optimiser update (a few FLOPs a parameter), "
                      "ops the profiler has no count for (resizes) and the convolution taps that read only "
                      "padding, three times (forward, image and weight gradients; deeplab_tf.profile."
                      "padding_flops); counted though TF prunes it at run time: the first convolution's image "
                      "gradient (<0.2% of a ResNet-101 step). forward_flops: deeplab_tf.profile.count_flops "
                      "(inference-mode forward, padding taps left out) at this batch and crop, for comparison.",
        "images_per_s": config.batch_size / runs["median_s"],
        **runs,
    }


def random_batch(batch_size, input_size, num_classes, ignore_label):
    """Random images in [0, 255) and random labels, a tenth of them `ignore_label`."""
    shape = (batch_size, *input_size)
    images = tf.random.stateless_uniform((*shape, 3), (0, 1), 0, 255)
    labels = tf.random.stateless_uniform(shape, (0, 2), 0, num_classes, dtype=tf.int32)
    ignored = tf.random.stateless_uniform(shape, (0, 3)) < _IGNORED_FRACTION
    return images, tf.where(ignored, ignore_label, labels)


def _gradient_flops(train_step, images, labels):
    """FLOPs of `train_step`'s loss and gradients for this batch, from TF's graph profiler.

    Profiled on the traced graph itself, where every shape is static at a fixed
    batch and crop: it cannot be frozen as `count_flops` does, because training
    mode assigns variables (BN moving averages, the dropout seed).
    """

    function = tf.function(lambda x, y: train_step.gradients(x, *train_step.loss_labels(y)))
    concrete = function.get_concrete_function(tf.TensorSpec.from_tensor(images), tf.TensorSpec.from_tensor(labels))
    # The backward convolutions skip the taps their forward convolution skips.
    return graph_flops(concrete.graph) - 3 * padding_flops(concrete.graph)
