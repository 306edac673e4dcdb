"""Datasets: readers of VOC, SBD, official TFRecords and TFDS sets; augmentation; generator."""

from deeplab_tf.data.info import (
    DATASET_NAMES,
    IGNORE_LABEL,
    MEAN_RGB,
    DatasetInfo,
    dataset_info,
)
from deeplab_tf.data.datasets import eval_dataset, train_dataset
from deeplab_tf.data.pipeline import eval_pipeline, train_pipeline
from deeplab_tf.data.readers import read_split
from deeplab_tf.data.validate import Problem, ValidationReport, validate_split

__all__ = [
    "DATASET_NAMES",
    "IGNORE_LABEL",
    "MEAN_RGB",
    "DatasetInfo",
    "Problem",
    "ValidationReport",
    "dataset_info",
    "eval_dataset",
    "eval_pipeline",
    "read_split",
    "train_dataset",
    "train_pipeline",
    "validate_split",
]
