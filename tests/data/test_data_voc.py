"""Reading the VOC directory layout: palette and index PNG labels, conversions, errors."""

import os

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.data import read_split
from deeplab_tf.errors import DataError


def _read_all(dataset):
    return list(dataset.as_numpy_iterator())


def test_reads_split_in_order_with_palette_labels_and_255(tmp_path, data_helpers):
    root, arrays = data_helpers.simple_voc(tmp_path / "VOC2012", num=5)
    examples = _read_all(read_split("voc2012", root, "train"))
    assert [e["filename"].decode() for e in examples] == sorted(arrays)[:3]
    for example in examples:
        image, label = arrays[example["filename"].decode()]
        assert example["image"].dtype == np.uint8 and example["image"].shape == image.shape
        assert np.abs(example["image"].astype(int) - image).mean() < 3  # JPEG
        assert example["label"].dtype == np.uint8
        np.testing.assert_array_equal(example["label"], label)
        assert (example["label"] == 255).any()


def test_finds_voc2012_below_vocdevkit(tmp_path, data_helpers):
    data_helpers.simple_voc(tmp_path / "VOCdevkit" / "VOC2012", num=2)
    assert len(_read_all(read_split("voc2012", str(tmp_path), "train"))) == 2


def test_train_aug_reads_index_pngs_from_segmentation_class_aug(tmp_path, data_helpers):
    image = data_helpers.make_image(10, 12)
    palette_label = np.zeros((10, 12), np.uint8)
    aug_label = np.full((10, 12), 7, np.uint8)
    aug_label[0, 0] = 255
    root = data_helpers.write_voc(
        tmp_path, {"a": (data_helpers.jpeg(image), data_helpers.palette_png(palette_label))},
        {"train": ["a"], "train_aug": ["a"]},
    )
    data_helpers.write(os.path.join(root, "SegmentationClassAug", "a.png"),
                       data_helpers.index_png(aug_label))
    np.testing.assert_array_equal(_read_all(read_split("voc2012", root, "train"))[0]["label"], 0)
    np.testing.assert_array_equal(
        _read_all(read_split("voc2012", root, "train_aug"))[0]["label"], aug_label
    )


def test_grayscale_and_rgba_images_are_converted_to_rgb(tmp_path, data_helpers):
    gray = data_helpers.make_image(8, 9)[..., 0]
    alpha = np.full((8, 9, 1), 7, np.uint8)
    rgba = np.concatenate([data_helpers.make_image(8, 9, seed=3), alpha], -1)
    label = np.zeros((8, 9), np.uint8)
    root = data_helpers.write_voc(
        tmp_path,
        {
            "gray": (data_helpers.encode(gray, "JPEG", mode="L"), data_helpers.palette_png(label)),
            "rgba": (data_helpers.encode(rgba, "PNG", mode="RGBA"),
                     data_helpers.palette_png(label), ".png"),
        },
        {"train": ["gray", "rgba"]},
    )
    gray_example, rgba_example = _read_all(read_split("voc2012", root, "train"))
    assert gray_example["image"].shape == (8, 9, 3)
    assert np.array_equal(gray_example["image"][..., 0], gray_example["image"][..., 2])
    assert np.abs(gray_example["image"][..., 0].astype(int) - gray).mean() < 3
    assert rgba_example["image"].shape == (8, 9, 3)
    np.testing.assert_array_equal(rgba_example["image"], rgba[..., :3])


def test_missing_directory_split_and_files_name_the_path(tmp_path, data_helpers):
    with pytest.raises(DataError, match="nowhere"):
        read_split("voc2012", str(tmp_path / "nowhere"), "train")
    root, _ = data_helpers.simple_voc(tmp_path / "voc", num=3)
    with pytest.raises(DataError, match=r"ImageSets/Segmentation/test\.txt"):
        read_split("voc2012", root, "test")
    data_helpers.write_voc(root, {}, {"empty": []})
    with pytest.raises(DataError, match="empty.txt: split lists no examples"):
        read_split("voc2012", root, "empty")
    os.remove(os.path.join(root, "JPEGImages", "2007_000001.jpg"))
    with pytest.raises(DataError, match=r"2007_000001\.jpg"):
        read_split("voc2012", root, "train")


def test_a_bad_label_fails_loudly_when_read_naming_the_example(tmp_path, data_helpers):
    image = data_helpers.make_image(6, 6)
    label = np.full((6, 6), 30, np.uint8)
    root = data_helpers.write_voc(
        tmp_path, {"bad_one": (data_helpers.jpeg(image), data_helpers.index_png(label))},
        {"train": ["bad_one"]},
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="bad_one"):
        _read_all(read_split("voc2012", root, "train"))
