"""The DeepLab loss: softmax cross-entropy over labelled pixels, per output, plus L2 weight decay."""

import tensorflow as tf

from deeplab_tf.data.info import IGNORE_LABEL
from deeplab_tf.layers.resize import resize_nearest_align_corners


def valid_pixel_count(labels, ignore_label=IGNORE_LABEL):
    """Pixels whose label is not `ignore_label`, as float32."""
    return tf.reduce_sum(tf.cast(tf.not_equal(labels, ignore_label), tf.float32))


def pixel_cross_entropy_sum(logits, labels, ignore_label=IGNORE_LABEL, class_weights=None):
    """Σ over pixels with label ≠ `ignore_label` of the softmax cross-entropy (float32).

    Args:
        logits: [B, H, W, C] (cast to float32).
        labels: int [B, H, W] of the same height and width.
        class_weights: optional [C] weights; each pixel's cross-entropy is
            multiplied by its label's weight (the divisor stays the labelled
            pixel count, so all-ones weights give the unweighted loss).
    """
    labels = tf.cast(labels, tf.int32)
    valid = tf.not_equal(labels, ignore_label)
    # Ignored pixels get class 0 so the op stays in range; their loss is masked out.
    safe_labels = tf.where(valid, labels, tf.zeros_like(labels))
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(safe_labels, tf.cast(logits, tf.float32))
    if class_weights is not None:
        losses = losses * tf.gather(tf.constant(class_weights, tf.float32), safe_labels)
    return tf.reduce_sum(tf.where(valid, losses, tf.zeros_like(losses)))


def downsample_labels(labels, size):
    """Nearest-neighbour resize of int [B, H, W] labels to `size` (corners aligned).

    Corner alignment maps a 321 crop onto v2's 41×41 OS8 logits exactly
    (every 8th pixel), as Caffe's label shrinking and DeepLab's TF code do.
    """
    return resize_nearest_align_corners(labels[..., None], size)[..., 0]


def segmentation_loss(logits_list, labels_list, counts, ignore_label=IGNORE_LABEL, class_weights=None):
    """Σ_i (cross-entropy sum of output i) / counts[i].

    With `counts` the number of labelled pixels of the *global* batch for each
    output, the sum of this over replicas is the loss of the whole batch
    divided by its labelled pixels — the papers' loss, whatever the replica count.
    v2's MSC passes each scale's logits and the fused logits; each term is that
    output's mean over its own labelled pixels. `class_weights`: as for
    `pixel_cross_entropy_sum`.
    """
    total = 0.0
    for index, (logits, labels) in enumerate(zip(logits_list, labels_list)):
        total += pixel_cross_entropy_sum(logits, labels, ignore_label, class_weights) / tf.maximum(counts[index], 1.0)
    return total


def weight_decay_loss(kernels, weight_decay):
    """weight_decay · Σ‖w‖²/2 over `kernels` (gradient: weight_decay · w)."""
    if not kernels or weight_decay == 0:
        return tf.constant(0.0)
    return weight_decay * tf.add_n([tf.nn.l2_loss(tf.cast(k, tf.float32)) for k in kernels])
