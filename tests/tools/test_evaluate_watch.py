"""tools.evaluate --watch: a sidecar evaluator beside a training run, its history, resuming and stopping."""

import glob
import json
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf import model_dir
from deeplab_tf.config import ModelConfig
from deeplab_tf.errors import DataError, InputError
from deeplab_tf.evaluation import EvaluationResult, metrics_document, watch
from deeplab_tf.training import CheckpointKeeper
from tests.tool_runner import REPO, run_tool, run_tools, tool_command, tool_env

TINY = ["--backbone=resnet18", "--crop_size=64", "--batch_size=4", "--seed=5", "--image_summary_steps=0",
        "--novalidate_dataset", "--progress=log", "--log_seconds=0", "--steps_per_loop=1",
        "--model_variant=v3", "--multi_grid=1,2"]
CLASS_NAMES = ["background", "disc", "square"]


def _scalars(log_dir, tag):
    """{step: value} of a scalar tag in every event file of `log_dir`."""
    found = {}
    for path in sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    found[event.step] = float(tf.make_ndarray(value.tensor))
    return found


def _history(directory):
    with open(os.path.join(directory, "eval", "metrics_history.jsonl")) as file:
        return [json.loads(line) for line in file]


def test_watching_while_training_scores_every_checkpoint_as_evaluate_does_resumes_and_times_out(tmp_path):
    from deeplab_tf.data import synthetic

    data = str(tmp_path / "data")
    synthetic.generate_dataset(data, num_train=8, num_val=2, image_size=64, seed=0, log_every=0)
    directory = str(tmp_path / "run")
    # Started together, as two pods would be: the watcher waits for the trainer's model_config.json.
    trainer = subprocess.Popen(
        tool_command("train", "--dataset=synthetic", f"--dataset_dir={data}", f"--model_dir={directory}", *TINY,
                     "--train_steps=3", "--checkpoint_steps=1", "--eval_steps=1", "--eval_split=val",
                     "--optimizer=adam", "--base_learning_rate=0.01"),
        cwd=REPO, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watcher = subprocess.Popen(
        tool_command("evaluate", f"--model_dir={directory}", "--watch", "--watch_interval=0.2",
                     "--watch_timeout=120"),
        cwd=REPO, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        trained, _ = trainer.communicate(timeout=300)
        watched, _ = watcher.communicate(timeout=300)
    finally:
        for process in (trainer, watcher):
            if process.poll() is None:
                process.kill()
    assert trainer.returncode == 0, trained
    assert watcher.returncode == 0, watched
    assert "watch: done: the final step's checkpoint (step 3) is evaluated" in watched, watched

    history = _history(directory)
    assert [record["step"] for record in history] == [1, 2, 3]
    assert [os.path.basename(record["checkpoint"]) for record in history] == ["ckpt-1", "ckpt-2", "ckpt-3"]
    for record in history:
        assert f"step {record['step']}: mIoU {record['miou']:.4f}" in watched
        assert record["settings"]["step"] == record["step"] and record["settings"]["eval_scales"] == [1.0]
        assert record["time"].endswith("+00:00")
    # The trainer's own evaluation of the same weights at the same steps (single scale, val split).
    in_process = _scalars(os.path.join(directory, "train"), "eval/miou")
    assert sorted(in_process) == [1, 2, 3]
    for record in history:
        assert record["miou"] == pytest.approx(in_process[record["step"]], abs=1e-6)

    # A plain evaluation of the newest checkpoint gives the last line's numbers and settings. Then the
    # watcher, restarted on the run told it will train 10 steps, evaluates nothing again and times out.
    # Plain evaluation reads neither train_steps nor the history, so the config is rewritten first and
    # both run one after the other in one process (one TensorFlow import, not two).
    config_file = os.path.join(directory, model_dir.CONFIG_FILE)
    with open(config_file) as file:
        record = json.load(file)
    record["train"]["train_steps"] = 10
    with open(config_file, "w") as file:
        json.dump(record, file)
    before = open(os.path.join(directory, "eval", "metrics_history.jsonl")).read()
    plain, again = run_tools([
        ("evaluate", [f"--model_dir={directory}"]),
        ("evaluate", [f"--model_dir={directory}", "--watch", "--watch_interval=0.1", "--watch_timeout=1"]),
    ])
    assert plain.returncode == 0, plain.stderr
    with open(os.path.join(directory, "eval", "metrics.json")) as file:
        metrics = json.load(file)
    assert metrics["miou"] == pytest.approx(history[-1]["miou"], abs=1e-6)
    assert metrics["confusion_matrix"] == history[-1]["confusion_matrix"]
    assert metrics["settings"] == history[-1]["settings"]

    log_dir = os.path.join(directory, "eval", "sidecar")
    sidecar = _scalars(log_dir, "eval/miou")
    assert sidecar == pytest.approx({record["step"]: record["miou"] for record in history})
    assert _scalars(log_dir, "eval/per_class_iou/background") == pytest.approx(
        {record["step"]: record["per_class_iou"][0] for record in history})
    assert sorted(_scalars(log_dir, "eval/pixel_accuracy")) == [1, 2, 3]

    # The restarted watcher.
    assert again.returncode == 3, again.stdout + again.stderr
    assert "3 already in" in again.stdout, again.stdout
    last = again.stderr.strip().splitlines()[-1]
    assert last.startswith("watch: stopped: no new checkpoint within --watch_timeout=1 s"), last
    assert "newest evaluated step 3, final step 10); 0 evaluated, 0 skipped" in last
    assert open(os.path.join(directory, "eval", "metrics_history.jsonl")).read() == before


def _save_config(directory, train_steps):
    model_dir.save_model_config(directory, ModelConfig(backbone="resnet18", num_classes=3),
                                train={"train_steps": train_steps})


@pytest.fixture
def fake_run(tmp_path):
    """A model directory whose run trains 6 steps, with a `CheckpointKeeper` that saves only a step counter."""
    directory = str(tmp_path / "run")
    _save_config(directory, 6)
    step = tf.Variable(0, dtype=tf.int64)
    keeper = CheckpointKeeper(directory, keep=5, step=step)

    def save(at):
        step.assign(at)
        return keeper.save(at)

    return directory, save


def _document(step):
    """A real metrics document whose mIoU grows with `step`."""
    confusion = np.array([[10, 0, 0], [step, 10, 0], [0, 0, 0]], np.int64)
    result = EvaluationResult(confusion=confusion, crf_confusion=None, num_images=1, timing={}, samples=[])
    return metrics_document(result, CLASS_NAMES, {"step": step})


def _evaluator(read, deleted_before_reading=()):
    """`evaluate_checkpoint` reading the checkpoint's step; retention deletes those named first."""

    def evaluate_checkpoint(step, prefix):
        if step in deleted_before_reading:
            for path in glob.glob(glob.escape(prefix) + ".*"):
                os.remove(path)
        saved = model_dir.checkpoint_step(prefix)
        read.append(saved)
        return _document(saved), None

    return evaluate_checkpoint


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_a_deleted_checkpoint_is_skipped_timeout_stops_and_a_restart_resumes(fake_run):
    directory, save = fake_run
    for at in (2, 4):
        save(at)
    read, skipped, clock = [], [], _Clock()
    outcome = watch.watch(directory, _evaluator(read, deleted_before_reading={2}), interval=1.0, timeout=5.0,
                          on_skipped=lambda step, prefix, error: skipped.append(step),
                          sleep=clock.sleep, clock=clock)
    assert outcome.reason == watch.TIMEOUT and (outcome.final_step, outcome.last_step) == (6, 4)
    assert outcome.evaluated == [4] and outcome.skipped == [2] == skipped and read == [4]
    assert clock.now == pytest.approx(5.0)  # stopped at the timeout, not an interval later
    assert [record["step"] for record in _history(directory)] == [4]

    # Restarted with nothing new: nothing evaluated again; with other settings, refused.
    outcome = watch.watch(directory, _evaluator(read), settings=({"model_dir": "/elsewhere"}, None), interval=1.0,
                          timeout=2.0, sleep=clock.sleep, clock=clock)
    assert outcome.reason == watch.TIMEOUT and outcome.evaluated == [] and read == [4]
    with pytest.raises(InputError, match=r"step 4 was evaluated with flip=None, this watch with flip=True"):
        watch.watch(directory, _evaluator(read), settings=({"flip": True}, None), timeout=1.0)
    with pytest.raises(InputError, match=r"step 4 was evaluated without the CRF, this watch with it"):
        watch.watch(directory, _evaluator(read), settings=({}, {"crf_iterations": 10}), timeout=1.0)

    # The trainer writes the final step's checkpoint: it alone is evaluated, and the watch ends there.
    save(6)
    outcome = watch.watch(directory, _evaluator(read), interval=1.0, timeout=0, sleep=clock.sleep, clock=clock)
    assert outcome.reason == watch.FINAL_STEP and outcome.evaluated == [6] and read == [4, 6]
    history = _history(directory)
    assert [(r["step"], os.path.basename(r["checkpoint"])) for r in history] == [(4, "ckpt-4"), (6, "ckpt-6")]
    assert [r["miou"] for r in history] == [_document(4)["miou"], _document(6)["miou"]]
    log_dir = os.path.join(directory, "eval", "sidecar")
    assert _scalars(log_dir, "eval/miou") == pytest.approx({4: history[0]["miou"], 6: history[1]["miou"]})
    assert sorted(_scalars(log_dir, "eval/per_class_iou/disc")) == [4, 6]
    assert _scalars(log_dir, "eval/per_class_iou/square") == {}  # absent from labels and predictions

    # Waiting for the trainer's first file gives up at the timeout, and not before.
    started = clock.now
    assert not watch.wait_for(lambda: False, interval=2.0, timeout=5.0, sleep=clock.sleep, clock=clock)
    assert clock.now - started == pytest.approx(5.0)
    assert watch.wait_for(lambda: clock.now - started > 6.5, interval=1.0, timeout=0, sleep=clock.sleep, clock=clock)

    # A checkpoint that is there but unreadable is an error naming it, not a skip.
    save(8)
    with open(os.path.join(directory, model_dir.CHECKPOINT_DIR, "ckpt-8.index"), "wb") as file:
        file.write(b"not a checkpoint index")
    _save_config(directory, 8)
    with pytest.raises(DataError, match="ckpt-8: cannot read the checkpoint"):
        watch.watch(directory, _evaluator(read), interval=1.0, timeout=1.0, sleep=clock.sleep, clock=clock)


def test_with_the_crf_a_record_holds_both_and_tensorboard_gets_eval_crf(fake_run):
    directory, save = fake_run
    save(6)
    confusion = np.array([[10, 0, 0], [6, 10, 0], [0, 0, 0]], np.int64)
    crf_confusion = np.array([[10, 0, 0], [1, 15, 0], [0, 0, 0]], np.int64)
    result = EvaluationResult(confusion=confusion, crf_confusion=crf_confusion, num_images=1, timing={}, samples=[])
    crf_settings = {"crf_params": {"iterations": 10}}
    documents = (metrics_document(result, CLASS_NAMES, {}),
                 metrics_document(result, CLASS_NAMES, crf_settings, crf=True))
    watch.watch(directory, lambda step, prefix: documents, name="metrics_crf_run", settings=({}, crf_settings),
                timeout=0)
    history_path, log_dir = watch.output_paths(directory, "metrics_crf_run")
    assert history_path.endswith(os.path.join("eval", "metrics_crf_run_history.jsonl"))
    [record] = watch.read_history(history_path)
    assert record["miou"] == documents[0]["miou"] < record["with_crf"]["miou"] == documents[1]["miou"]
    assert record["with_crf"]["settings"] == crf_settings
    assert _scalars(log_dir, "eval_crf/miou") == pytest.approx({6: documents[1]["miou"]})
    assert _scalars(log_dir, "eval/miou") == pytest.approx({6: documents[0]["miou"]})
    with pytest.raises(InputError, match="step 6 was evaluated with the CRF, this watch without it"):
        watch.watch(directory, lambda step, prefix: documents, name="metrics_crf_run", settings=({}, None))


def test_a_history_line_that_is_no_record_is_named_by_file_and_line(tmp_path):
    path = tmp_path / "metrics_history.jsonl"
    path.write_text('{"step": 2, "miou": 0.5}\n\n[1, 2]\n')
    with pytest.raises(DataError, match=rf"{path}:3: not a history record"):
        watch.read_history(str(path))
    path.write_text('{"step": 2, "miou": 0.5}\n')
    assert watch.read_history(str(path)) == [{"step": 2, "miou": 0.5}]


def test_watch_refuses_a_saved_model_in_one_line(tmp_path):
    export = str(tmp_path / "export")
    module = tf.Module()
    module.scale = tf.Variable(2.0)
    tf.saved_model.save(module, export)
    result = run_tool("evaluate", f"--model_dir={export}", "--watch")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("evaluate: error: --watch:") and "exported SavedModel" in last and export in last
