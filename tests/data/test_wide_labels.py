"""More than 255 classes: 16-bit and RGB masks, uint16 labels with ignore 65535, through every stage."""

import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deeplab_tf import visualize
from deeplab_tf.data import dataset_info, eval_pipeline, palettes, read_split, tfrecord, train_pipeline, validate_split
from deeplab_tf.data.convert import write_tfrecords
from deeplab_tf.errors import DataError
from deeplab_tf.metrics import ConfusionMatrix
from deeplab_tf import losses
from tests.data.test_folder import png, write_folder

NAMES = [f"c{k}" for k in range(300)]
PRESENT = (0, 7, 255, 256, 299)  # a handful of the 300 classes, 255 among them: a class here, not ignored


def stored_mask(seed, size=16):
    """uint16 values of PRESENT in blocks, with a row of 65535 (ignored)."""
    rng = np.random.default_rng(seed)
    mask = np.asarray(PRESENT, np.uint16)[rng.integers(0, len(PRESENT), (size // 4, size // 4))]
    mask = np.kron(mask, np.ones((4, 4), np.uint16))
    mask[0] = 65535
    return mask


def write_set(root, masks, classes):
    """A folder set: `masks` {name: uint16 or RGB array} as PNGs, PNG images, all in the train split."""
    encoded = {name: png(mask, None) for name, mask in masks.items()}
    return write_folder(root, encoded, classes, splits={"train": list(masks)}, image_ext=".png")


def labels_of(name, root, split="train"):
    return {e["filename"].decode(): e["label"] for e in read_split(name, root, split).as_numpy_iterator()}


def test_300_classes_in_16_bit_masks_read_validate_and_convert_to_16_bit_tfrecords(tmp_path):
    masks = {"a": stored_mask(0), "b": stored_mask(1)}
    root = write_set(tmp_path / "folder", masks, {"names": NAMES, "ignore_label": 65535})
    info = dataset_info("folder", root)
    assert (info.num_classes, info.ignore_label, info.label_dtype) == (300, 65535, "uint16")
    labels = labels_of("folder", root)
    assert labels["a"].dtype == np.uint16
    np.testing.assert_array_equal(labels["a"], masks["a"])
    report = validate_split("folder", root, "train")
    assert report.ok and report.ignore_pixel_count == 2 * 16
    assert np.flatnonzero(report.class_pixel_counts).tolist() == sorted({int(v) for m in masks.values()
                                                                         for v in np.unique(m) if v < 300})

    out = str(tmp_path / "shards")
    assert write_tfrecords("folder", root, out, 1) == {"train": 2}
    assert json.loads(open(os.path.join(out, "dataset.json")).read())["ignore_label"] == 65535
    record = tfrecord.parse_example_numpy(next(tf.data.TFRecordDataset(tfrecord.find_shards(out, "train"))
                                               .as_numpy_iterator()))
    assert Image.open(io.BytesIO(record["label"])).mode == "I;16"
    shards = labels_of("tfrecord", out)
    for name, label in labels.items():
        np.testing.assert_array_equal(shards[name], label)
    assert validate_split("tfrecord", out, "train").ok


def test_rgb_masks_and_ignore_label_zero_above_255_classes(tmp_path):
    colors = [[k % 256, k // 256 * 100, 255 - k % 256] for k in range(300)]
    values = stored_mask(2)
    values[0] = 299
    root = write_set(tmp_path / "rgb", {"a": np.asarray(colors, np.uint8)[values]}, {"names": NAMES, "colors": colors})
    assert dataset_info("folder", root).palette[299] == tuple(colors[299])
    np.testing.assert_array_equal(labels_of("folder", root)["a"], values)

    # ignore_label 0: stored 1..300 are classes 0..299, stored 0 → 65535 (uint16 wraps as uint8 does to 255).
    stored = stored_mask(3) + 1
    stored[0] = 0
    root = write_set(tmp_path / "zero", {"a": stored}, {"names": ["other", *NAMES], "ignore_label": 0})
    info = dataset_info("folder", root)
    assert (info.num_classes, info.ignore_label) == (300, 65535)
    np.testing.assert_array_equal(labels_of("folder", root)["a"], np.where(stored == 0, 65535, stored - 1))


def test_an_ignore_label_among_the_classes_is_an_error_naming_classes_json_or_dataset_json(tmp_path):
    for index, (classes, message) in enumerate([
        ({"names": NAMES, "ignore_label": 255}, r"\"ignore_label\" 255 is a class \('c255'\).* from 300 to 65535"),
        ({"names": NAMES, "ignore_label": 70000}, r"\"ignore_label\" must be an integer 0\.\.65535"),
        ({"names": [f"c{k}" for k in range(1001)]}, "1001 classes; a folder dataset has 2 to 1000"),
    ]):
        root = write_set(tmp_path / str(index), {"a": stored_mask(0)}, classes)
        with pytest.raises(DataError, match=message) as raised:
            dataset_info("folder", root)
        assert str(raised.value).startswith(os.path.join(root, "classes.json"))
    # Without "ignore_label", more than 255 names ignore 65535 (255 is a class).
    root = write_set(tmp_path / "default", {"a": stored_mask(0)}, {"names": NAMES})
    assert dataset_info("folder", root).ignore_label == 65535
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "dataset.json").write_text(json.dumps({"num_classes": 300, "ignore_label": 255}))
    with pytest.raises(DataError, match=r"dataset\.json: \"ignore_label\" 255 collides with the 300 classes"):
        dataset_info("tfrecord", str(tmp_path / "t"))


def test_uint16_labels_pad_with_65535_and_the_loss_and_metrics_leave_it_out(tmp_path):
    mask = stored_mask(4)
    root = write_set(tmp_path, {"a": mask}, {"names": NAMES})
    _, labels = next(iter(train_pipeline(read_split("folder", root, "train"), crop_size=(24, 20), batch_size=1,
                                         min_scale=1.0, max_scale=1.0, flip=False, ignore_label=65535, seed=0)))
    assert labels.dtype == tf.int32
    np.testing.assert_array_equal(labels[0, 16:], 65535)  # padding below the 16-pixel image
    (element,) = eval_pipeline(read_split("folder", root, "train"), pad_to=20, ignore_label=65535)
    np.testing.assert_array_equal(element["label"][0, :16, :16], mask)

    # Cross-entropy and the confusion matrix count the 299s and skip the 65535s.
    truth = tf.constant([[[299, 65535]]], tf.int32)
    logits = tf.one_hot([[[299, 0]]], 300) * 5.0
    count = losses.valid_pixel_count(truth, 65535)
    expected = -np.log(np.exp(5.0) / (np.exp(5.0) + 299))
    assert float(count) == 1.0
    np.testing.assert_allclose(losses.pixel_cross_entropy_sum(logits, truth, 65535), expected, rtol=1e-5)
    confusion = ConfusionMatrix(300, 65535)
    confusion.update_state(truth, tf.constant([[[299, 3]]]))
    assert int(confusion.result()[299, 299]) == 1 and int(tf.reduce_sum(confusion.result())) == 1


def test_a_distinct_palette_for_1000_classes_and_16_bit_prediction_pngs():
    assert len(set(palettes.distinct_colors(1000))) == 1000
    palette = palettes.palette_array(palettes.distinct_colors(300), 65535)
    assert palette.shape == (65536, 3)
    assert palette[65535].tolist() == visualize.voc_palette()[255].tolist()
    assert visualize.colorize(np.array([[299, 65535]]), palette)[0, 0].tolist() == list(palette[299])
    labels = np.array([[0, 299], [256, 7]], np.uint16)
    picture = Image.open(io.BytesIO(visualize.label_png(labels, palette)))
    assert picture.mode == "I;16"
    np.testing.assert_array_equal(np.asarray(picture), labels)
