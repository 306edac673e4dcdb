"""Datasets: one module per format (VOC, the generated set, TFRecords, Cityscapes, ADE20K, a folder),
registered by name in `registry`; augmentation and input pipelines."""

from deeplab_tf.data.info import MEAN_RGB, DatasetInfo, dataset_info
from deeplab_tf.data.datasets import eval_dataset, train_dataset
from deeplab_tf.data.pipeline import eval_pipeline, train_pipeline
from deeplab_tf.data.readers import read_split
from deeplab_tf.data.registry import DatasetFormat, format_names, get_format, register_format
from deeplab_tf.data.validate import Problem, ValidationReport, validate_split
from deeplab_tf.label_space import IGNORE_LABEL

__all__ = [
    "IGNORE_LABEL",
    "MEAN_RGB",
    "DatasetFormat",
    "DatasetInfo",
    "Problem",
    "ValidationReport",
    "dataset_info",
    "eval_dataset",
    "eval_pipeline",
    "format_names",
    "get_format",
    "read_split",
    "register_format",
    "train_dataset",
    "train_pipeline",
    "validate_split",
]
