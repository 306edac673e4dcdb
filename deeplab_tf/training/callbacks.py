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
        val_miou: the latest evaluation's mIoU (`eval_steps`), or None before the first.
        best_val_miou: the best evaluation's mIoU so far (resumes included), or None.
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
    val_miou: float = None
    best_val_miou: float = None


@dataclasses.dataclass
class Evaluation:
    """One evaluation during training (`TrainConfig.eval_steps`).

    Attributes:
        step: the step evaluated at.
        miou: mIoU of one confusion matrix over the images evaluated.
        per_class_iou: a list in class order (None for a class absent from
            labels and predictions); None on non-chief workers.
        num_images: images evaluated (None on non-chief workers).
        eval_split: the split.
        seconds: wall time of the evaluation.
        is_best: whether it beat every earlier evaluation of the run, so
            `model_dir/best/` now holds this step.
        best_miou, best_step: the best evaluation so far (this one if `is_best`).
        best_checkpoint: the checkpoint in `model_dir/best/checkpoints/` (None on non-chief workers).
    """

    step: int
    miou: float
    per_class_iou: list
    num_images: int
    eval_split: str
    seconds: float
    is_best: bool
    best_miou: float
    best_step: int
    best_checkpoint: str = None


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
        eval_miou, eval_step: the last evaluation of this session (`eval_steps`; None without).
        best_miou, best_step: the best evaluation of the run, resumes included (None without).
        best_checkpoint: its checkpoint in `model_dir/best/checkpoints/` (None without, or off the chief).
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
    eval_miou: float = None
    eval_step: int = None
    best_miou: float = None
    best_step: int = None
    best_checkpoint: str = None


class Callbacks:
    """Hooks the trainer calls; the command line prints from them. Every hook is optional.

    The trainer itself never prints: subclass this (as `console.ConsoleProgress` does)
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

    def on_evaluation(self, evaluation):
        """An `Evaluation` of the eval split finished (every `eval_steps` and at the end)."""

    def on_end(self, result):
        """A `TrainResult`; the run reached `train_steps`."""
