"""Converts a dataset to the official DeepLab TFRecord format.

    python -m tools.build_tfrecords --dataset=voc2012 \
        --dataset_dir=data/VOCdevkit/VOC2012 --output_dir=data/voc_tfrecord --num_shards=4
    python -m tools.build_tfrecords --dataset=folder --dataset_dir=my_data --output_dir=my_data_tfrecord

Shards are `<split>-%05d-of-%05d.tfrecord` with the keys of the official
`build_voc2012_data.py`; TF Model Garden reads them too.
"""

from absl import flags, logging

from tools import cli, data_flags

from deeplab_tf.data import convert

flags.DEFINE_string("output_dir", None, "Where to write the shards.")
flags.DEFINE_integer("num_shards", 4, "Shards per split.")
flags.DEFINE_list("splits", None, "Splits to convert; default: all the dataset has.")
flags.DEFINE_boolean("skip_bad_examples", False,
                     "Leave out (and log) examples that fail validation instead of stopping.")
flags.mark_flags_as_required(["dataset_dir", "output_dir"])
FLAGS = flags.FLAGS
FLAGS.set_default("dataset", "voc2012")


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    written = convert.write_tfrecords(
        FLAGS.dataset, FLAGS.dataset_dir, FLAGS.output_dir, FLAGS.num_shards,
        splits=FLAGS.splits, num_classes=data_flags.num_classes_flag(),
        skip_bad_examples=FLAGS.skip_bad_examples, val_fraction=FLAGS.val_fraction,
    )
    for split, count in written.items():
        logging.info("%s: %d examples", split, count)


if __name__ == "__main__":
    cli.run(main, flag_for_field=data_flags.FLAG_FOR_FIELD)
