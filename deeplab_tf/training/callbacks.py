"""What the trainer reports while it runs: hooks with no-op defaults, and the records they receive."""

import dataclasses


@dataclasses.dataclass
class Progress:
    """The state after a group of steps (one host read).

    Attributes:
        step: steps done so far, counted from the run's first step (resumes included).
        train_steps: the step the run stops at.
        start_step: the step this session started (resumed) at.
        loss: mean total loss (cross-entropy + weight decay) over the group.
        cross_entropy: mean cross-entropy over the group.
        learning_rate: the rate the next step uses.
        steps_per_second: over this group; None for the first (it includes tracing).
        examples_per_second: likewise, in examples of the global batch.
        elapsed_s: seconds since training started (tracing included).
    """

    step: int
    train_steps: int
    start_step: int
    loss: float
    cross_entropy: float
    learning_rate: float
    steps_per_second: float
    examples_per_second: float
    elapsed_s: float


@dataclasses.dataclass
class TrainResult:
    """What a finished run reports.

    Attributes:
        step: the final step (= train_steps).
        resumed_from: the step this session started from (0 for a fresh run).
        checkpoint: the final checkpoint's path.
        model_path: the `model.keras` file written at the end (None on non-chief workers).
        loss: the mean loss over the last group of steps (None if no step ran).
        train_seconds: wall time of the session's steps (tracing included).
        steps_per_second, examples_per_second: after the first group (no tracing).
        train_miou: mIoU of the training crops since the last summary (None if none).
    """

    step: int
    resumed_from: int
    checkpoint: str
    model_path: str
    loss: float
    train_seconds: float
    steps_per_second: float
    examples_per_second: float
    train_miou: float = None


class Callbacks:
    """Hooks the trainer calls; the command line prints from them. Every hook is optional.

    The library itself never prints: subclass this (as `tools/train.py` does)
    to show progress, or pass nothing to train silently.
    """

    def on_message(self, message):
        """A one-line note: the strategy chosen, validation results, initialisation."""

    def on_start(self, info):
        """Training is about to start; `info` is a dict (strategy, replicas, batch, ...)."""

    def on_resume(self, step, checkpoint):
        """A checkpoint of this run was found and restored; training resumes at `step`."""

    def on_progress(self, progress):
        """A `Progress` after each group of steps."""

    def on_checkpoint(self, step, path):
        """A checkpoint was written."""

    def on_end(self, result):
        """A `TrainResult`; the run reached `train_steps`."""
