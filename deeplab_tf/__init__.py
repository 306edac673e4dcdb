"""deeplab_tf: DeepLab v2 and v3 semantic segmentation in Keras 3 on TensorFlow 2."""

from deeplab_tf.backbones import build_backbone, load_imagenet_weights, unit_rates
from deeplab_tf.batch_norm_folding import fold_batch_norms
from deeplab_tf.config import ModelConfig
from deeplab_tf.errors import ConfigError, DataError, InputError
from deeplab_tf import model_dir
from deeplab_tf.models import DeepLab, MultiScaleDeepLab, build_model, multi_scale_outputs, rebuild

__all__ = [
    "ConfigError",
    "DataError",
    "DeepLab",
    "InputError",
    "ModelConfig",
    "MultiScaleDeepLab",
    "build_backbone",
    "build_model",
    "fold_batch_norms",
    "load_imagenet_weights",
    "multi_scale_outputs",
    "rebuild",
    "unit_rates",
]
