"""The dataset flags shared by the tools that read a dataset (train, evaluate, export calibration)."""

from absl import flags

from deeplab_tf.data import dataset_info, registry
from tools import model_flags  # noqa: F401  (defines --num_classes, which the dataset checks)
from tools.cli import UsageError

flags.DEFINE_string("dataset", None, "The dataset's format: " + "; ".join(
    f"{name} ({registry.get_format(name).description})" for name in registry.format_names()) + ".")


@flags.validator("dataset")
def _registered_format(name):
    """Any format registered before the flags are parsed, so a program that registers its own can use it."""
    if name is not None and registry.find_format(name) is None:
        raise flags.ValidationError(f"unknown dataset {name!r}; expected one of {', '.join(registry.format_names())}")
    return True

flags.DEFINE_string("dataset_dir", None, "Where the dataset is.")
flags.DEFINE_string("eval_split", "val", "The split evaluated: by tools.evaluate, and by tools.train "
                    "with --eval_steps (so a recipe's --eval_split line serves both).")

flags.DEFINE_float("val_fraction", None, "A folder dataset without split files: the share of its names "
                   "in val (default 0.1), chosen by a hash of each name, so the split never changes.")

FLAGS = flags.FLAGS

# Config fields of the data layer → the flag a user types, for one-line errors.
FLAG_FOR_FIELD = {"dataset": "dataset", "dataset_dir": "dataset_dir", "num_classes": "num_classes",
                  "val_fraction": "val_fraction"}


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


def dataset_from_flags(recorded=None):
    """(name, directory) of `--dataset` and `--dataset_dir`, defaulting to a recorded dataset.

    `recorded` is the `dataset` entry a model directory or an export records
    (`name`, `dataset_dir`); its directory is the default only for its own
    dataset. Either may come back None when neither the flags nor the record
    give it.
    """
    recorded = recorded or {}
    name = FLAGS.dataset or recorded.get("name")
    directory = FLAGS.dataset_dir or (None if FLAGS.dataset and FLAGS.dataset != recorded.get("name")
                                      else recorded.get("dataset_dir"))
    return name, directory


def val_fraction_from_flags(recorded=None):
    """`--val_fraction` when given, else the one a model directory recorded (None: the default)."""
    if FLAGS["val_fraction"].present:
        return FLAGS.val_fraction
    return (recorded or {}).get("val_fraction")


def dataset_info_for_model(name, directory, model_classes):
    """The `DatasetInfo` of `name` in `directory`, refused unless it has the model's number of classes.

    TFRecord shards without metadata take the class count from the model.
    """
    num_classes = num_classes_flag()
    if num_classes is None and not registry.get_format(name).knows_num_classes:
        num_classes = model_classes
    info = dataset_info(name, directory, num_classes)
    if info.num_classes != model_classes:
        raise UsageError(f"--dataset: the model predicts {model_classes} classes but dataset "
                         f"{name!r} at {directory} has {info.num_classes}")
    return info
