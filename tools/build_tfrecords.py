"""Converts a dataset to the official DeepLab TFRecord format.

    python -m tools.build_tfrecords --dataset=voc2012 \
        --dataset_dir=data/VOCdevkit/VOC2012 --output_dir=data/voc_tfrecord --num_shards=4

Shards are `<split>-%05d-of-%05d.tfrecord` with the keys of the official
`build_voc2012_data.py`; TF Model Garden reads them too.
"""

from absl import flags, logging

from tools import cli

from deeplab_tf.data import convert

flags.DEFINE_string("dataset", "voc2012", "Dataset to convert (voc2012, synthetic, ...).")
flags.DEFINE_string("dataset_dir", None, "Where the dataset is.")
flags.DEFINE_string("output_dir", None, "Where to write the shards.")
flags.DEFINE_integer("num_shards", 4, "Shards per split.")
flags.DEFINE_list("splits", None, "Splits to convert; default: all the dataset has.")
flags.DEFINE_integer("num_classes", None, "Number of classes (for --dataset=tfrecord).")
flags.DEFINE_boolean("skip_bad_examples", False,
                     "Leave out (and log) examples that fail validation instead of stopping.")
flags.mark_flags_as_required(["dataset_dir", "output_dir"])
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
    written = convert.write_tfrecords(
        FLAGS.dataset, FLAGS.dataset_dir, FLAGS.output_dir, FLAGS.num_shards,
        splits=FLAGS.splits, num_classes=FLAGS.num_classes,
        skip_bad_examples=FLAGS.skip_bad_examples,
    )
    for split, count in written.items():
        logging.info("%s: %d examples", split, count)


if __name__ == "__main__":
    cli.run(main)
