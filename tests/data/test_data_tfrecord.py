"""The official DeepLab TFRecord format: our shards read like the official ones, and back."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.data import read_split
from deeplab_tf.data import convert
from deeplab_tf.errors import DataError

# The keys as the official `build_data.py` writes them and Model Garden parses them.
OFFICIAL_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature((), tf.string),
    "image/filename": tf.io.FixedLenFeature((), tf.string),
    "image/format": tf.io.FixedLenFeature((), tf.string),
    "image/height": tf.io.FixedLenFeature((), tf.int64),
    "image/width": tf.io.FixedLenFeature((), tf.int64),
    "image/channels": tf.io.FixedLenFeature((), tf.int64),
    "image/segmentation/class/encoded": tf.io.FixedLenFeature((), tf.string),
    "image/segmentation/class/format": tf.io.FixedLenFeature((), tf.string),
}


@pytest.fixture(scope="module")
def converted(tmp_path_factory, data_helpers):
    base = tmp_path_factory.mktemp("tfr")
    root, arrays = data_helpers.simple_voc(base / "voc", num=7, size=(18, 22))
    result = data_helpers.run_tool(
        "build_tfrecords", "--dataset=voc2012", f"--dataset_dir={root}",
        f"--output_dir={base / 'records'}", "--num_shards=2", "--splits=train,val",
    )
    assert result.returncode == 0, result.stderr
    return root, str(base / "records"), arrays


def test_shards_are_named_and_filled_as_the_official_converter(converted):
    _, records, _ = converted
    names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(records, "*.tfrecord")))
    assert names == [
        "train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord",
        "val-00000-of-00002.tfrecord", "val-00001-of-00002.tfrecord",
    ]
    counts = [sum(1 for _ in tf.data.TFRecordDataset(os.path.join(records, n))) for n in names]
    assert counts == [2, 2, 2, 1]  # train 4 = ceil(4/2) + 2; val 3 = 2 + 1


def test_records_carry_the_official_keys_and_index_png_labels(converted):
    root, records, arrays = converted
    shards = sorted(glob.glob(os.path.join(records, "train-*")))
    for serialized in tf.data.TFRecordDataset(shards):
        fields = tf.io.parse_single_example(serialized, OFFICIAL_FEATURES)
        name = fields["image/filename"].numpy().decode()
        with open(os.path.join(root, "JPEGImages", name + ".jpg"), "rb") as f:
            assert fields["image/encoded"].numpy() == f.read()  # original bytes kept
        assert fields["image/format"].numpy() == b"jpeg"
        assert (fields["image/height"].numpy(), fields["image/width"].numpy()) == (18, 22)
        assert fields["image/channels"].numpy() == 3
        assert fields["image/segmentation/class/format"].numpy() == b"png"
        # The official readers decode the label with one channel.
        label = tf.io.decode_image(fields["image/segmentation/class/encoded"], channels=1)
        np.testing.assert_array_equal(label.numpy()[..., 0], arrays[name][1])


def test_reading_the_records_matches_reading_the_voc_tree(converted):
    root, records, _ = converted
    from_voc = list(read_split("voc2012", root, "train").as_numpy_iterator())
    from_records = list(read_split("tfrecord", records, "train").as_numpy_iterator())
    assert len(from_records) == len(from_voc) == 4
    by_name = {e["filename"]: e for e in from_records}
    for example in from_voc:
        twin = by_name[example["filename"]]
        np.testing.assert_array_equal(twin["image"], example["image"])
        np.testing.assert_array_equal(twin["label"], example["label"])


def test_reads_records_written_the_official_way(tmp_path, data_helpers):
    image = data_helpers.make_image(9, 11)
    label = data_helpers.make_label(9, 11)
    png_image = data_helpers.encode(image, "PNG")

    def feature(value):
        if isinstance(value, int):
            return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    example = tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": feature(png_image), "image/filename": feature(b"2008_000001"),
        "image/format": feature(b"png"), "image/height": feature(9), "image/width": feature(11),
        "image/channels": feature(3),
        "image/segmentation/class/encoded": feature(data_helpers.index_png(label)),
        "image/segmentation/class/format": feature(b"png"),
    }))
    with tf.io.TFRecordWriter(str(tmp_path / "val-00000-of-00001.tfrecord")) as writer:
        writer.write(example.SerializeToString())
    (decoded,) = read_split("tfrecord", str(tmp_path), "val", num_classes=21).as_numpy_iterator()
    assert decoded["filename"] == b"2008_000001"
    np.testing.assert_array_equal(decoded["image"], image)
    np.testing.assert_array_equal(decoded["label"], label)


def test_conversion_refuses_a_split_with_problems(tmp_path, data_helpers):
    root, _ = data_helpers.simple_voc(tmp_path / "voc", num=3)
    data_helpers.write(os.path.join(root, "SegmentationClass", "2007_000000.png"),
                       data_helpers.index_png(np.full((24, 32), 40, np.uint8)))
    with pytest.raises(DataError, match="2007_000000.png"):
        convert.write_tfrecords("voc2012", root, str(tmp_path / "out"), 1, splits=["train"])
    written = convert.write_tfrecords("voc2012", root, str(tmp_path / "out"), 1,
                                      splits=["train"], skip_bad_examples=True)
    assert written == {"train": 1}  # 2 listed, 1 bad
