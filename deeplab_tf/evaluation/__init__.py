"""Evaluation: the split-wide confusion matrix and the metrics read from it."""

from deeplab_tf.evaluation.metrics import IGNORE_LABEL, ConfusionMatrix, compute_metrics

__all__ = ["IGNORE_LABEL", "ConfusionMatrix", "compute_metrics"]
