"""Builds SegmentationClassAug/ and train_aug.txt from VOC 2012 and SBD.

    python -m tools.build_voc_aug --voc_dir=data/VOCdevkit/VOC2012 \
        --sbd_dir=data/benchmark_RELEASE --output_dir=data/VOCdevkit/VOC2012

train_aug = SBD train ∪ SBD val ∪ VOC train − VOC val (10,582 images).
"""

from absl import flags, logging

from tools import cli

from deeplab_tf.data import sbd

flags.DEFINE_string("voc_dir", None, "The VOC2012 folder (or VOCdevkit, or above it).")
flags.DEFINE_string("sbd_dir", None, "SBD's benchmark_RELEASE folder (or its dataset/).")
flags.DEFINE_string("output_dir", None, "Where to write; defaults to the VOC2012 folder.")
flags.mark_flags_as_required(["voc_dir", "sbd_dir"])
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
    counts = sbd.build_voc_aug(FLAGS.voc_dir, FLAGS.sbd_dir, FLAGS.output_dir)
    logging.info(
        "train_aug: %d images; SegmentationClassAug: %d labels (%d from VOC, %d from SBD)",
        counts["train_aug"], counts["labels_written"], counts["from_voc"], counts["from_sbd"],
    )


if __name__ == "__main__":
    cli.run(main)
