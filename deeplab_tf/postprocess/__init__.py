"""Post-processing of segmentation scores: the fully connected CRF of DeepLab v2."""

from deeplab_tf.postprocess.batching import same_size_runs
from deeplab_tf.postprocess.dense_crf import BACKENDS, dense_crf
from deeplab_tf.postprocess.mean_field import dense_crf_tf
from deeplab_tf.postprocess.params import CRFParams

__all__ = ["BACKENDS", "CRFParams", "dense_crf", "dense_crf_tf", "same_size_runs"]
