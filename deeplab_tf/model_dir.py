"""What a training run leaves in its model directory, and loading a model back from it.

A model directory holds:
    model_config.json     the `ModelConfig` (plus `dataset` facts under "dataset")
    checkpoints/          `tf.train.Checkpoint`s with the network under the key `model`
                          (the trainer adds `optimizer`, `step`, ...), kept by a
                          `tf.train.CheckpointManager`
    train/, eval/         TensorBoard logs and evaluation outputs
    .chief_token          multi-worker runs: a token the chief writes and every worker
                          must read back before the first step (the directory is shared)
"""

import json
import os

import keras
import tensorflow as tf

from deeplab_tf.config import ModelConfig
from deeplab_tf.errors import InputError
from deeplab_tf.files import atomic_path, write_atomically
from deeplab_tf.models import build_model

CONFIG_FILE = "model_config.json"
CHECKPOINT_DIR = "checkpoints"
MODEL_FILE = "model.keras"


def save_model_config(model_dir, config, **extra):
    """Writes `model_config.json` atomically; `extra` keys are stored beside the config."""
    os.makedirs(model_dir, exist_ok=True)
    path = os.path.join(model_dir, CONFIG_FILE)
    write_atomically(path, json.dumps({"model": config.to_dict(), **extra}, indent=2, sort_keys=True))


def save_model_dir(model, model_dir, dataset=None):
    """Makes a model directory of a trained network (e.g. by `model.fit`), for the tools that read one.

    Writes `model_config.json` (with the `dataset` facts, so `tools.evaluate`
    knows what to score), a checkpoint in `checkpoints/` and `model.keras`:
    the tools that read a model directory (`tools.evaluate`, `tools.export`)
    then take `--model_dir=model_dir`. The weights are saved as float32,
    whatever the policy the network trained under, and without the optimiser:
    it is not a run `tools.train` resumes.

    Args:
        model: a network from `build_model` (or `load_model`).
        model_dir: the directory (made if missing).
        dataset: None, a `(name, dataset_dir)` pair, or a dict of facts with
            at least "name" and "dataset_dir" (what `tools.evaluate` reads when
            not given `--dataset`).

    Returns:
        the checkpoint's path prefix.

    Example:
    ```python
    model.fit(dataset, steps_per_epoch=100, epochs=10)
    deeplab_tf.save_model_dir(model, "runs/fit", dataset=("voc2012", "data/voc"))
    # python -m tools.evaluate --model_dir=runs/fit
    ```
    """
    from deeplab_tf.models import rebuild

    if not hasattr(model, "model_config"):
        raise InputError(f"model: expected a network from deeplab_tf.build_model, got {type(model).__name__}")
    if isinstance(dataset, (tuple, list)):
        name, directory = dataset
        dataset = {"name": name, "dataset_dir": os.path.abspath(directory)}
    extra = {"dataset": dict(dataset)} if dataset else {}
    copy = rebuild(model, dtype_policy="float32")  # float32, and without the optimizer `compile` gave it
    save_model_config(model_dir, model.model_config, **extra)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=copy), os.path.join(model_dir, CHECKPOINT_DIR),
                                         max_to_keep=1)
    path = manager.save()
    save_keras_file(copy, model_dir)
    return path


def save_keras_file(model, model_dir):
    """Writes `model` as `model_dir/model.keras` (safe-mode loadable), atomically; returns its path."""
    path = os.path.join(model_dir, MODEL_FILE)
    with atomic_path(path, suffix=".keras") as temporary:
        model.save(temporary)
    return path


def read_model_dir_json(model_dir):
    """The whole `model_config.json` of a model directory, as a dict."""
    path = os.path.join(model_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise InputError(f"model_dir: {model_dir} has no {CONFIG_FILE}; is it a training run's directory?")
    try:
        with open(path) as file:
            return json.load(file)
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"model_dir: cannot read {path}: {error}") from None


def load_model_config(model_dir):
    return ModelConfig.from_dict(read_model_dir_json(model_dir)["model"])


def latest_checkpoint(model_dir):
    """Path prefix of the newest complete checkpoint, or None."""
    return tf.train.latest_checkpoint(os.path.join(model_dir, CHECKPOINT_DIR))


# Where the trainer's checkpoint (`step=` in `CheckpointKeeper`) keeps its step counter.
_STEP_KEY = "step/.ATTRIBUTES/VARIABLE_VALUE"


def checkpoint_step(checkpoint):
    """The trainer's step counter saved in the checkpoint prefix `checkpoint`, or None when it holds none."""
    if _STEP_KEY not in dict(tf.train.list_variables(checkpoint)):
        return None
    return int(tf.train.load_variable(checkpoint, _STEP_KEY))


def load_model(path, output_stride=None, fold_batch_norm=False, dtype_policy=None, checkpoint=None):
    """A trained model from a model directory or a `.keras` file.

    Args:
        path: a model directory written by the trainer, or a `.keras` file.
        output_stride: run the network at another output stride than it was
            trained at (ASPP rates follow; the weights are the same).
        fold_batch_norm: return the inference form, each BatchNormalization
            folded into its convolution (`deeplab_tf.fold_batch_norms`): the
            same outputs, faster, not trainable.
        dtype_policy: run the network under this Keras policy, e.g.
            "mixed_bfloat16" (float32 weights, bfloat16 computation).
        checkpoint: with a model directory, the checkpoint prefix to read
            (e.g. `<model_dir>/checkpoints/ckpt-500`) instead of the newest.
    """
    model = _load(path, output_stride, checkpoint)
    if dtype_policy and dtype_policy != model.dtype_policy.name:
        from deeplab_tf.models import rebuild

        model = rebuild(model, dtype_policy=dtype_policy)
    if fold_batch_norm and not model.fold_batch_norm:
        from deeplab_tf.batch_norm_folding import fold_batch_norms

        model = fold_batch_norms(model)
    return model


def _load(path, output_stride, checkpoint=None):
    if str(path).endswith(".keras"):
        if not os.path.isfile(path):
            raise InputError(f"model: no such file: {path}")
        model = keras.models.load_model(path, safe_mode=True)
        if output_stride and output_stride != model.model_config.output_stride:
            from deeplab_tf.models import rebuild

            model = rebuild(model, output_stride=output_stride)
        return model
    config = load_model_config(path)
    if output_stride:
        config = config.with_output_stride(output_stride)
    checkpoint = checkpoint or latest_checkpoint(path)
    if checkpoint is None:
        raise InputError(f"model_dir: {path} has no checkpoint in {CHECKPOINT_DIR}/ yet")
    model = build_model(config)
    tf.train.Checkpoint(model=model).restore(checkpoint).expect_partial().assert_existing_objects_matched()
    return model
