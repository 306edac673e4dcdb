"""Checks every example of a split; exits non-zero naming each bad file and its fault.

    python -m tools.validate_dataset --dataset=voc2012 \
        --dataset_dir=data/VOCdevkit/VOC2012 --split=train_aug

Exit status: 0 when every example is usable (a summary with class pixel
frequencies is printed), 1 when any is not (each bad file is listed), 2 on
bad flags or a missing dataset.
"""

import sys

from absl import flags

from tools import cli, data_flags

from deeplab_tf.data import validate

flags.DEFINE_string("split", "train", "The split to check.")
flags.mark_flags_as_required(["dataset", "dataset_dir"])
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    report = validate.validate_split(
        FLAGS.dataset, FLAGS.dataset_dir, FLAGS.split, num_classes=data_flags.num_classes_flag()
    )
    for note in report.notes:
        print(f"note: {note}")
    for problem in report.problems:
        print(f"error: {problem}")
    for line in report.summary_lines():
        print(line)
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
