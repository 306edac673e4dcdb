"""Cityscapes and ADE20K: label mappings on arrays, and tiny builds from manual downloads."""

import os
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.data import read_split
from deeplab_tf.data.ade20k import to_train_ids as ade20k_to_train_ids
from deeplab_tf.data.cityscapes import to_train_ids as cityscapes_to_train_ids
from deeplab_tf.errors import DataError

# cityscapesScripts labels.py: (label id, train id) of the 19 evaluated classes.
CITYSCAPES_PAIRS = [
    (7, 0), (8, 1), (11, 2), (12, 3), (13, 4), (17, 5), (19, 6), (20, 7), (21, 8),
    (22, 9), (23, 10), (24, 11), (25, 12), (26, 13), (27, 14), (28, 15), (31, 16),
    (32, 17), (33, 18),
]


def test_cityscapes_label_ids_map_to_19_train_ids_and_255():
    ids = np.arange(256, dtype=np.uint8).reshape(16, 16)
    mapped = cityscapes_to_train_ids(ids)
    expected = np.full(256, 255, np.uint8)
    for label_id, train_id in CITYSCAPES_PAIRS:
        expected[label_id] = train_id
    np.testing.assert_array_equal(mapped.ravel(), expected)
    # Unlabeled, ego vehicle, parking, rail track, guard rail, caravan, trailer: ignored.
    assert all(mapped.ravel()[i] == 255 for i in (0, 1, 6, 9, 10, 14, 29, 30))
    np.testing.assert_array_equal(cityscapes_to_train_ids(tf.constant(ids)).numpy(), mapped)


def test_ade20k_zero_becomes_255_and_classes_shift_down():
    labels = np.array([[0, 1, 2, 150], [151, 200, 255, 75]], np.uint8)
    expected = np.array([[255, 0, 1, 149], [255, 255, 255, 74]], np.uint8)
    np.testing.assert_array_equal(ade20k_to_train_ids(labels), expected)
    np.testing.assert_array_equal(ade20k_to_train_ids(tf.constant(labels)).numpy(), expected)
    assert ade20k_to_train_ids(labels).dtype == np.uint8


def test_missing_manual_downloads_say_where_to_put_them(tmp_path):
    with pytest.raises(DataError, match="downloads/manual"):
        read_split("cityscapes", str(tmp_path), "train")


def test_ade20k_builds_from_its_manual_download(tmp_path, data_helpers):
    ade = tmp_path / "downloads" / "manual" / "ADEChallengeData2016"
    label = (np.arange(48, dtype=np.uint8).reshape(6, 8) * 4)
    for folder, prefix in (("training", "ADE_train"), ("validation", "ADE_val")):
        for i in range(2):
            data_helpers.write(str(ade / "images" / folder / f"{prefix}_{i:08d}.jpg"),
                               data_helpers.jpeg(data_helpers.make_image(6, 8, seed=i)))
            data_helpers.write(str(ade / "annotations" / folder / f"{prefix}_{i:08d}.png"),
                               data_helpers.index_png(label))
    examples = sorted(read_split("ade20k", str(tmp_path), "val").as_numpy_iterator(),
                      key=lambda e: e["filename"])  # TFDS orders by key hash
    assert [e["filename"] for e in examples] == [b"ADE_val_00000000", b"ADE_val_00000001"]
    np.testing.assert_array_equal(examples[0]["label"], ade20k_to_train_ids(label))
    assert examples[0]["image"].shape == (6, 8, 3)


def test_cityscapes_builds_from_its_manual_zips(tmp_path, data_helpers):
    manual = tmp_path / "downloads" / "manual"
    os.makedirs(manual)
    label_ids = np.zeros((1024, 2048), np.uint8)
    label_ids[:512] = 7    # road
    label_ids[512:, :1024] = 26  # car
    label_ids[512:, 1024:] = 4   # static: ignored
    image = np.zeros((1024, 2048, 3), np.uint8)
    image[:512] = 90
    with zipfile.ZipFile(manual / "leftImg8bit_trainvaltest.zip", "w") as images, \
            zipfile.ZipFile(manual / "gtFine_trainvaltest.zip", "w") as labels:
        for split in ("train", "val", "test"):
            stem = f"{split}/aachen/aachen_000000_000019"
            images.writestr(f"leftImg8bit/{stem}_leftImg8bit.png",
                            data_helpers.encode(image, "PNG"))
            labels.writestr(f"gtFine/{stem}_gtFine_labelIds.png", data_helpers.index_png(label_ids))
    (example,) = read_split("cityscapes", str(tmp_path), "val").as_numpy_iterator()
    assert example["filename"] == b"aachen_000000_000019"
    np.testing.assert_array_equal(example["image"], image)
    assert (example["label"][:512] == 0).all() and (example["label"][512:, :1024] == 13).all()
    assert (example["label"][512:, 1024:] == 255).all()
