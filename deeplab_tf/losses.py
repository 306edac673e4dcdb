"""The DeepLab loss: softmax cross-entropy over labelled pixels, per output, plus L2 weight decay.

The functions are the trainer's; `SegmentationLoss` is the same loss as a
`keras.losses.Loss` for `model.compile`, and `add_weight_decay` the same decay
for `model.fit`.
"""

import keras
import tensorflow as tf

from deeplab_tf.label_space import IGNORE_LABEL
from deeplab_tf.layers.resize import resize_nearest_align_corners
from deeplab_tf.errors import ConfigError, InputError


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


def decayed_kernels(model):
    """The kernels weight decay applies to: every trainable convolution kernel (not BN, not biases)."""
    return [layer.kernel for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, keras.layers.Conv2D) and layer.kernel.trainable]


def weight_decay_loss(kernels, weight_decay):
    """weight_decay · Σ‖w‖²/2 over `kernels` (gradient: weight_decay · w)."""
    if not kernels or weight_decay == 0:
        return tf.constant(0.0)
    return weight_decay * tf.add_n([tf.nn.l2_loss(tf.cast(k, tf.float32)) for k in kernels])


def add_weight_decay(model, weight_decay):
    """Gives `model.fit` the trainer's weight decay: weight_decay · Σ‖w‖²/2 over `decayed_kernels(model)`.

    Sets an L2 regulariser on each of those kernels, so Keras adds the decay to
    the loss (`model.losses`) and divides it among replicas as the trainer does.
    It is a training setting: `model.save` does not keep it, so call it again
    on a loaded model before training on. Returns `model`.

    Example:
    ```python
    model = deeplab_tf.add_weight_decay(deeplab_tf.build_model(config), 1e-4)
    model.compile(optimizer="sgd", loss=deeplab_tf.SegmentationLoss())
    ```
    """
    if not weight_decay >= 0:
        raise ConfigError("weight_decay", f"must be >= 0, got {weight_decay}")
    # L2(l) gives l·Σw², so l = weight_decay / 2; 0 removes the decay.
    regularizer = keras.regularizers.L2(weight_decay / 2.0) if weight_decay else None
    for kernel in decayed_kernels(model):
        kernel.regularizer = regularizer
    return model


@keras.saving.register_keras_serializable(package="deeplab_tf")
class SegmentationLoss(keras.losses.Loss):
    """The papers' loss for `model.compile`: softmax cross-entropy summed over labelled pixels / their count.

    Pixels labelled `ignore_label` are left out of both the sum and the count;
    `class_weights` multiplies each pixel's cross-entropy by its label's weight
    (the divisor stays the labelled pixel count). Under a `tf.distribute`
    strategy the count is that of the global batch (an all-reduce), so the
    replicas' losses add up to the whole batch's, as in the trainer: the same
    math (`segmentation_loss`), so the same number.

    Logits smaller than the labels (a network's output at its stride, v2's
    recipe) are scored against labels nearest-downsampled to them
    (`downsample_labels`, corners aligned). Keras's `sample_weight` is not
    supported: use `class_weights`.

    Args:
        ignore_label: the label left out (the dataset's `DatasetInfo.ignore_label`).
        class_weights: None, or one loss weight per class.
        name: the loss's name in Keras logs.

    Example:
    ```python
    model = deeplab_tf.build_model(config)
    model.compile(optimizer=keras.optimizers.SGD(deeplab_tf.PolyLearningRate(0.007, 30000), momentum=0.9),
                  loss=deeplab_tf.SegmentationLoss(ignore_label=255),
                  metrics=[deeplab_tf.MeanIoU(config.num_classes, ignore_label=255)])
    model.fit(deeplab_tf.data.train_dataset("voc2012", "data/voc", "train_aug", batch_size=16, crop_size=513))
    ```
    """

    def __init__(self, ignore_label=IGNORE_LABEL, class_weights=None, name="segmentation_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.ignore_label = int(ignore_label)
        self.class_weights = None if class_weights is None else tuple(float(w) for w in class_weights)
        if self.class_weights is not None and (
                not self.class_weights or any(not w >= 0 for w in self.class_weights)):
            raise ConfigError("class_weights", f"need one weight >= 0 per class, got {list(self.class_weights)}")

    def __call__(self, y_true, y_pred, sample_weight=None):
        # Keras's reduction (a mean over elements, divided among replicas) is not the papers'
        # normalisation, so the whole loss is computed here.
        if sample_weight is not None:
            raise InputError("SegmentationLoss: sample_weight is not supported; give class_weights instead")
        with tf.name_scope(self.name):
            return self.call(y_true, y_pred)

    def call(self, y_true, y_pred):
        """The loss of this replica's batch: its labelled pixels' cross-entropy / the global batch's count.

        Args:
            y_true: int labels [B, H, W] (or [B, H, W, 1]).
            y_pred: logits [B, h, w, C].
        """
        labels = tf.convert_to_tensor(y_true)
        if labels.shape.rank == 4:
            labels = tf.squeeze(labels, -1)
        if self.class_weights is not None and y_pred.shape[-1] is not None \
                and len(self.class_weights) != y_pred.shape[-1]:
            raise ConfigError("class_weights", f"{len(self.class_weights)} weights for {y_pred.shape[-1]} "
                              "classes; give one per class")
        logits_size, labels_size = y_pred.shape[1:3], labels.shape[1:3]
        if not (logits_size.is_fully_defined() and logits_size == labels_size):
            labels = downsample_labels(labels, tf.shape(y_pred)[1:3])
        count = tf.stop_gradient(valid_pixel_count(labels, self.ignore_label))
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            count = context.all_reduce("sum", count)
        return segmentation_loss([y_pred], [labels], tf.reshape(count, [1]), self.ignore_label,
                                 self.class_weights)

    def get_config(self):
        # No "reduction": the loss does its own.
        return {"name": self.name, "ignore_label": self.ignore_label,
                "class_weights": None if self.class_weights is None else list(self.class_weights)}
