"""What a run checks and settles before it builds anything: settings, the model directory, the data, class weights.

Under several workers the chief reads the data and every worker gets its
verdict (`Cluster.share_from_chief`), so all raise or none does.
"""

import enum
import os

import numpy as np
import tensorflow as tf

from deeplab_tf import data as data_lib
from deeplab_tf import model_dir as model_dir_lib
from deeplab_tf.data import statistics
from deeplab_tf.errors import ConfigError, DataError
from deeplab_tf.layers.atrous_conv import cpu_runs_dilations
from deeplab_tf.training import checkpoints
from deeplab_tf.training.config import MEDIAN_FREQUENCY


class SplitVerdict(enum.IntEnum):
    """The chief's reading of the train split, as every worker receives it."""

    UNREADABLE = 0
    USABLE = 1
    HAS_UNUSABLE_EXAMPLES = 2


def check_settings(config, model_config, *, num_replicas, is_tpu, on_message):
    """Fails on settings that cannot run, before anything is built; `on_message` gets the warnings."""
    config.check_replicas(num_replicas)
    if config.eval_steps and is_tpu:
        raise ConfigError("eval_steps", "evaluation during training runs outside the TPU step; "
                          "evaluate the checkpoints with tools.evaluate instead")
    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    if config.mixed_precision == "mixed_float16" and is_tpu:
        raise ConfigError("mixed_precision", "TPUs compute in bfloat16; use mixed_bfloat16")
    if config.mixed_precision == "mixed_float16" and not on_gpu:
        on_message("mixed_float16 without a GPU is slow; mixed_bfloat16 suits CPUs with AMX")
    if config.mixed_precision == "mixed_bfloat16" and not (is_tpu or on_gpu or cpu_runs_dilations("bfloat16")):
        on_message("this CPU has no native bfloat16 (no AVX-512 or AMX): TensorFlow emulates it, "
                   "tens of times slower than --mixed_precision=float32")
    if config.init_checkpoint:
        checkpoints.resolve_checkpoint(config.init_checkpoint)  # fail now, not after building
    if config.backbone_weights and not os.path.isfile(config.backbone_weights):
        raise ConfigError("backbone_weights", f"no such file: {config.backbone_weights}")
    return data_lib.dataset_info(config.dataset, config.dataset_dir, model_config.num_classes)


def check_model_dir(model_dir, model_config, resume_from):
    """A model directory holding another network's checkpoints must not be resumed into."""
    if resume_from is None or not os.path.isfile(os.path.join(model_dir, model_dir_lib.CONFIG_FILE)):
        return
    saved = model_dir_lib.read_model_dir_json(model_dir).get("model", {})
    ours = model_config.to_dict()
    differing = [k for k in sorted(set(saved) | set(ours)) if saved.get(k) != ours.get(k)]
    if differing:
        changes = "; ".join(f"{k}: {saved.get(k)!r} there, {ours.get(k)!r} here" for k in differing[:3])
        raise ConfigError("model_dir", f"{model_dir} holds a run of a different network ({changes}); "
                          "use a new --model_dir, or --init_checkpoint to start from it")


def validates(config, resume_from):
    """Whether the run checks its train split before training (the same on every worker)."""
    # read_split validates (and skips) itself with skip_bad_examples; a resumed run was checked when it started.
    return config.validate_dataset and not config.skip_bad_examples and resume_from is None


def read_split_report(config, num_classes, cluster):
    """(the train split's `ValidationReport` on the chief, None elsewhere; the chief's `SplitVerdict`).

    Raises:
        DataError: on every worker, when the chief could not read the split.
    """
    report, error = None, None
    if cluster.chief:
        try:
            report = data_lib.validate_split(config.dataset, config.dataset_dir, config.train_split,
                                             num_classes=num_classes, val_fraction=config.val_fraction)
        except DataError as raised:
            error = raised
    verdict = (SplitVerdict.UNREADABLE if error is not None
               else SplitVerdict.USABLE if report is None or report.ok else SplitVerdict.HAS_UNUSABLE_EXAMPLES)
    verdict = SplitVerdict(int(cluster.share_from_chief([int(verdict)])[0]))  # the others' value is ignored
    if error is not None:
        raise error
    if verdict is SplitVerdict.UNREADABLE:
        raise DataError(f"{config.dataset_dir}: the chief could not read split {config.train_split!r}; "
                        "its output says why")
    return report, verdict


def validate_train_split(config, num_classes, cluster, on_message):
    """Checks every example of the train split (on the chief); returns its `ValidationReport` (None elsewhere).

    Raises:
        DataError: the split has unusable examples (on every worker).
    """
    report, verdict = read_split_report(config, num_classes, cluster)
    if verdict is SplitVerdict.HAS_UNUSABLE_EXAMPLES:
        where = f"{config.dataset_dir}: split {config.train_split!r} has"
        if report is None:
            raise DataError(f"{where} unusable examples (the chief's output names them); fix them or pass "
                            "--skip_bad_examples")
        shown = "; ".join(str(p) for p in report.problems[:3])
        more = f" (and {len(report.problems) - 3} more)" if len(report.problems) > 3 else ""
        raise DataError(f"{where} {len(report.bad_examples)} unusable example(s): {shown}{more}; fix them or "
                        "pass --skip_bad_examples")
    if report is not None:
        on_message(f"validated {config.dataset} split {config.train_split!r}: {report.num_examples} examples")
    return report


def resolve_class_weights(config, num_classes, *, model_dir, resume_from, report, cluster, on_message):
    """The loss weight of each class: the given list, or median-frequency balancing of the train split.

    Median-frequency weights are computed when a run starts (from `report`,
    or a fresh reading of the split) and read back from `model_config.json`
    on resume; the chief computes them and every worker gets its numbers.
    """
    if config.class_weights is None:
        return None
    if config.class_weights != MEDIAN_FREQUENCY:
        if len(config.class_weights) != num_classes:
            raise ConfigError("class_weights", f"{len(config.class_weights)} weights for {num_classes} "
                              "classes; give one per class")
        return tuple(config.class_weights)
    if resume_from is not None:
        recorded = model_dir_lib.read_model_dir_json(model_dir).get("train", {}).get("class_weights")
        if isinstance(recorded, list) and len(recorded) == num_classes:
            return tuple(float(w) for w in recorded)
    if not validates(config, resume_from):
        report = read_split_report(config, num_classes, cluster)[0]
    weights = statistics.median_frequency_weights(report) if cluster.chief else np.zeros(num_classes)
    weights = tuple(float(w) for w in cluster.share_from_chief(weights))
    on_message("median-frequency class weights: " + ", ".join(f"{w:.3g}" for w in weights))
    return weights
