"""Trains a DeepLab v2/v3 network; running the same command again resumes it.

    python -m tools.train --flagfile=flags/synthetic_v3.flags --model_dir=runs/demo/v3

Writes `model_dir/model_config.json`, `checkpoints/` (every --checkpoint_steps
and at the end), `train/` TensorBoard events and, at the end, `model.keras`.
Prints `resuming from step K` when it finds a checkpoint and ends with
`finished at step N`. Exit status: 0 done, 1 the loss diverged, 2 bad flags or data.
"""

import os
import sys
import time

from absl import flags, logging

from tools import cli, data_flags, model_flags

from deeplab_tf.training.config import MIXED_PRECISION_POLICIES, TrainConfig
from deeplab_tf.training.strategy import STRATEGIES

flags.DEFINE_string("model_dir", None, "The run's directory; an existing run there is resumed.")
flags.DEFINE_string("train_split", "train", "The split to train on (VOC: train_aug, trainval, ...).")
flags.DEFINE_bool("skip_bad_examples", False, "Validate the split and leave unusable examples out (logged).")
flags.DEFINE_bool("validate_dataset", True, "Decode every example before training and stop on bad ones.")
flags.DEFINE_list("crop_size", ["513"], "Training crop height[,width].")
flags.DEFINE_float("min_scale", 0.5, "Smallest random scale.")
flags.DEFINE_float("max_scale", 2.0, "Largest random scale.")
flags.DEFINE_float("scale_step", 0.25, "Step between random scales (0: continuous).")
# Not `--flip`: that is test-time flip in evaluate/predict/export, which read the same flagfiles.
flags.DEFINE_bool("random_flip", True, "Random left-right flips in training.")
flags.DEFINE_integer("batch_size", 16, "Global batch size, split evenly over the replicas.")
flags.DEFINE_integer("train_steps", 30000, "The step training stops at (resumes count from the saved step).")
flags.DEFINE_float("base_learning_rate", 0.007, "Poly schedule: base * (1 - step/train_steps)^learning_power.")
flags.DEFINE_float("learning_power", 0.9, "Poly schedule power.")
flags.DEFINE_integer("warmup_steps", 0, "Linear learning-rate warm-up steps.")
flags.DEFINE_enum("optimizer", "sgd", ["sgd", "adam"], "SGD with momentum (the papers) or Adam.")
flags.DEFINE_float("momentum", 0.9, "SGD momentum (Adam's beta_1).")
flags.DEFINE_float("weight_decay", 1e-4, "L2 weight decay on convolution kernels (added to the loss).")
flags.DEFINE_float("last_layer_lr_multiplier", 1.0, "Learning-rate multiplier of the classifier (v2: 10).")
flags.DEFINE_bool("fine_tune_batch_norm", True, "Train BN; --nofine_tune_batch_norm freezes it (v2, v3 stage 2). "
                  "Its decay is --batch_norm_decay.")
flags.DEFINE_bool("sync_batch_norm", False, "BN statistics over the global batch, across replicas.")
flags.DEFINE_bool("upsample_logits", True, "Loss on logits upsampled to the label size (v3); "
                  "--noupsample_logits downsamples the labels instead (v2).")
flags.DEFINE_string("init_checkpoint", None, "Start from this run's model directory or checkpoint.")
flags.DEFINE_enum("init_scope", "all", ["all", "backbone"], "What --init_checkpoint provides.")
flags.DEFINE_string("backbone_weights", None, "keras.applications ResNet-50/101 ImageNet .h5 weights file.")
flags.DEFINE_enum("mixed_precision", "none", ["none", *MIXED_PRECISION_POLICIES],
                  "mixed_bfloat16 (CPU with AMX, TPU) or mixed_float16 (GPU, loss scaling).")
flags.DEFINE_integer("checkpoint_steps", 1000, "Save a checkpoint every this many steps (and at the end).")
flags.DEFINE_integer("keep_checkpoints", 5, "Checkpoints kept.")
flags.DEFINE_integer("summary_steps", 100, "TensorBoard scalars every this many steps.")
flags.DEFINE_integer("image_summary_steps", 1000, "TensorBoard image overlays every this many steps (0: never).")
flags.DEFINE_integer("steps_per_loop", 10, "Steps per tf.function call between host reads.")
flags.DEFINE_integer("shuffle_buffer", 256, "Examples in the shuffle buffer.")
flags.DEFINE_integer("seed", None, "Seeds weights, dropout and data order (default: a random one, logged).")
flags.DEFINE_enum("jit_compile", "auto", ["auto", "true", "false"], "XLA for the forward/backward pass "
                  "(auto: on with a GPU).")
flags.DEFINE_enum("strategy", "auto", list(STRATEGIES), "auto, default (one device), mirrored (all GPUs or "
                  "--cpu_logical_devices), multi_worker (TF_CONFIG), tpu.")
flags.DEFINE_integer("cpu_logical_devices", 0, "Split the CPU into this many devices (MirroredStrategy on a CPU).")
flags.DEFINE_string("tpu", None, "TPU name or address (default: this TPU VM's).")
flags.DEFINE_enum("progress", "auto", ["auto", "bar", "log"], "One updating line (bar) or a line per "
                  "--log_seconds (log); auto: bar on a terminal.")
flags.DEFINE_float("log_seconds", 10.0, "With log progress: at most one progress line this often.")
flags.mark_flags_as_required(["model_dir", "dataset", "dataset_dir"])
FLAGS = flags.FLAGS

FLAG_FOR_FIELD = {**model_flags.FLAG_FOR_FIELD, **data_flags.FLAG_FOR_FIELD, "variant": "model_variant",
                  "flip": "random_flip"}

_FIELDS = [
    "train_split", "skip_bad_examples", "validate_dataset", "min_scale", "max_scale", "scale_step",
    "batch_size", "train_steps", "base_learning_rate", "learning_power", "warmup_steps", "optimizer", "momentum",
    "weight_decay", "last_layer_lr_multiplier", "fine_tune_batch_norm", "sync_batch_norm", "upsample_logits",
    "init_checkpoint", "init_scope", "backbone_weights", "checkpoint_steps", "keep_checkpoints",
    "summary_steps", "image_summary_steps", "steps_per_loop", "shuffle_buffer", "seed",
]


def train_config_from_flags():
    try:
        crop = tuple(int(v) for v in FLAGS.crop_size)
    except ValueError:
        raise cli.UsageError(f"--crop_size: expected 1 or 2 integers, got {','.join(FLAGS.crop_size)}") from None
    if len(crop) == 1:
        crop = crop * 2
    return TrainConfig(
        dataset=FLAGS.dataset,
        dataset_dir=FLAGS.dataset_dir,
        crop_size=crop,
        mixed_precision=None if FLAGS.mixed_precision == "none" else FLAGS.mixed_precision,
        jit_compile={"auto": None, "true": True, "false": False}[FLAGS.jit_compile],
        flip=FLAGS.random_flip,
        **{field: FLAGS[field].value for field in _FIELDS},
    )


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

    def on_end(self, result):
        if result.steps_per_second:
            self._print(f"{result.steps_per_second:.2f} steps/s, {result.examples_per_second:.1f} images/s; "
                        f"{_clock(result.train_seconds)} of training in this session")
        if result.model_path:
            self._print(f"saved {result.model_path}")
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
    train_config = train_config_from_flags()

    from deeplab_tf.training import NonFiniteLossError, make_strategy, train

    strategy = make_strategy(FLAGS.strategy, FLAGS.cpu_logical_devices, FLAGS.tpu)
    train_config.check_replicas(strategy.num_replicas_in_sync)
    progress = ConsoleProgress(FLAGS.progress, FLAGS.log_seconds)
    try:
        train(FLAGS.model_dir, model_config, train_config, strategy=strategy, callbacks=progress)
    except NonFiniteLossError as error:
        progress._print("")
        print(f"train: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ntrain: interrupted; run the same command to resume from the last checkpoint in "
              f"{os.path.join(FLAGS.model_dir, 'checkpoints')}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    cli.run(main, flag_for_field=FLAG_FOR_FIELD)
