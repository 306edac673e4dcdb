"""deeplab_tf: DeepLab v2 and v3 semantic segmentation in Keras 3 on TensorFlow 2.

For `model.compile` / `fit`: `SegmentationLoss`, `MeanIoU`, `PolyLearningRate`,
`add_weight_decay`, `data.train_dataset` / `data.eval_dataset`, and
`save_model_dir` for the tools (docs/training.md, "Training with Keras fit").
"""

from deeplab_tf.backbones import build_backbone, load_imagenet_weights, unit_rates
from deeplab_tf.batch_norm_folding import fold_batch_norms
from deeplab_tf.config import ModelConfig
from deeplab_tf.errors import ConfigError, DataError, InputError
from deeplab_tf import data, model_dir
from deeplab_tf.losses import SegmentationLoss, add_weight_decay
from deeplab_tf.metrics import MeanIoU
from deeplab_tf.model_dir import load_model, save_model_dir
from deeplab_tf.models import DeepLab, MultiScaleDeepLab, build_model, multi_scale_outputs, rebuild
from deeplab_tf.schedules import PolyLearningRate

__all__ = [
    "ConfigError",
    "DataError",
    "DeepLab",
    "InputError",
    "MeanIoU",
    "ModelConfig",
    "MultiScaleDeepLab",
    "PolyLearningRate",
    "SegmentationLoss",
    "add_weight_decay",
    "build_backbone",
    "build_model",
    "fold_batch_norms",
    "load_imagenet_weights",
    "load_model",
    "multi_scale_outputs",
    "rebuild",
    "save_model_dir",
    "unit_rates",
]
