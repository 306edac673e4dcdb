"""The dataset flags shared by the tools that read a dataset (train, evaluate, export calibration)."""

from absl import flags

from deeplab_tf.data import DATASET_NAMES, dataset_info
from tools import model_flags  # noqa: F401  (defines --num_classes, which the dataset checks)

flags.DEFINE_enum("dataset", None, list(DATASET_NAMES),
                  "The dataset's format: voc2012, synthetic (generated), tfrecord (official "
                  "DeepLab shards), cityscapes or ade20k (TFDS manual-download directories).")
flags.DEFINE_string("dataset_dir", None, "Where the dataset is.")

FLAGS = flags.FLAGS

# Config fields of the data layer → the flag a user types, for one-line errors.
FLAG_FOR_FIELD = {"dataset": "dataset", "dataset_dir": "dataset_dir", "num_classes": "num_classes"}


def num_classes_flag():
    """`--num_classes` when the user gave it (to check against the dataset), else None."""
    return FLAGS.num_classes if FLAGS["num_classes"].present else None


def dataset_info_from_flags():
    """The `DatasetInfo` of `--dataset` in `--dataset_dir`.

    The number of classes comes from the dataset where it knows it (VOC,
    Cityscapes, ADE20K, the generated set, converted TFRecords with their
    `dataset.json`); `--num_classes` is then only checked against it. Plain
    TFRecord shards need `--num_classes`.
    """
    return dataset_info(FLAGS.dataset, FLAGS.dataset_dir, num_classes_flag())
