"""Writes the generated VOC-layout dataset that the default runs train on.

    python -m tools.make_synthetic_data --output_dir=data/synthetic \
        --num_train=500 --num_val=100 --image_size=128 --seed=0
"""

import os

from absl import flags, logging

from tools import cli

from deeplab_tf.data import synthetic

flags.DEFINE_string("output_dir", None, "Where to write the dataset (VOC layout).")
flags.DEFINE_integer("num_train", 500, "Training images.")
flags.DEFINE_integer("num_val", 100, "Validation images.")
flags.DEFINE_integer("image_size", 128, "Image height and width in pixels.")
flags.DEFINE_integer("seed", 0, "Random seed; the same flags write identical files.")
flags.DEFINE_integer("processes", os.cpu_count() or 1,
                     "Processes rendering images (the files do not depend on it).", lower_bound=1)
flags.mark_flag_as_required("output_dir")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
    info = synthetic.generate_dataset(
        FLAGS.output_dir, FLAGS.num_train, FLAGS.num_val, FLAGS.image_size, FLAGS.seed,
        processes=FLAGS.processes,
    )
    logging.info("wrote %d train + %d val images of %d classes (%s) to %s",
                 FLAGS.num_train, FLAGS.num_val, info.num_classes,
                 ", ".join(info.class_names), FLAGS.output_dir)


if __name__ == "__main__":
    cli.run(main)
