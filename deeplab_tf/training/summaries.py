"""TensorBoard output of a run (scalars, image overlays) and the in-step confusion matrix."""

import os

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from deeplab_tf import visualize


def _metadata(plugin):
    # What TensorBoard's own `tf.summary.scalar` / `image` attach; TF 2.21 ships
    # without the tensorboard package, so the events are written with the core op.
    return summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin))


_SCALAR = _metadata("scalars")
_IMAGE = _metadata("images")


def batch_confusion_matrix(labels, predictions, num_classes, ignore_label):
    """int32 [C, C] counts of (label, prediction) over pixels whose label ≠ `ignore_label`.

    A segment sum rather than `bincount`, so it compiles with XLA and runs on TPU.
    """
    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    predictions = tf.reshape(tf.cast(predictions, tf.int32), [-1])
    valid = tf.logical_and(tf.not_equal(labels, ignore_label), labels < num_classes)
    ids = tf.where(valid, labels * num_classes + predictions, tf.zeros_like(labels))
    counts = tf.math.unsorted_segment_sum(tf.cast(valid, tf.int32), ids, num_classes * num_classes)
    return tf.reshape(counts, [num_classes, num_classes])


class Summaries:
    """Writes a run's TensorBoard events to `model_dir/train/` (the chief only).

    Tags: `loss/total`, `loss/cross_entropy`, `loss/weight_decay`,
    `learning_rate`, `train/miou`, `train/pixel_accuracy`, `steps_per_second`,
    `eval/miou` (with `eval_steps`), and images `train/overlays` (image |
    ground truth | prediction overlay).
    """

    def __init__(self, model_dir, enabled=True):
        self.log_dir = os.path.join(model_dir, "train")
        self.writer = tf.summary.create_file_writer(self.log_dir) if enabled else tf.summary.create_noop_writer()

    def scalars(self, step, values):
        with self.writer.as_default(step=int(step)):
            for tag, value in values.items():
                if value is not None:
                    tf.summary.write(tag, tf.constant(float(value), tf.float32), metadata=_SCALAR)

    def overlays(self, step, images, labels, predictions, ignore_label=255, palette=None):
        """One picture per example: image | ground truth | prediction over the image.

        Args:
            images: uint8 [N, H, W, 3] (or a list of differently sized ones).
            labels, predictions: int [N, H, W] (or lists).
            palette: uint8 [N, 3] class colours (`palettes.palette_array`) (default VOC's).
        """
        panels = []
        for image, label, prediction in zip(images, labels, predictions):
            image = np.asarray(image, np.uint8)
            truth = visualize.overlay(image, label, alpha=0.6, transparent=(0, ignore_label), palette=palette)
            predicted = visualize.overlay(image, prediction, alpha=0.6, palette=palette)
            panels.append(np.concatenate([image, truth, predicted], axis=1))
        height = max(p.shape[0] for p in panels)
        width = max(p.shape[1] for p in panels)
        padded = np.zeros((len(panels), height, width, 3), np.uint8)
        for index, panel in enumerate(panels):
            padded[index, : panel.shape[0], : panel.shape[1]] = panel
        # TensorBoard's image format: [width, height, PNG, PNG, ...] as strings.
        encoded = [tf.io.encode_png(picture) for picture in padded]
        tensor = tf.stack([tf.as_string(width), tf.as_string(height), *encoded])
        with self.writer.as_default(step=int(step)):
            tf.summary.write("train/overlays", tensor, metadata=_IMAGE)

    def flush(self):
        self.writer.flush()
