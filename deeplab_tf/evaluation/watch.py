"""Sidecar evaluation: each checkpoint of a training run evaluated as it appears, in a separate job.

The official DeepLab code runs evaluation as a second job beside training, and
Keras' `SidecarEvaluator` does the same: the trainer never pauses, and the
evaluation may use settings too slow for it (multi-scale, flip, OS8, the CRF).
`watch` polls a model directory, evaluates every checkpoint it has not
evaluated yet, in step order, and writes per checkpoint:

    eval/metrics_history.jsonl   one JSON object a line: `step`, `checkpoint`,
                                 `time` (UTC), then the checkpoint's `metrics.json`
                                 document (`miou`, `per_class_iou`, `pixel_accuracy`,
                                 `settings`, ...); with the CRF also `with_crf`
    eval/sidecar/                TensorBoard scalars at the checkpoint's step:
                                 `eval/miou`, `eval/pixel_accuracy`,
                                 `eval/per_class_iou/<class>` (and `eval_crf/...`)

The trainer's own evaluation (`eval_steps`) writes `eval/miou` into `train/`,
so TensorBoard pointed at the model directory draws both in one chart, as the
runs `train` and `eval/sidecar`. Another `output_name` than `metrics` gets its
own pair (`<name>_history.jsonl`, `eval/sidecar_<name>/`), so evaluations with
other settings keep separate histories.

**Never a half-written checkpoint.** Only the checkpoints the `checkpoint`
state file lists are read. The trainer's `tf.train.CheckpointManager` writes a
checkpoint's files first (TensorFlow writes each under a temporary name and
renames it), then replaces the state file atomically, and deletes old
checkpoints (its retention, `keep_checkpoints`) only after that. A checkpoint
in the list is therefore complete; one deleted between listing and reading
fails to load, and is skipped with a message instead of stopping the watch.

**Resuming.** A step already in the history is not evaluated again, so a
restarted watcher carries on where it stopped; one restarted with other
settings (another scale, flip, CRF, ...) is refused rather than mixed in. The
history is rewritten atomically after each checkpoint: a kill leaves the
previous version whole.

**Stopping.** After the checkpoint of the final step (`train.train_steps` in
`model_config.json`, read again at every poll, since a resumed run may train
longer), or when no new checkpoint appeared for `timeout` seconds.
"""

import dataclasses
import datetime
import glob
import json
import os
import time

import tensorflow as tf

from deeplab_tf import model_dir as model_dir_lib
from deeplab_tf.errors import DataError, InputError, first_line
from deeplab_tf.files import write_atomically

# The settings keys of a metrics document that differ from one checkpoint (and one mount point) to the next.
PER_CHECKPOINT = ("model_dir", "checkpoint", "step")
FINAL_STEP = "final_step"
TIMEOUT = "timeout"


@dataclasses.dataclass
class WatchOutcome:
    """How a watch ended.

    Attributes:
        reason: `FINAL_STEP` (the final step's checkpoint is evaluated) or
            `TIMEOUT` (no new checkpoint for `timeout` seconds).
        evaluated: steps evaluated by this watch, in order.
        skipped: steps whose checkpoint was deleted before it could be read.
        final_step: the run's `train_steps`, or None when it records none.
        last_step: the newest step in the history, or None.
    """

    reason: str
    evaluated: list
    skipped: list
    final_step: int | None
    last_step: int | None


def output_paths(model_dir, name="metrics"):
    """(history file, TensorBoard log dir) of a watch whose `metrics.json` would be `<name>.json`."""
    eval_dir = os.path.join(model_dir, "eval")
    if name == "metrics":
        return os.path.join(eval_dir, "metrics_history.jsonl"), os.path.join(eval_dir, "sidecar")
    return os.path.join(eval_dir, f"{name}_history.jsonl"), os.path.join(eval_dir, f"sidecar_{name}")


def list_checkpoints(model_dir):
    """[(step, prefix)] of the complete checkpoints the trainer's state file lists, by step.

    The trainer names each checkpoint `ckpt-<step>` (`CheckpointKeeper.save`).
    """
    state = tf.train.get_checkpoint_state(os.path.join(model_dir, model_dir_lib.CHECKPOINT_DIR))
    if state is None:
        return []
    found = {}
    for prefix in state.all_model_checkpoint_paths:
        suffix = prefix.rsplit("-", 1)[-1]
        if suffix.isdigit():
            found[int(suffix)] = prefix
    return sorted(found.items())


def final_step(model_dir):
    """The run's `train_steps` from `model_config.json` (written atomically), or None when it records none."""
    steps = (model_dir_lib.read_model_dir_json(model_dir).get("train") or {}).get("train_steps")
    return int(steps) if steps else None


def read_history(path):
    """The records of a history file, in file order ([] when there is none).

    Raises:
        DataError: a line that is not a JSON object with a `step` (the message names file and line).
    """
    if not os.path.isfile(path):
        return []
    records = []
    with open(path) as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                int(record["step"])
            except (ValueError, TypeError, KeyError):
                raise DataError(f"{path}:{number}: not a history record (a JSON object with a step)") from None
            records.append(record)
    return records


def wait_for(ready, *, interval, timeout, sleep=time.sleep, clock=time.monotonic):
    """Polls `ready()` every `interval` seconds; True once it is, False after `timeout` (0: never give up)."""
    start = clock()
    while not ready():
        if timeout and clock() - start >= timeout:
            return False
        sleep(_pause(interval, timeout, clock() - start))
    return True


def watch(model_dir, evaluate_checkpoint, *, name="metrics", settings=None, interval=60.0, timeout=3600.0,
          on_evaluated=None, on_skipped=None, sleep=time.sleep, clock=time.monotonic):
    """Evaluates each new checkpoint of `model_dir` until the final step's, or until `timeout`.

    Args:
        model_dir: a training run's directory (it may still be training).
        evaluate_checkpoint: `evaluate_checkpoint(step, prefix)` → (metrics,
            crf_metrics): the checkpoint's `metrics_document` and its CRF one
            (or None). A `tf.errors.OpError` it raises for a checkpoint that
            is gone by then skips that checkpoint.
        name: the `metrics.json` name without `.json`; names the outputs (`output_paths`).
        settings: (settings, CRF settings or None) the documents will record,
            without the per-checkpoint `PER_CHECKPOINT` keys; a history
            evaluated otherwise is refused. None: not checked.
        interval: seconds between polls.
        timeout: stop when no new checkpoint appeared for this many seconds (0: never).
        on_evaluated: called with each new history record.
        on_skipped: called as `on_skipped(step, prefix, error)` for a checkpoint deleted before it was read.
        sleep, clock: time, replaceable in tests.

    Returns:
        A `WatchOutcome`.

    Raises:
        DataError: a checkpoint that is there but cannot be read, or a bad history file.
        InputError: the history holds evaluations with other `settings` (the message names one).
    """
    history_path, log_dir = output_paths(model_dir, name)
    os.makedirs(os.path.dirname(history_path), exist_ok=True)
    history = read_history(history_path)
    if settings is not None:
        _check_settings(history_path, history, settings)
    done = {int(record["step"]) for record in history}
    evaluated, skipped = [], []
    writer = None
    last_new = clock()
    try:
        while True:
            final = final_step(model_dir)
            for step, prefix in list_checkpoints(model_dir):
                if step in done:
                    continue
                try:
                    metrics, crf_metrics = evaluate_checkpoint(step, prefix)
                except tf.errors.OpError as error:
                    if _complete(prefix):
                        raise DataError(f"{prefix}: cannot read the checkpoint: {first_line(error)}") from None
                    skipped.append(step)
                    if on_skipped:
                        on_skipped(step, prefix, error)
                else:
                    record = _record(step, prefix, metrics, crf_metrics)
                    history.append(record)
                    write_atomically(history_path, "".join(json.dumps(r) + "\n" for r in history))
                    writer = writer or tf.summary.create_file_writer(log_dir)
                    _write_scalars(writer, step, metrics, crf_metrics)
                    evaluated.append(step)
                    if on_evaluated:
                        on_evaluated(record)
                done.add(step)
                last_new = clock()
            if final is not None and any(step >= final for step in done):
                return _outcome(FINAL_STEP, evaluated, skipped, final, history)
            waited = clock() - last_new
            if timeout and waited >= timeout:
                return _outcome(TIMEOUT, evaluated, skipped, final, history)
            sleep(_pause(interval, timeout, waited))
    finally:
        if writer is not None:
            writer.close()


def _check_settings(history_path, history, settings):
    expected = [None if s is None else _comparable(s) for s in settings]
    for record in history:
        crf = record.get("with_crf")
        found = [_comparable(record.get("settings") or {}), crf and _comparable(crf.get("settings") or {})]
        for mine, theirs in zip(expected, found):
            if mine != theirs:
                raise InputError(f"{history_path}: step {record['step']} was evaluated {_difference(theirs, mine)}; "
                                 "give this watch another --output_name, or remove the file to start again")


def _comparable(settings):
    return {key: value for key, value in settings.items() if key not in PER_CHECKPOINT}


def _difference(theirs, mine):
    if theirs is None or mine is None:
        return "without the CRF, this watch with it" if theirs is None else "with the CRF, this watch without it"
    key = next(k for k in sorted({*theirs, *mine}) if theirs.get(k) != mine.get(k))
    return f"with {key}={theirs.get(key)!r}, this watch with {key}={mine.get(key)!r}"


def _pause(interval, timeout, waited):
    """Seconds to sleep: `interval`, but no later than the timeout."""
    return interval if not timeout else max(0.0, min(interval, timeout - waited))


def _record(step, prefix, metrics, crf_metrics):
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    record = {"step": int(step), "checkpoint": prefix, "time": now, **metrics}
    if crf_metrics is not None:
        record["with_crf"] = {k: v for k, v in crf_metrics.items() if k != "class_names"}
    return record


def _write_scalars(writer, step, metrics, crf_metrics):
    with writer.as_default(step=int(step)):
        for prefix, document in (("eval", metrics), ("eval_crf", crf_metrics)):
            if document is None:
                continue
            tf.summary.scalar(f"{prefix}/miou", document["miou"])
            tf.summary.scalar(f"{prefix}/pixel_accuracy", document["pixel_accuracy"])
            for class_name, iou in zip(document["class_names"], document["per_class_iou"]):
                if iou is not None:  # a class absent from labels and predictions
                    tf.summary.scalar(f"{prefix}/per_class_iou/{class_name}", iou)
    writer.flush()


def _complete(prefix):
    """Whether a checkpoint's index and data files are all still there."""
    return tf.io.gfile.exists(prefix + ".index") and bool(glob.glob(glob.escape(prefix) + ".data-*"))


def _outcome(reason, evaluated, skipped, final, history):
    last = max((int(record["step"]) for record in history), default=None)
    return WatchOutcome(reason=reason, evaluated=evaluated, skipped=skipped, final_step=final, last_step=last)
