"""Evaluation: the split-wide confusion matrix, test-time inference strategies, the evaluator."""

from deeplab_tf.evaluation.evaluator import EvaluationResult, evaluate
from deeplab_tf.evaluation.inference import (
    PAPER_EVAL_SCALES,
    InferenceSettings,
    Predictor,
    predict_probabilities,
)
from deeplab_tf.evaluation.metrics import IGNORE_LABEL, ConfusionMatrix, compute_metrics

__all__ = [
    "IGNORE_LABEL",
    "PAPER_EVAL_SCALES",
    "ConfusionMatrix",
    "EvaluationResult",
    "InferenceSettings",
    "Predictor",
    "compute_metrics",
    "evaluate",
    "predict_probabilities",
]
