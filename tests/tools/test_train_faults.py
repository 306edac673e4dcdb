"""tools.train when the cluster misbehaves: unshared model directories, SIGTERM (preemption), a worker killed.

Workers are subprocesses on 127.0.0.1, as test_train.py runs them; each test
waits for the progress line it needs rather than for a fixed time.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest
import tensorflow as tf

import deeplab_tf
from deeplab_tf.errors import ConfigError
from deeplab_tf.training import Callbacks, PreemptedError, TrainConfig, cluster, make_strategy, train
from tests.tool_runner import REPO, tool_command, tool_env
from tests.tools.test_train import STEP_LINE, TINY, V2, _free_port

EXIT_PEER_LOST, EXIT_PREEMPTED = 3, 42  # tools/train.py's, restated: the exit statuses are the contract
WAIT = 300  # seconds any one phase may take on a loaded 2-core machine


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    from deeplab_tf.data import synthetic

    directory = str(tmp_path_factory.mktemp("synthetic"))
    synthetic.generate_dataset(directory, num_train=12, num_val=2, image_size=64, seed=0, log_every=0)
    return directory


class _Run:
    """One `tools.train` process; its output lines are collected as they come (stdout and stderr apart)."""

    def __init__(self, flags, **env):
        self.process = subprocess.Popen(tool_command("train", *flags), cwd=REPO, env=tool_env(**env),
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stdout, self.stderr = [], []
        self._readers = [threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                         for stream, lines in ((self.process.stdout, self.stdout), (self.process.stderr, self.stderr))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, lines):
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_for(self, pattern, timeout=WAIT):
        """The first stdout line matching `pattern`; fails if the process ends or `timeout` passes first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in list(self.stdout) if re.search(pattern, line)]
            if found:
                return found[0]
            if self.process.poll() is not None:
                time.sleep(0.5)  # the last lines may still be in the pipe
                found = [line for line in list(self.stdout) if re.search(pattern, line)]
                if found:
                    return found[0]
                break
            time.sleep(0.2)
        raise AssertionError(f"no line matching {pattern!r}:\n{self.output()}")

    def finish(self, timeout=WAIT):
        """The exit status, once the process has ended and its output is read."""
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"still running after {timeout} s:\n{self.output()}") from None
        for reader in self._readers:
            reader.join(timeout=30)
        return status

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=60)

    def steps(self):
        return [int(step) for step, _ in STEP_LINE.findall("\n".join(self.stdout))]

    def output(self):
        return "\n".join(self.stdout) + "\n--- stderr\n" + "\n".join(self.stderr[-30:])


def _flags(dataset_dir, model_dir, *extra):
    return ["--dataset=synthetic", f"--dataset_dir={dataset_dir}", f"--model_dir={model_dir}", *TINY, *V2,
            "--summary_steps=1000", *extra]


def _cluster(dataset_dir, model_dirs, *extra):
    """Starts one worker per model directory (the same directory twice: a shared one)."""
    workers = [f"127.0.0.1:{_free_port()}" for _ in model_dirs]
    runs = []
    for index, model_dir in enumerate(model_dirs):
        config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        runs.append(_Run(_flags(dataset_dir, model_dir, "--strategy=multi_worker", *extra), TF_CONFIG=config))
    return runs, workers


def _latest_step(model_dir):
    latest = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    return int(latest.rsplit("-", 1)[1]) if latest else None


def _assert_all_stop_before_the_first_step(runs):
    """Every worker exits 2 (bad flags or data) with a one-line error, no traceback, before any step."""
    try:
        statuses = [run.finish() for run in runs]
    finally:
        for run in runs:
            run.kill()
    for run, status in zip(runs, statuses):
        assert status == 2, run.output()
        assert not any("Traceback" in line for line in run.stderr), run.output()
        assert not run.steps(), run.output()


def test_workers_with_their_own_model_dir_stop_before_the_first_step_naming_who_cannot_see_the_chief(
        dataset_dir, tmp_path):
    runs, workers = _cluster(dataset_dir, [str(tmp_path / "a"), str(tmp_path / "b")], "--train_steps=3")
    _assert_all_stop_before_the_first_step(runs)
    for run in runs:
        last = run.stderr[-1]
        assert last.startswith("train: error: --model_dir:") and "must be one directory every worker shares" in last
        assert f"worker 1 ({workers[1]}) could not see" in last, last
    assert f"{tmp_path / 'b'}/{cluster.TOKEN_FILE}" in runs[1].stderr[-1]  # the file it looked for
    assert _latest_step(str(tmp_path / "a")) is None


def test_a_bad_example_found_by_the_chief_stops_every_worker_before_the_first_step(dataset_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(dataset_dir, data)
    broken = data / "JPEGImages" / "train_00003.jpg"
    broken.write_bytes(broken.read_bytes()[:100])  # a truncated JPEG
    runs, _ = _cluster(str(data), [str(tmp_path / "run")] * 2, "--train_steps=3", "--validate_dataset")
    _assert_all_stop_before_the_first_step(runs)
    assert "train_00003" in runs[0].stderr[-1], runs[0].output()  # the chief read the split and names the file
    assert "unusable examples (the chief's output names them)" in runs[1].stderr[-1], runs[1].output()


class _SigtermAt(Callbacks):
    """Sends this process SIGTERM when the trainer reports step `at` (or its first step, with None)."""

    def __init__(self, at=None):
        self.at, self.steps, self.resumed = at, [], None

    def on_resume(self, step, checkpoint):
        self.resumed = step

    def on_progress(self, progress):
        self.steps.append(progress.step)
        if progress.step == (self.at if self.at is not None else self.steps[0]):
            signal.raise_signal(signal.SIGTERM)


def test_sigterm_in_one_process_saves_the_current_step_and_a_rerun_resumes_after_it(dataset_dir, tmp_path):
    # In process, to spare two tool start-ups; the tool's exit status is the two-worker test's.
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers need the main thread")  # SIGTERM would end this test process
    model = deeplab_tf.ModelConfig(variant="v2", backbone="resnet18", output_stride=8, multi_grid=(1, 1),
                                   num_classes=6)
    config = TrainConfig(dataset="synthetic", dataset_dir=dataset_dir, train_split="train", crop_size=(64, 64),
                         batch_size=4, train_steps=50, checkpoint_steps=1000, summary_steps=1000,
                         image_summary_steps=0, steps_per_loop=1, seed=5, validate_dataset=False)
    model_dir = str(tmp_path / "run")
    handler = signal.getsignal(signal.SIGTERM)

    first = _SigtermAt(2)
    with pytest.raises(PreemptedError) as stopped:
        train(model_dir, model, config, callbacks=first)
    assert first.steps == [1, 2] and stopped.value.step == 2
    assert stopped.value.checkpoint == os.path.join(model_dir, "checkpoints", "ckpt-2") and _latest_step(model_dir) == 2
    assert not os.path.exists(os.path.join(model_dir, "model.keras"))  # stopped, not finished
    assert signal.getsignal(signal.SIGTERM) is handler  # put back

    second = _SigtermAt()
    with pytest.raises(PreemptedError) as stopped_again:
        train(model_dir, model, config, callbacks=second)
    assert second.resumed == 2 and second.steps == [3], second.steps  # no step lost, none repeated
    assert stopped_again.value.step == 3 and _latest_step(model_dir) == 3


def test_two_workers_sigterm_on_one_stops_both_then_a_lost_worker_stops_the_other_and_all_resume(
        dataset_dir, tmp_path):
    model_dir = str(tmp_path / "run")
    flags = ["--train_steps=8", "--checkpoint_steps=1000"]

    # 1. SIGTERM to worker 1 only: both save the same step and stop with the preemption status.
    runs, _ = _cluster(dataset_dir, [model_dir, model_dir], *flags)
    try:
        runs[1].wait_for(r"^step\s+1/8")
        runs[1].process.send_signal(signal.SIGTERM)
        statuses = [run.finish() for run in runs]
    finally:
        for run in runs:
            run.kill()
    assert statuses == [EXIT_PREEMPTED] * 2, [run.output() for run in runs]
    saved = _latest_step(model_dir)
    assert saved is not None and 1 <= saved <= 5, [run.output() for run in runs]  # steps left for phase 2
    for run in runs:
        assert run.stdout[-1].startswith(f"train: stopped on SIGTERM; saved step {saved}"), run.output()
        assert run.steps()[-1] == saved
    assert not [name for name in os.listdir(model_dir) if "scratch" in name]

    # 2. The same commands: both resume from that step; then worker 1 is killed with kill -9.
    runs, _ = _cluster(dataset_dir, [model_dir, model_dir], *flags)
    try:
        runs[1].wait_for(rf"^step\s+{saved + 1}/8")  # then at once: the steps left must outlast the kill
        killed_at = time.monotonic()
        runs[1].process.send_signal(signal.SIGKILL)
        status = runs[0].finish()
        waited = time.monotonic() - killed_at
    finally:
        for run in runs:
            run.kill()
    for run in runs:
        assert f"resuming from step {saved} " in "\n".join(run.stdout) + " ", run.output()
        assert run.steps()[0] == saved + 1, run.output()
    survivor = runs[0]
    assert status == EXIT_PEER_LOST, survivor.output()
    assert waited < 120, waited  # the heartbeat timeout is 10 s; a reset connection fails at once
    assert not any("Traceback" in line for line in survivor.stderr), survivor.output()
    last = survivor.stderr[-1]
    assert last.startswith("train: error: lost a worker of the cluster (") and last.endswith(
        f"rerun every worker's command to resume from {model_dir}/checkpoints/ckpt-{saved}"), last
    assert "File " not in last and len(last) < 500, last

    # 3. Rerun the cluster: it resumes from the last checkpoint and finishes.
    runs, _ = _cluster(dataset_dir, [model_dir, model_dir], *flags)
    try:
        statuses = [run.finish() for run in runs]
    finally:
        for run in runs:
            run.kill()
    assert statuses == [0, 0], [run.output() for run in runs]
    for run in runs:
        assert f"resuming from step {saved} " in "\n".join(run.stdout) + " ", run.output()
        assert run.steps()[0] == saved + 1 and run.steps()[-1] == 8, run.output()
        assert run.stdout[-1] == "finished at step 8"
    assert _latest_step(model_dir) == 8 and os.path.isfile(os.path.join(model_dir, "model.keras"))


def test_a_negative_peer_timeout_is_refused_before_any_strategy_is_made():
    with pytest.raises(ConfigError, match="peer_timeout: must be >= 0 seconds, got -1"):
        make_strategy("default", peer_timeout=-1)


def test_peer_failure_reads_tensorflows_collective_errors_as_one_line():
    message = ("Graph execution error:\n\nDetected at node while/sgd/CollectiveReduceV2 defined at (most recent "
               "call last):\n  File \"tools/train.py\", line 156, in <module>\n\n  File \"trainer.py\", line 586, "
               "in train_loop\n\nCollective ops is aborted by: Error reported from /job:worker/task:1: The following "
               "tasks are unhealthy (stopped sending heartbeats):\n/job:worker/replica:0/task:1\nThe tasks have "
               "crashed.\nThe error could be from a previous operation. Restart your program to reset.\n"
               "\t [[{{node CollectiveReduceV2}}]] [Op:__inference_train_loop_6070]")
    reason = cluster.peer_failure(tf.errors.UnavailableError(None, None, message))
    assert reason == ("Error reported from /job:worker/task:1: The following tasks are unhealthy (stopped sending "
                      "heartbeats): /job:worker/replica:0/task:1")
    shape = "Collective ops is aborted by: Shape mismatch in the collective instance 297."
    assert cluster.peer_failure(tf.errors.InternalError(None, None, shape)) is None  # a bug, not a lost peer
    assert cluster.peer_failure(ValueError("heartbeat")) is None
