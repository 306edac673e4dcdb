"""A run's checkpoints: atomic periodic saves, resuming, and initialising from another run.

Saves go through `tf.train.CheckpointManager`: the checkpoint's files are
written (TensorFlow writes them under temporary names and renames them), then
the `checkpoint` state file is replaced atomically, and only then are old
checkpoints deleted. A kill at any moment therefore leaves the state file
naming a complete checkpoint.
"""

import os
import shutil

import tensorflow as tf

from deeplab_tf import model_dir as model_dir_lib
from deeplab_tf.errors import ConfigError, first_line


class CheckpointKeeper:
    """Saves and restores `tf.train.Checkpoint(**objects)` in `model_dir/checkpoints`.

    Under `MultiWorkerMirroredStrategy` every worker must take part in a save;
    only the chief's lands in `model_dir`, the others write to a scratch
    folder that is deleted right after (the pattern TensorFlow documents).

    Args:
        model_dir: the run's model directory.
        keep: checkpoints kept.
        chief: whether this process writes the real checkpoints.
        worker_id: this worker's task index (names its scratch folder).
        objects: what to save: `model=` (the contract's key), `optimizer=`, `step=`.
    """

    def __init__(self, model_dir, *, keep=5, chief=True, worker_id=0, **objects):
        self.checkpoint = tf.train.Checkpoint(**objects)
        self.directory = os.path.join(model_dir, model_dir_lib.CHECKPOINT_DIR)
        self.chief = chief
        save_directory = self.directory if chief else os.path.join(model_dir, f".worker{worker_id}_scratch")
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, save_directory, max_to_keep=keep, checkpoint_name="ckpt"
        )

    @property
    def latest(self):
        """The newest complete checkpoint of the run (the chief's), or None."""
        return tf.train.latest_checkpoint(self.directory)

    def restore(self, path):
        """Restores checkpoint `path` (e.g. `latest`, or the one the chief chose for every worker); returns it.

        Raises:
            ConfigError: (field `model_dir`) the checkpoint does not fit what is being trained.
        """
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as error:
            raise ConfigError(
                "model_dir",
                f"cannot resume from {path}: {first_line(error)}; "
                "it was written by a different model or optimiser (e.g. another --mixed_precision)"
            ) from None
        return path

    def save(self, step):
        """Writes checkpoint `ckpt-<step>`; returns its path (the scratch path on non-chief workers)."""
        path = self.manager.save(checkpoint_number=int(step))
        if not self.chief:
            shutil.rmtree(self.manager.directory, ignore_errors=True)
        return path


def resolve_checkpoint(path, flag="init_checkpoint"):
    """A checkpoint prefix from a model directory, a checkpoints folder or a prefix.

    Raises:
        ConfigError: (field `flag`) nothing restorable there.
    """
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, model_dir_lib.CONFIG_FILE)):
            prefix = model_dir_lib.latest_checkpoint(path)
        else:
            prefix = tf.train.latest_checkpoint(path)
        if prefix is None:
            raise ConfigError(flag, f"no checkpoint in {path}")
        return prefix
    if not tf.io.gfile.exists(path + ".index"):
        raise ConfigError(flag, f"{path} is neither a model directory nor a checkpoint prefix")
    return path


def restore_init_checkpoint(model, path, scope="all"):
    """Initialises `model` from another run's checkpoint (network under the key `model`).

    Args:
        model: the `DeepLab` / `MultiScaleDeepLab` being trained.
        path: a model directory, checkpoints folder or checkpoint prefix.
        scope: "all" (every layer; the networks must match up to output stride
            and atrous rates, e.g. v3's OS16 → OS8 second stage) or "backbone"
            (the ResNet only, e.g. to change the number of classes).

    Returns:
        The checkpoint prefix read.

    Raises:
        ConfigError: (field `init_checkpoint`) missing, or layers that do not match.
    """
    prefix = resolve_checkpoint(path)
    if scope == "backbone":
        network = tf.Module()
        network.backbone = model.backbone
    else:
        network = model
    try:
        tf.train.Checkpoint(model=network).read(prefix).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        raise ConfigError(
            "init_checkpoint",
            f"{prefix} does not fit this network with --init_scope={scope}: {first_line(error)}",
        ) from None
    return prefix
