"""Test-time inference, shared by evaluation, prediction and export.

`InferenceSettings` (scales, flip, sliding window), `predict_probabilities` and the
compiled `Predictor` (plus `at_output_stride`, the OS16 → OS8 switch), and
`SavedModelLogits`, which runs an exported SavedModel through the same code.
"""

from deeplab_tf.inference.predictor import (
    Predictor,
    at_output_stride,
    predict_probabilities,
    sliding_window_logits,
)
from deeplab_tf.inference.saved_model import (
    INPUT_NAME,
    OUTPUT_NAMES,
    SIGNATURE_KEY,
    SavedModelLogits,
)
from deeplab_tf.inference.settings import PAPER_EVAL_SCALES, InferenceSettings

__all__ = [
    "INPUT_NAME",
    "OUTPUT_NAMES",
    "PAPER_EVAL_SCALES",
    "SIGNATURE_KEY",
    "InferenceSettings",
    "Predictor",
    "SavedModelLogits",
    "at_output_stride",
    "predict_probabilities",
    "sliding_window_logits",
]
