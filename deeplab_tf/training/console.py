"""The trainer's progress on a console: the `Callbacks` that `tools.train` prints with."""

import sys
import time

from deeplab_tf.training.callbacks import Callbacks


class ConsoleProgress(Callbacks):
    """Prints the trainer's progress: one updating line on a terminal, else a line every few seconds."""

    def __init__(self, mode, log_seconds):
        self.bar = mode == "bar" or (mode == "auto" and sys.stdout.isatty())
        self.log_seconds = log_seconds
        self.last_line = 0.0
        self.rates = []
        self.open_line = False

    def print(self, text):
        """`text` on a line of its own (closing the progress bar's line first)."""
        if self.open_line:
            sys.stdout.write("\n")
            self.open_line = False
        print(text, flush=True)

    def on_message(self, message):
        self.print(message)

    def on_start(self, info):
        examples = f", {info['num_examples']} examples" if info["num_examples"] else ""
        self.print(
            f"training {info['params']:,} parameters on {info['strategy']}: global batch "
            f"{info['global_batch']} ({info['per_replica_batch']} per replica){examples}, "
            f"{info['mixed_precision']}, XLA {'on' if info['jit_compile'] else 'off'}, seed {info['seed']}"
        )
        if info["start_step"] >= info["train_steps"]:
            self.print(f"already at step {info['start_step']} of {info['train_steps']}")

    def on_resume(self, step, checkpoint):
        self.print(f"resuming from step {step} ({checkpoint})")

    def on_progress(self, p):
        if p.steps_per_second:
            self.rates = (self.rates + [p.steps_per_second])[-20:]
        rate = sum(self.rates) / len(self.rates) if self.rates else None
        eta = clock((p.train_steps - p.step) / rate) if rate else "--:--"
        speed = f"{rate:.2f} steps/s, {rate * p.examples_per_second / p.steps_per_second:.1f} img/s" \
            if rate and p.steps_per_second else "tracing"
        width = len(str(p.train_steps))
        text = (f"step {p.step:>{width}}/{p.train_steps}  loss {p.loss:.4f}  lr {p.learning_rate:.2e}  "
                f"{speed}  ETA {eta}")
        if p.val_miou is not None:
            best = " (best)" if p.best_val_miou is not None and p.val_miou >= p.best_val_miou else ""
            text += f"  val mIoU {p.val_miou:.3f}{best}"
        if self.bar:
            done = int(20 * p.step / p.train_steps)
            sys.stdout.write(f"\r[{'=' * done}{' ' * (20 - done)}] {text}\033[K")
            sys.stdout.flush()
            self.open_line = True
        elif not self.last_line or time.monotonic() - self.last_line >= self.log_seconds \
                or p.step == p.train_steps:
            self.last_line = time.monotonic()
            print(text, flush=True)

    def on_checkpoint(self, step, path):
        if not self.bar:
            self.print(f"saved checkpoint {path}")

    def on_evaluation(self, e):
        if e.miou is None:
            self.print(f"step {e.step}: evaluated {e.eval_split}: no labelled pixels")
            return
        images = f" on {e.num_images} {e.eval_split} images" if e.num_images is not None else f" on {e.eval_split}"
        if e.is_best:
            kept = f"best so far, kept in {e.best_checkpoint}" if e.best_checkpoint else "best so far"
        else:
            kept = f"best {e.best_miou:.4f} at step {e.best_step}"
        self.print(f"step {e.step}: val mIoU {e.miou:.4f}{images} ({kept}; {e.seconds:.1f} s)")

    def on_end(self, result):
        if result.steps_per_second:
            self.print(f"{result.steps_per_second:.2f} steps/s, {result.examples_per_second:.1f} images/s; "
                        f"{clock(result.train_seconds)} of training in this session")
        if result.model_path:
            self.print(f"saved {result.model_path}")
        if result.best_miou is not None:
            self.print(f"best val mIoU {result.best_miou:.4f} at step {result.best_step}")
        self.print(f"finished at step {result.step}")


def clock(seconds):
    """H:MM:SS, or M:SS under an hour."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
