"""Checks every example of a split; exits non-zero naming each bad file and its fault.

    python -m tools.validate_dataset --dataset=folder --dataset_dir=my_data --split=train
    python -m tools.validate_dataset --dataset=voc2012 \
        --dataset_dir=data/VOCdevkit/VOC2012 --split=train_aug --stats_dir=runs/voc_stats

Prints a summary with class pixel frequencies and writes the split's statistics
to `--stats_dir`: `stats.json` (per-class pixel share and image count, image
size range, ignored share, median-frequency class weights, warnings) and
`class_frequencies.png`. Warns when a class never occurs or most pixels are
ignored. Exit status: 0 when every example is usable, 1 when any is not (each
bad file is listed), 2 on bad flags or a missing dataset.
"""

import os
import sys

from absl import flags

from tools import cli, data_flags

from deeplab_tf import visualize
from deeplab_tf.data import palettes, statistics, validate
from deeplab_tf.errors import InputError

flags.DEFINE_string("split", "train", "The split to check.")
flags.DEFINE_string("stats_dir", None, "Where stats.json and class_frequencies.png go "
                    "(default: <dataset_dir>/stats/<split>).")
flags.mark_flags_as_required(["dataset", "dataset_dir"])
FLAGS = flags.FLAGS

CHART_FILE = "class_frequencies.png"


def _write_stats(report, stats_dir):
    try:
        os.makedirs(stats_dir, exist_ok=True)
        stats = statistics.write_stats(report, os.path.join(stats_dir, statistics.STATS_FILE))
        visualize.plot_class_frequencies(stats, os.path.join(stats_dir, CHART_FILE), palettes.palette_for(report.info))
    except OSError as error:
        raise InputError(f"--stats_dir: cannot write {stats_dir} ({error.strerror})") from None
    return stats


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    report = validate.validate_split(
        FLAGS.dataset, FLAGS.dataset_dir, FLAGS.split, num_classes=data_flags.num_classes_flag(),
        val_fraction=FLAGS.val_fraction,
    )
    for note in report.notes:
        print(f"note: {note}")
    for problem in report.problems:
        print(f"error: {problem}")
    for line in report.summary_lines():
        print(line)
    stats_dir = FLAGS.stats_dir or os.path.join(FLAGS.dataset_dir, "stats", FLAGS.split)
    stats = _write_stats(report, stats_dir)
    for warning in stats["warnings"]:
        print(f"warning: {warning}")
    print(f"wrote {os.path.join(stats_dir, statistics.STATS_FILE)} and {os.path.join(stats_dir, CHART_FILE)}")
    if not report.ok:
        print(
            f"validate_dataset: {len(report.problems)} problem(s) in "
            f"{len(report.bad_examples)} example(s) of split '{FLAGS.split}'",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    cli.run(main, flag_for_field=data_flags.FLAG_FOR_FIELD)
