"""The streaming confusion matrix of a split and the segmentation metrics read from it."""

import keras
import numpy as np
import tensorflow as tf

from deeplab_tf.label_space import IGNORE_LABEL
from deeplab_tf.errors import InputError


@keras.saving.register_keras_serializable(package="deeplab_tf")
class ConfusionMatrix(keras.metrics.Metric):
    """Counts (ground truth, prediction) pixel pairs over a whole split.

    Rows are ground-truth classes, columns predicted classes. Pixels whose label is
    `ignore_label` (VOC's boundary and padding, 255), or outside the optional
    `valid_mask`, are not counted. Counts are int64 (a split can exceed float32's
    exact range of 2^24) in a variable that Keras makes ON_READ / SUM, so under a
    `tf.distribute` strategy each replica counts its own pixels and reading
    `result()` in cross-replica context sums them.

    Args:
        num_classes: number of classes C; labels and predictions lie in [0, C).
        ignore_label: the label of pixels to leave out.

    Example:
        confusion = ConfusionMatrix(num_classes=21)
        for images, labels in dataset:
            confusion.update_state(labels, tf.argmax(model(images), -1))
        metrics = compute_metrics(confusion.result())
    """

    def __init__(self, num_classes, ignore_label=IGNORE_LABEL, name="confusion_matrix", **kwargs):
        super().__init__(name=name, **kwargs)
        integer = isinstance(num_classes, (int, np.integer)) and not isinstance(num_classes, bool)
        if not integer or num_classes < 1:
            raise InputError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.num_classes = int(num_classes)
        self.ignore_label = int(ignore_label)
        self.counts = self.add_variable(
            shape=(self.num_classes, self.num_classes),
            initializer="zeros",
            dtype="int64",
            aggregation="sum",
            name="counts",
        )

    def update_state(self, labels, predictions, valid_mask=None, sample_weight=None):
        """Adds a batch: labels and predicted class ids of the same shape, any rank.

        Args:
            labels: int ground truth; `ignore_label` pixels are skipped.
            predictions: int predicted classes (argmax of the logits).
            valid_mask: optional bool, True where a pixel counts.
            sample_weight: unused; Keras passes it.
        """
        del sample_weight
        labels = tf.reshape(tf.cast(labels, tf.int64), [-1])
        predictions = tf.reshape(tf.cast(predictions, tf.int64), [-1])
        keep = tf.not_equal(labels, self.ignore_label)
        if valid_mask is not None:
            keep = tf.logical_and(keep, tf.reshape(tf.cast(valid_mask, tf.bool), [-1]))
        labels = tf.boolean_mask(labels, keep)
        predictions = tf.boolean_mask(predictions, keep)
        # Out-of-range ids would be dropped silently by bincount: fail instead.
        checks = [
            tf.debugging.assert_non_negative(labels, message="ConfusionMatrix: negative label"),
            tf.debugging.assert_less(
                labels, tf.constant(self.num_classes, tf.int64),
                message=f"ConfusionMatrix: a label >= num_classes ({self.num_classes})",
            ),
            tf.debugging.assert_non_negative(
                predictions, message="ConfusionMatrix: negative prediction"
            ),
            tf.debugging.assert_less(
                predictions, tf.constant(self.num_classes, tf.int64),
                message=f"ConfusionMatrix: prediction >= num_classes ({self.num_classes})",
            ),
        ]
        with tf.control_dependencies(checks):
            pairs = labels * self.num_classes + predictions
        counts = tf.math.bincount(
            pairs,
            minlength=self.num_classes**2,
            maxlength=self.num_classes**2,
            dtype=tf.int64,
        )
        self.counts.assign_add(tf.reshape(counts, [self.num_classes, self.num_classes]))

    def result(self):
        """The [C, C] int64 confusion matrix (rows: ground truth)."""
        return tf.convert_to_tensor(self.counts)

    def reset_state(self):
        self.counts.assign(tf.zeros_like(self.counts))

    def get_config(self):
        config = super().get_config()
        return {**config, "num_classes": self.num_classes, "ignore_label": self.ignore_label}


@keras.saving.register_keras_serializable(package="deeplab_tf")
class MeanIoU(ConfusionMatrix):
    """mIoU for `model.compile(metrics=...)`, as `tools.evaluate` measures it: one confusion matrix over the data.

    Unlike `keras.metrics.MeanIoU`, it leaves out pixels labelled
    `ignore_label`, takes logits (the argmax is its own) and leaves out of the
    mean a class absent from both the labels and the predictions, as
    `compute_metrics` does. The counts accumulate over every batch until
    `reset_state` (Keras resets at each epoch and evaluation), so the result is
    the dataset's mIoU, not a mean of per-batch ones; under a `tf.distribute`
    strategy the replicas' counts are summed (`ConfusionMatrix`).

    Args:
        num_classes: C; the logits have C channels.
        ignore_label: the label of pixels to leave out.
        name: the metric's name in Keras logs.

    Example:
    ```python
    model.compile(optimizer="sgd", loss=deeplab_tf.SegmentationLoss(),
                  metrics=[deeplab_tf.MeanIoU(num_classes=21)])
    model.evaluate(deeplab_tf.data.eval_dataset("voc2012", "data/voc", "val"))  # {"mean_iou": ..., ...}
    ```
    """

    def __init__(self, num_classes, ignore_label=IGNORE_LABEL, name="mean_iou", **kwargs):
        super().__init__(num_classes, ignore_label, name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Adds a batch: labels [B, H, W] (or [B, H, W, 1]) and logits [B, H, W, C].

        Args:
            y_true: int labels; `ignore_label` pixels are skipped.
            y_pred: logits (or probabilities): their argmax is the prediction.
            sample_weight: optional, broadcastable to the labels: pixels of weight 0 do not count.
        """
        labels = tf.convert_to_tensor(y_true)
        if labels.shape.rank == 4:
            labels = tf.squeeze(labels, -1)
        predictions = tf.argmax(y_pred, axis=-1, output_type=tf.int32)
        valid = None
        if sample_weight is not None:
            valid = tf.broadcast_to(tf.not_equal(sample_weight, 0), tf.shape(labels))
        super().update_state(labels, predictions, valid_mask=valid)

    def result(self):
        """The mIoU over the classes present in the labels or predictions (0 when there are none)."""
        confusion = tf.cast(tf.convert_to_tensor(self.counts), tf.float64)
        true_positives = tf.linalg.diag_part(confusion)
        union = tf.reduce_sum(confusion, 0) + tf.reduce_sum(confusion, 1) - true_positives
        present = union > 0
        iou = tf.boolean_mask(true_positives, present) / tf.boolean_mask(union, present)
        return tf.cast(tf.math.divide_no_nan(tf.reduce_sum(iou), tf.cast(tf.size(iou), tf.float64)), tf.float32)


def compute_metrics(confusion):
    """Segmentation metrics from a [C, C] confusion matrix (rows: ground truth).

    A class that appears in neither the labels nor the predictions (an empty row
    and column) has no IoU and is left out of the mean, as the official DeepLab
    evaluation (`tf.metrics.mean_iou`) does; a class present in either counts,
    with IoU 0 if never matched.

    Args:
        confusion: array-like or tensor [C, C] of pixel counts.

    Returns:
        A dict of plain Python values (JSON-ready):
            miou: mean IoU over present classes (None if there are none);
            per_class_iou: list of C IoUs, None for absent classes;
            pixel_accuracy: correctly labelled / counted pixels (None if none);
            mean_class_accuracy: mean over classes with ground-truth pixels of
                their recall;
            per_class_accuracy: list of C recalls, None for classes without
                ground-truth pixels;
            frequency_weighted_iou: IoU averaged with ground-truth pixel weights;
            num_pixels: counted pixels.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise InputError(f"confusion matrix must be square [C, C], got shape {confusion.shape}")
    true_positives = np.diag(confusion)
    ground_truth = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    union = ground_truth + predicted - true_positives
    total = confusion.sum()
    present = union > 0
    iou = np.where(present, true_positives / np.where(present, union, 1.0), np.nan)
    has_truth = ground_truth > 0
    recall = np.where(has_truth, true_positives / np.where(has_truth, ground_truth, 1.0), np.nan)
    return {
        "miou": _mean_or_none(iou[present]),
        "per_class_iou": _list_with_none(iou),
        "pixel_accuracy": float(true_positives.sum() / total) if total > 0 else None,
        "mean_class_accuracy": _mean_or_none(recall[has_truth]),
        "per_class_accuracy": _list_with_none(recall),
        "frequency_weighted_iou": (
            float(np.sum(ground_truth[present] * iou[present]) / total) if total > 0 else None
        ),
        "num_pixels": int(total),
    }


def _mean_or_none(values):
    return float(values.mean()) if values.size else None


def _list_with_none(values):
    return [None if np.isnan(v) else float(v) for v in values]
