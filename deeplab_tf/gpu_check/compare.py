"""A correctness row: one path's output against the plain path's, and the inputs both get alike."""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from deeplab_tf.export.parity import label_agreement
from deeplab_tf.models import build_model


def compare(name, settings, candidate, reference, tolerance, classes=True, norm="max", **facts):
    """A correctness row: `difference` of `candidate` from `reference` and, for class scores, argmax agreement.

    `norm="max"`: max |Δ| ÷ max |reference|, for logits and probabilities;
    `"l2"`: ‖Δ‖₂ ÷ ‖reference‖₂, for a weight update, whose single elements may
    cancel to nearly nothing and so differ by more than their size.
    """
    candidate = np.asarray(candidate, np.float64)
    reference = np.asarray(reference, np.float64)
    measure = np.max if norm == "max" else np.linalg.norm
    scale = measure(np.abs(reference))
    difference = float(measure(np.abs(candidate - reference)) / scale) if scale > 0 else float("inf")
    row = {"check": name, "device": settings.device, "reference_device": settings.reference_device,
           "difference": difference, "norm": norm, "tolerance": tolerance, **facts}
    passed = bool(np.all(np.isfinite(candidate))) and difference <= tolerance
    if classes:
        agreeing, pixels = label_agreement(reference.argmax(-1), candidate.argmax(-1))
        row["agreement"] = agreeing / pixels
        row["min_agreement"] = settings.min_agreement
        passed = passed and row["agreement"] >= settings.min_agreement
    row["passed"] = passed
    return row


def check_config(settings):
    """The network checked: dropout off, since two paths would draw different masks."""
    return dataclasses.replace(settings.model_config, dropout_rate=0.0)


def random_images(settings, batch_size=1):
    """uint8-valued float32 RGB images made on the reference device, fed alike to both paths."""
    with tf.device(settings.reference_device):
        images = tf.random.stateless_uniform((batch_size, *settings.input_size, 3), (7, 0), 0, 256, tf.int32)
        return tf.cast(images, tf.float32)


def seeded_weights(config):
    """The network's seeded initial weights, drawn on the CPU so every device gets the same numbers."""
    keras.utils.set_random_seed(0)
    with tf.device("/CPU:0"):
        return build_model(config).get_weights()


def network_on(device_name, config, weights, policy="float32"):
    with tf.device(device_name):
        network = build_model(config, dtype_policy=policy)
        network.set_weights(weights)
        return network


def logits(device_name, network, images, jit_compile=False):
    with tf.device(device_name):
        forward = tf.function(lambda x: network(x, training=False), jit_compile=jit_compile)
        return tf.cast(forward(images), tf.float32).numpy()
