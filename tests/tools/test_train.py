"""tools.train end to end, in subprocesses: bad flags, kill -9 and resume, MirroredStrategy, two workers."""

import json
import os
import re
import signal
import socket
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.tool_runner import REPO, run_tool, run_tools, tool_command, tool_env

TINY = ["--backbone=resnet18", "--crop_size=64", "--batch_size=4", "--seed=5", "--image_summary_steps=0",
        "--novalidate_dataset", "--progress=log", "--log_seconds=0", "--steps_per_loop=1"]
V3 = ["--model_variant=v3", "--multi_grid=1,2"]
# v2 has no dropout, so one device and two replicas draw nothing random that could differ.
V2 = ["--model_variant=v2", "--output_stride=8", "--multi_grid=1,1"]
STEP_LINE = re.compile(r"^step\s+(\d+)/(\d+)\s", re.MULTILINE)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    from deeplab_tf.data import synthetic

    directory = str(tmp_path_factory.mktemp("synthetic"))
    synthetic.generate_dataset(directory, num_train=12, num_val=2, image_size=64, seed=0, log_every=0)
    return directory


def _command(*flags):
    return tool_command("train", *flags)


def _run(*flags, timeout=300, **env):
    return run_tool("train", *flags, timeout=timeout, env=tool_env(**env))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BAD_FLAGS = [
    (["--batch_size=3", "--strategy=mirrored", "--cpu_logical_devices=2"], "--batch_size"),
    (["--model_variant=v2", "--output_stride=8", "--atrous_rates=6,12,18"], "--atrous_rates"),
    (["--dataset=imagenet"], "--dataset"),
    (["--crop_size=64,x"], "--crop_size"),
    (["--eval_steps=-1"], "--eval_steps"),
    (["--eval_max_images=-1"], "--eval_max_images"),
]


@pytest.fixture(scope="module")
def refused(dataset_dir, tmp_path_factory):
    """(CompletedProcess, its model_dir) for each of BAD_FLAGS, run in one process: one TF import, not six."""
    model_dirs = [tmp_path_factory.mktemp("refused") / "run" for _ in BAD_FLAGS]
    results = run_tools([("train", ["--dataset=synthetic", f"--dataset_dir={dataset_dir}", f"--model_dir={model_dir}",
                                    "--backbone=resnet18", "--multi_grid=1,2", *flags])
                         for model_dir, (flags, _) in zip(model_dirs, BAD_FLAGS)], timeout=300)
    return list(zip(results, model_dirs))


@pytest.mark.parametrize("index", range(len(BAD_FLAGS)), ids=[flag for _, flag in BAD_FLAGS])
def test_bad_flags_fail_at_start_in_one_line_naming_the_flag(refused, index):
    (result, model_dir), flag = refused[index], BAD_FLAGS[index][1]
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("train: error:") and flag in last, last
    assert not os.path.exists(model_dir / "checkpoints")


def test_kill_9_mid_run_then_the_same_command_resumes_and_finishes(dataset_dir, tmp_path):
    model_dir = str(tmp_path / "run")
    command = _command("--dataset=synthetic", f"--dataset_dir={dataset_dir}", f"--model_dir={model_dir}",
                       *TINY, *V3, "--train_steps=10", "--checkpoint_steps=2")
    process = subprocess.Popen(command, cwd=REPO, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    seen = []
    deadline = time.monotonic() + 300
    try:
        for line in process.stdout:
            seen.append(line)
            if "ckpt-4" in line or time.monotonic() > deadline:
                break
    finally:
        process.send_signal(signal.SIGKILL)  # kill -9: no chance to clean up
        process.wait(timeout=60)
    assert any("ckpt-4" in line for line in seen), "".join(seen)

    saved = int(tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints")).rsplit("-", 1)[1])
    assert saved >= 4

    result = subprocess.run(command, cwd=REPO, env=tool_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"resuming from step {saved}" in result.stdout
    steps = [int(step) for step, _ in STEP_LINE.findall(result.stdout)]
    assert steps and steps[0] == saved + 1 and steps[-1] == 10, result.stdout
    assert result.stdout.strip().splitlines()[-1] == "finished at step 10"
    assert os.path.isfile(os.path.join(model_dir, "model.keras"))


def _scalars(model_dir, tag):
    found = {}
    for name in sorted(os.listdir(os.path.join(model_dir, "train"))):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(model_dir, "train", name)):
            for value in event.summary.value:
                if value.tag == tag:
                    found[event.step] = float(tf.make_ndarray(value.tensor))
    return found


def test_eval_steps_writes_val_miou_keeps_the_best_and_tools_evaluate_reproduces_it(dataset_dir, tmp_path):
    model_dir = str(tmp_path / "run")
    # Every 2 steps and at the last (5), on the first 2 val images.
    result = _run("--dataset=synthetic", f"--dataset_dir={dataset_dir}", f"--model_dir={model_dir}", *TINY, *V3,
                  "--train_steps=5", "--eval_steps=2", "--eval_max_images=2", "--eval_split=val",
                  "--optimizer=adam", "--base_learning_rate=0.01")
    assert result.returncode == 0, result.stdout + result.stderr
    miou = _scalars(model_dir, "eval/miou")
    assert sorted(miou) == [2, 4, 5], miou
    assert all(0.0 <= value <= 1.0 for value in miou.values())
    assert len(re.findall(r"^step \d+: val mIoU \d\.\d{4} on 2 val images", result.stdout, re.MULTILINE)) == 3
    assert re.search(r"val mIoU \d\.\d{3}", "".join(line for line in result.stdout.splitlines()
                                                    if line.startswith("step 5/5"))), result.stdout

    best_dir = os.path.join(model_dir, "best")
    with open(os.path.join(best_dir, "eval.json")) as file:
        record = json.load(file)
    assert set(record) == {"step", "miou", "per_class_iou", "num_images", "eval_split"}
    assert record["miou"] == pytest.approx(max(miou.values()), abs=1e-6)
    assert miou[record["step"]] == pytest.approx(record["miou"], abs=1e-6)
    assert (record["num_images"], record["eval_split"], len(record["per_class_iou"])) == (2, "val", 6)
    checkpoints = [name for name in os.listdir(os.path.join(best_dir, "checkpoints")) if name.endswith(".index")]
    assert checkpoints == [f"ckpt-{record['step']}.index"]
    assert f"best val mIoU {record['miou']:.4f} at step {record['step']}" in result.stdout

    # best/ is a model directory: tools.evaluate scores its checkpoint to the same mIoU.
    evaluated = run_tool("evaluate", f"--model_dir={best_dir}", "--max_images=2", "--eval_split=val")
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    with open(os.path.join(best_dir, "eval", "metrics.json")) as file:
        metrics = json.load(file)
    assert metrics["miou"] == pytest.approx(record["miou"], abs=1e-6)
    assert metrics["settings"]["step"] == record["step"]

    # Resumed, a worse evaluation does not replace the best: here every later one is ranked against eval.json.
    record["miou"] = 2.0  # no evaluation can beat it
    with open(os.path.join(best_dir, "eval.json"), "w") as file:
        json.dump(record, file)
    again = _run("--dataset=synthetic", f"--dataset_dir={dataset_dir}", f"--model_dir={model_dir}", *TINY, *V3,
                 "--train_steps=6", "--eval_steps=2", "--eval_max_images=2", "--optimizer=adam",
                 "--base_learning_rate=0.01")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "best 2.0000 at step" in again.stdout
    with open(os.path.join(best_dir, "eval.json")) as file:
        assert json.load(file)["miou"] == 2.0
    assert os.listdir(os.path.join(best_dir, "checkpoints")).count(f"ckpt-{record['step']}.index") == 1


def _scalar(model_dir, tag, step):
    for name in sorted(os.listdir(os.path.join(model_dir, "train"))):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(model_dir, "train", name)):
            for value in event.summary.value:
                if value.tag == tag and event.step == step:
                    return float(tf.make_ndarray(value.tensor))
    raise AssertionError(f"no {tag} at step {step} in {model_dir}")


def test_two_cpu_replicas_match_one_device_on_the_first_step(dataset_dir, tmp_path):
    common = ["--dataset=synthetic", f"--dataset_dir={dataset_dir}", *TINY, *V2, "--train_steps=1",
              "--sync_batch_norm", "--summary_steps=1"]
    one = _run(*common, f"--model_dir={tmp_path / 'one'}", "--strategy=default")
    assert one.returncode == 0, one.stdout + one.stderr
    two = _run(*common, f"--model_dir={tmp_path / 'two'}", "--strategy=mirrored", "--cpu_logical_devices=2")
    assert two.returncode == 0, two.stdout + two.stderr
    assert "MirroredStrategy, 2 replicas" in two.stdout and "2 per replica" in two.stdout

    loss_one, loss_two = (_scalar(str(tmp_path / name), "loss/total", 1) for name in ("one", "two"))
    assert loss_two == pytest.approx(loss_one, rel=1e-5)

    # The first update: the momentum slots hold -lr·gradient of every variable.
    readers = [tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path / name / "checkpoints")))
               for name in ("one", "two")]
    names = [name for name in readers[0].get_variable_to_shape_map() if "OBJECT_GRAPH" not in name]
    slots = [name for name in names if name.startswith("optimizer/_variables/")]
    assert len(slots) > 40
    # One device and two replicas sum in different float32 orders. Where a unit's pre-activation
    # lies within that round-off of ReLU's kink, it is on in one run and off in the other, and
    # the gradients through it differ outright; so a few entries of a tensor may. A replica
    # counted twice or left out would move most of them.
    for name in names:
        a, b = readers[0].get_tensor(name), readers[1].get_tensor(name)
        scale = np.max(np.abs(a)) if np.ndim(a) else abs(a)
        outside = np.abs(b - a) > 1e-2 * scale + 1e-12
        assert np.mean(outside) < 5e-3, f"{name}: {np.sum(outside)} of {np.size(a)} entries differ"


def test_two_workers_on_localhost_complete_a_few_steps(dataset_dir, tmp_path):
    model_dir = str(tmp_path / "run")
    workers = [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]
    command = _command("--dataset=synthetic", f"--dataset_dir={dataset_dir}", f"--model_dir={model_dir}",
                       *TINY, *V2, "--train_steps=3", "--checkpoint_steps=2", "--strategy=multi_worker",
                       "--eval_steps=2", "--validate_dataset", "--class_weights=median_frequency",
                       "--verbosity=0")  # INFO: the pipelines' shares
    processes = []
    for index in range(2):
        config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        processes.append(subprocess.Popen(command, cwd=REPO, env=tool_env(TF_CONFIG=config), stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=400)[0])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output
        assert "2 replicas" in output and "finished at step 3" in output
    # Only the chief checks the split before training; the other shares its data, and its answer.
    assert "validated synthetic split 'train': 12 examples" in outputs[0]
    assert "validated synthetic split" not in outputs[1], outputs[1]
    weights = [re.findall(r"^median-frequency class weights: .*$", output, re.MULTILINE) for output in outputs]
    assert len(weights[0]) == 1 and weights[0] == weights[1], weights  # the chief's, on both
    # Each worker's input pipeline decodes its own half of the 12 training images, and only that.
    for index, output in enumerate(outputs):
        assert f"input pipeline {index} of 2 reads 6 of the 12 examples" in output, output
    assert tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints")).endswith("ckpt-3")
    assert not [name for name in os.listdir(model_dir) if "scratch" in name]  # the worker's copies are gone
    # Only the chief evaluated (steps 2 and 3); the other worker waited for it and heard its result.
    assert sorted(_scalars(model_dir, "eval/miou")) == [2, 3]
    assert "on 2 val images" in outputs[0] and "on 2 val images" not in outputs[1]
    assert len(re.findall(r"^step \d+: val mIoU", outputs[1], re.MULTILINE)) == 2, outputs[1]
    assert len([n for n in os.listdir(os.path.join(model_dir, "best", "checkpoints")) if n.endswith(".index")]) == 1
