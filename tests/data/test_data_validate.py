"""Bad input: each fault is found, named with its file, and skipped only when asked."""

import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.data import read_split, validate_split
from deeplab_tf.data import convert
from deeplab_tf.errors import DataError
from tests.tool_runner import run_tools

SIZE = (24, 32)
# example id → (file it names, words of the fault)
FAULTS = {
    "truncated": ("JPEGImages/truncated.jpg", "corrupt or truncated image"),
    "corrupt_label": ("SegmentationClass/corrupt_label.png", "corrupt or truncated label PNG"),
    "size_mismatch": ("SegmentationClass/size_mismatch.png", "label is 32x20 but its image"),
    "out_of_range": ("SegmentationClass/out_of_range.png",
                     "label values 30 are >= num_classes (21)"),
    "missing": ("JPEGImages/missing.jpg", "listed in train.txt but missing"),
}
CONVERTED = {
    "gray": ("JPEGImages/gray.jpg", "grayscale image"),
    "rgba": ("JPEGImages/rgba.png", "alpha"),
}


@pytest.fixture(scope="module")
def bad_voc(tmp_path_factory, data_helpers):
    h = data_helpers
    image, label = h.make_image(*SIZE), h.make_label(*SIZE)
    good = (h.jpeg(image), h.palette_png(label))
    out_of_range = label.copy()
    out_of_range[2, 2] = 30
    rgba = np.concatenate([image, np.full(SIZE + (1,), 200, np.uint8)], -1)
    examples = {
        "good": good,
        "truncated": (h.jpeg(image)[:300], good[1]),
        "corrupt_label": (good[0], b"\x89PNG\r\n\x1a\n" + bytes(range(200))),
        "size_mismatch": (good[0], h.palette_png(label[:20])),
        "out_of_range": (good[0], h.palette_png(out_of_range)),
        "missing": (None, None),
        "gray": (h.encode(image[..., 1], "JPEG", mode="L"), good[1]),
        "rgba": (h.encode(rgba, "PNG", mode="RGBA"), good[1], ".png"),
    }
    return h.write_voc(
        tmp_path_factory.mktemp("bad") / "VOC2012", examples,
        {"train": list(examples), "clean": ["good", "gray", "rgba"], "empty": []},
    )


@pytest.fixture(scope="module")
def tool_runs(bad_voc):
    """validate_dataset on the train, clean and empty splits, in one process (one TensorFlow import)."""
    train, clean, empty = run_tools([
        ("validate_dataset", ["--dataset=voc2012", f"--dataset_dir={bad_voc}", "--split=train"]),
        ("validate_dataset", ["--dataset=voc2012", f"--dataset_dir={bad_voc}", "--split=clean", "--num_classes=21"]),
        ("validate_dataset", ["--dataset=voc2012", f"--dataset_dir={bad_voc}", "--split=empty"]),
    ])
    return {"train": train, "clean": clean, "empty": empty}


@pytest.fixture(scope="module")
def tool_on_train(tool_runs):
    return tool_runs["train"]


@pytest.mark.parametrize("example", sorted(FAULTS))
def test_library_finds_each_fault(bad_voc, example):
    report = validate_split("voc2012", bad_voc, "train")
    path, words = FAULTS[example]
    matching = [p for p in report.problems if p.filename == os.path.join(bad_voc, path)]
    assert matching and words in matching[0].fault
    assert example in report.bad_examples


def test_library_reports_nothing_else(bad_voc):
    report = validate_split("voc2012", bad_voc, "train")
    assert sorted(report.bad_examples) == sorted(FAULTS)
    assert report.num_examples == 8 and report.num_usable == 3
    noted = {os.path.relpath(n.filename, bad_voc): n.fault for n in report.notes}
    assert set(noted) == {path for path, _ in CONVERTED.values()}
    assert all(words in noted[path] for path, words in CONVERTED.values())
    assert report.class_pixel_counts.sum() > 0 and report.ignore_pixel_count > 0


@pytest.mark.parametrize("example", sorted(FAULTS))
def test_tool_exits_nonzero_naming_each_bad_file_and_fault(bad_voc, tool_on_train, example):
    assert tool_on_train.returncode == 1
    path, words = FAULTS[example]
    lines = [l for l in tool_on_train.stdout.splitlines() if os.path.join(bad_voc, path) in l]
    assert any(words in line for line in lines), tool_on_train.stdout


def test_tool_accepts_converted_images_and_prints_a_summary(tool_runs):
    result = tool_runs["clean"]
    assert result.returncode == 0, result.stdout + result.stderr
    for path, words in CONVERTED.values():
        assert any(path in l and words in l for l in result.stdout.splitlines())
    assert "3 examples, 0 unusable" in result.stdout
    assert "class pixel frequencies" in result.stdout and "background" in result.stdout


def test_tool_on_an_empty_split(tool_runs):
    empty = tool_runs["empty"]
    assert empty.returncode == 1 and "empty.txt: split lists no examples" in empty.stdout
    assert "Traceback" not in empty.stderr


def test_a_missing_split_file_is_a_data_error_naming_it(bad_voc):
    with pytest.raises(DataError, match=r"ImageSets/Segmentation/nope\.txt: split file not found"):
        validate_split("voc2012", bad_voc, "nope")


def test_skip_bad_examples_reads_the_rest_and_logs_what_it_skipped(bad_voc, caplog):
    with pytest.raises(DataError, match="missing"):
        read_split("voc2012", bad_voc, "train")
    with caplog.at_level(logging.WARNING):
        dataset = read_split("voc2012", bad_voc, "train", skip_bad_examples=True)
    names = [e["filename"].decode() for e in dataset.as_numpy_iterator()]
    assert names == ["good", "gray", "rgba"]
    assert all(e.shape[-1] == 3 for e in (x["image"] for x in dataset.as_numpy_iterator()))
    logged = caplog.text
    assert "skipping 5 of 8 examples" in logged
    assert all(os.path.join(bad_voc, path) in logged for path, _ in FAULTS.values())


def test_tfrecord_faults_name_the_shard_and_record(tmp_path, data_helpers):
    root, _ = data_helpers.simple_voc(tmp_path / "voc", num=3)
    convert.write_tfrecords("voc2012", root, str(tmp_path / "records"), 1, splits=["train"])
    shard = str(tmp_path / "records" / "train-00000-of-00001.tfrecord")
    assert validate_split("tfrecord", str(tmp_path / "records"), "train").ok
    with open(shard, "rb") as f:
        data = f.read()
    with open(shard, "wb") as f:
        f.write(data[: len(data) - 40])
    report = validate_split("tfrecord", str(tmp_path / "records"), "train")
    assert not report.ok and report.problems[-1].filename == shard
    assert "corrupt TFRecord file after record 1" in report.problems[-1].fault

    # A record whose label is out of range names the shard, the index and the example.
    from deeplab_tf.data import tfrecord
    label = np.full((4, 5), 99, np.uint8)
    record = tfrecord.make_example("odd", data_helpers.jpeg(data_helpers.make_image(4, 5)),
                                   "jpeg", 4, 5, data_helpers.index_png(label))
    with tf.io.TFRecordWriter(str(tmp_path / "t-00000-of-00001.tfrecord")) as writer:
        writer.write(record.SerializeToString())
    report = validate_split("tfrecord", str(tmp_path), "t", num_classes=21)
    assert report.bad_examples == ["odd"]
    assert "[0] odd label" in report.problems[0].filename and "99" in report.problems[0].fault
