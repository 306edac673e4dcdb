"""Evaluation of a split: the evaluator, its `metrics.json` files, the HTML report and the sidecar `watch`.

The predictor it runs is `deeplab_tf.inference`'s; the confusion-matrix metrics
are `deeplab_tf.metrics`'.
"""

from deeplab_tf.evaluation.evaluator import EvaluationResult, Sample, evaluate
from deeplab_tf.evaluation.metrics_file import (
    metrics_document,
    per_class_table,
    read_metrics_files,
    write_metrics_file,
)

__all__ = [
    "EvaluationResult",
    "Sample",
    "evaluate",
    "metrics_document",
    "per_class_table",
    "read_metrics_files",
    "write_metrics_file",
]
