"""`model_dir/best/`: the best checkpoint of the evaluations during training, as a model directory of its own.

    best/model_config.json   a copy of the run's (so tools.evaluate, tools.export read best/ as a run)
    best/checkpoints/        exactly one checkpoint, `ckpt-<step>` (network under `model`, plus `step`)
    best/eval.json           {"step", "miou", "per_class_iou", "num_images", "eval_split"}

The checkpoint goes through `tf.train.CheckpointManager(max_to_keep=1)`, as the
run's own checkpoints do (files first, then the `checkpoint` state file, then
the old one deleted), and `eval.json` is replaced atomically after it. A kill
between the two leaves the new checkpoint with the old `eval.json`, whose
lower mIoU a resumed run then has to beat, so nothing worse replaces it.
"""

import json
import os
import shutil

import tensorflow as tf

from deeplab_tf import files
from deeplab_tf import model_dir as model_dir_lib

BEST_DIR = "best"
EVAL_FILE = "eval.json"


def read_best(model_dir):
    """The `eval.json` of `model_dir/best/` as a dict, or None when there is none (or it is unreadable)."""
    path = os.path.join(model_dir, BEST_DIR, EVAL_FILE)
    try:
        with open(path) as file:
            record = json.load(file)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("miou"), (int, float)):
        return None
    if model_dir_lib.latest_checkpoint(os.path.join(model_dir, BEST_DIR)) is None:
        return None
    return record


class BestKeeper:
    """Writes `model_dir/best/` (see the module docstring).

    Under `MultiWorkerMirroredStrategy` every worker must take part in a save,
    as for the run's checkpoints: only the chief's lands in `best/`, the
    others write to a scratch folder that is deleted right after.

    Args:
        model_dir: the run's model directory.
        chief: whether this process writes the real `best/`.
        worker_id: this worker's task index (names its scratch folder).
        objects: what to save: `model=` (the key loading reads) and `step=`.
    """

    def __init__(self, model_dir, *, chief=True, worker_id=0, **objects):
        self.directory = os.path.join(model_dir, BEST_DIR)
        self.chief = chief
        checkpoint_dir = (os.path.join(self.directory, model_dir_lib.CHECKPOINT_DIR) if chief
                          else os.path.join(model_dir, f".worker{worker_id}_best_scratch"))
        self.manager = tf.train.CheckpointManager(
            tf.train.Checkpoint(**objects), checkpoint_dir, max_to_keep=1, checkpoint_name="ckpt"
        )

    def save(self, step, record, model_config, **model_dir_extra):
        """Saves checkpoint `ckpt-<step>`, then (chief) `model_config.json` and `eval.json` = `record`.

        Returns:
            The checkpoint's path (the scratch path on non-chief workers).
        """
        path = self.manager.save(checkpoint_number=int(step))
        if not self.chief:
            shutil.rmtree(self.manager.directory, ignore_errors=True)
            return path
        model_dir_lib.save_model_config(self.directory, model_config, **model_dir_extra)
        files.write_atomically(os.path.join(self.directory, EVAL_FILE), json.dumps(record, indent=2) + "\n")
        return path
