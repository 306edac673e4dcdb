"""Trains a DeepLab v2/v3 network; running the same command again resumes it.

    python -m tools.train --flagfile=flags/synthetic_v3.flags --model_dir=runs/demo/v3

Writes `model_dir/model_config.json`, `checkpoints/` (every --checkpoint_steps
and at the end), `train/` TensorBoard events and, at the end, `model.keras`;
with --eval_steps=N it evaluates --eval_split every N steps and keeps the best
checkpoint in `model_dir/best/` (a model directory tools.evaluate and tools.export read).
Prints `resuming from step K` when it finds a checkpoint and ends with
`finished at step N`. On SIGTERM (preemption) it saves a checkpoint at the
current step, on every worker together, and exits; the same command resumes.

Exit status: 0 done, 1 the loss diverged, 2 bad flags or data (or a model
directory the workers do not share), 3 a worker of the cluster was lost
(`EXIT_PEER_LOST`), 42 stopped on SIGTERM after saving (`EXIT_PREEMPTED`,
TensorFlow's `PreemptionCheckpointHandler`'s default), 130 Ctrl-C.
"""

import os
import sys
import time

from absl import flags, logging

from deeplab_tf.training import NonFiniteLossError, PeerLostError, PreemptedError, make_strategy, train
from tools import cli, data_flags, model_flags, output_flags, train_flags  # noqa: F401  (output_flags: --model_dir)

flags.mark_flags_as_required(["model_dir", "dataset", "dataset_dir"])
FLAGS = flags.FLAGS

EXIT_DIVERGED = 1
EXIT_PEER_LOST = 3
EXIT_PREEMPTED = 42
EXIT_INTERRUPTED = 130

FLAG_FOR_FIELD = {**model_flags.FLAG_FOR_FIELD, **data_flags.FLAG_FOR_FIELD, **train_flags.FLAG_FOR_FIELD}


class ConsoleProgress:
    """Prints the trainer's progress: one updating line on a terminal, else a line every few seconds."""

    def __init__(self, mode, log_seconds):
        self.bar = mode == "bar" or (mode == "auto" and sys.stdout.isatty())
        self.log_seconds = log_seconds
        self.last_line = 0.0
        self.rates = []
        self.open_line = False

    def _print(self, text):
        if self.open_line:
            sys.stdout.write("\n")
            self.open_line = False
        print(text, flush=True)

    def on_message(self, message):
        self._print(message)

    def on_start(self, info):
        examples = f", {info['num_examples']} examples" if info["num_examples"] else ""
        self._print(
            f"training {info['params']:,} parameters on {info['strategy']}: global batch "
            f"{info['global_batch']} ({info['per_replica_batch']} per replica){examples}, "
            f"{info['mixed_precision']}, XLA {'on' if info['jit_compile'] else 'off'}, seed {info['seed']}"
        )
        if info["start_step"] >= info["train_steps"]:
            self._print(f"already at step {info['start_step']} of {info['train_steps']}")

    def on_resume(self, step, checkpoint):
        self._print(f"resuming from step {step} ({checkpoint})")

    def on_progress(self, p):
        if p.steps_per_second:
            self.rates = (self.rates + [p.steps_per_second])[-20:]
        rate = sum(self.rates) / len(self.rates) if self.rates else None
        eta = _clock((p.train_steps - p.step) / rate) if rate else "--:--"
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
            self._print(f"saved checkpoint {path}")

    def on_evaluation(self, e):
        if e.miou is None:
            self._print(f"step {e.step}: evaluated {e.eval_split}: no labelled pixels")
            return
        images = f" on {e.num_images} {e.eval_split} images" if e.num_images is not None else f" on {e.eval_split}"
        if e.is_best:
            kept = f"best so far, kept in {e.best_checkpoint}" if e.best_checkpoint else "best so far"
        else:
            kept = f"best {e.best_miou:.4f} at step {e.best_step}"
        self._print(f"step {e.step}: val mIoU {e.miou:.4f}{images} ({kept}; {e.seconds:.1f} s)")

    def on_end(self, result):
        if result.steps_per_second:
            self._print(f"{result.steps_per_second:.2f} steps/s, {result.examples_per_second:.1f} images/s; "
                        f"{_clock(result.train_seconds)} of training in this session")
        if result.model_path:
            self._print(f"saved {result.model_path}")
        if result.best_miou is not None:
            self._print(f"best val mIoU {result.best_miou:.4f} at step {result.best_step}")
        self._print(f"finished at step {result.step}")


def _clock(seconds):
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines would bury the progress
    # Everything that needs no TensorFlow op is checked before the strategy
    # is made (it must come first); bad flags fail here, in one line.
    info = data_flags.dataset_info_from_flags()
    model_config = model_flags.model_config_from_flags(num_classes=info.num_classes)
    train_config = train_flags.train_config_from_flags(FLAGS.dataset, FLAGS.dataset_dir)
    strategy = make_strategy(FLAGS.strategy, FLAGS.cpu_logical_devices, FLAGS.tpu, FLAGS.peer_timeout)
    train_config.check_replicas(strategy.num_replicas_in_sync)
    progress = ConsoleProgress(FLAGS.progress, FLAGS.log_seconds)
    try:
        train(FLAGS.model_dir, model_config, train_config, strategy=strategy, callbacks=progress)
    except (NonFiniteLossError, PeerLostError) as error:
        progress._print("")
        print(f"train: error: {error}", file=sys.stderr)
        return EXIT_DIVERGED if isinstance(error, NonFiniteLossError) else EXIT_PEER_LOST
    except PreemptedError as error:
        progress._print(f"train: {error}")
        return EXIT_PREEMPTED
    except KeyboardInterrupt:
        print(f"\ntrain: interrupted; run the same command to resume from the last checkpoint in "
              f"{os.path.join(FLAGS.model_dir, 'checkpoints')}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    cli.run(main, flag_for_field=FLAG_FOR_FIELD)
