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

from absl import flags, logging

from deeplab_tf.training import NonFiniteLossError, PeerLostError, PreemptedError, make_strategy, train
from deeplab_tf.training.console import ConsoleProgress
from tools import cli, data_flags, model_flags, output_flags, train_flags  # noqa: F401  (output_flags: --model_dir)

flags.mark_flags_as_required(["model_dir", "dataset", "dataset_dir"])
FLAGS = flags.FLAGS

EXIT_DIVERGED = 1
EXIT_PEER_LOST = 3
EXIT_PREEMPTED = 42
EXIT_INTERRUPTED = 130

FLAG_FOR_FIELD = {**model_flags.FLAG_FOR_FIELD, **data_flags.FLAG_FOR_FIELD, **train_flags.FLAG_FOR_FIELD}


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
        progress.print("")
        print(f"train: error: {error}", file=sys.stderr)
        return EXIT_DIVERGED if isinstance(error, NonFiniteLossError) else EXIT_PEER_LOST
    except PreemptedError as error:
        progress.print(f"train: {error}")
        return EXIT_PREEMPTED
    except KeyboardInterrupt:
        print(f"\ntrain: interrupted; run the same command to resume from the last checkpoint in "
              f"{os.path.join(FLAGS.model_dir, 'checkpoints')}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    cli.run(main, flag_for_field=FLAG_FOR_FIELD)
