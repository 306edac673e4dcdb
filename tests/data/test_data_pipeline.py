"""train_pipeline and eval_pipeline: shapes, dtypes, padding and determinism."""

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.data import MEAN_RGB, eval_pipeline, read_split, train_pipeline
from deeplab_tf.errors import ConfigError


@pytest.fixture(scope="module")
def voc_root(tmp_path_factory, data_helpers):
    root, _ = data_helpers.simple_voc(tmp_path_factory.mktemp("voc"), num=6, size=(20, 26))
    return root


def _batches(dataset, count):
    return [(i.numpy(), l.numpy()) for i, l in dataset.take(count)]


def test_train_batches_have_the_contract_shapes(voc_root):
    examples = read_split("voc2012", voc_root, "train")
    dataset = train_pipeline(examples, crop_size=(24, 30), batch_size=2, seed=3)
    assert dataset.element_spec[0].shape.as_list() == [2, 24, 30, 3]
    assert dataset.element_spec[1].shape.as_list() == [2, 24, 30]
    for images, labels in _batches(dataset, 5):  # 4 examples, repeated
        assert images.dtype == np.float32 and labels.dtype == np.int32
        assert images.min() >= 0 and images.max() <= 255
        assert set(np.unique(labels)) <= set(range(21)) | {255}


def test_train_pipeline_is_deterministic_by_seed(voc_root):
    def run(seed):
        examples = read_split("voc2012", voc_root, "train")
        return _batches(train_pipeline(examples, crop_size=16, batch_size=3, seed=seed), 4)

    first, again, other = run(7), run(7), run(8)
    for (a_images, a_labels), (b_images, b_labels) in zip(first, again):
        np.testing.assert_array_equal(a_images, b_images)
        np.testing.assert_array_equal(a_labels, b_labels)
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(first, other))


def test_small_images_are_padded_with_mean_and_255(voc_root):
    examples = read_split("voc2012", voc_root, "train")
    dataset = train_pipeline(examples, crop_size=40, batch_size=1, min_scale=1.0,
                             max_scale=1.0, flip=False, seed=0, repeat=False)
    count = 0
    for images, labels in _batches(dataset, 10):
        count += 1
        mean = np.broadcast_to(np.array(MEAN_RGB, np.float32), (20, 40, 3))
        np.testing.assert_allclose(images[0, 20:, :], mean, rtol=1e-6)
        assert (labels[0, 20:, :] == 255).all() and (labels[0, :, 26:] == 255).all()
    assert count == 4  # repeat=False: one pass, drop_remainder at batch 1 keeps all


def test_bad_pipeline_arguments_name_the_setting(voc_root):
    examples = read_split("voc2012", voc_root, "train")
    with pytest.raises(ConfigError) as raised:
        train_pipeline(examples, crop_size=0, batch_size=2)
    assert raised.value.field == "crop_size"
    with pytest.raises(ConfigError) as raised:
        train_pipeline(examples, crop_size=8, batch_size=2, min_scale=2.0, max_scale=1.0)
    assert raised.value.field == "min_scale"


def test_eval_keeps_original_size_or_pads(voc_root, data_helpers):
    originals = list(read_split("voc2012", voc_root, "val").as_numpy_iterator())
    plain = list(eval_pipeline(read_split("voc2012", voc_root, "val")).as_numpy_iterator())
    padded = eval_pipeline(read_split("voc2012", voc_root, "val"), pad_to=32)
    padded = list(padded.as_numpy_iterator())
    assert len(plain) == len(padded) == len(originals) == 2
    for original, unpadded, pad in zip(originals, plain, padded):
        assert unpadded["image"].shape == (1, 20, 26, 3) and unpadded["image"].dtype == np.float32
        assert unpadded["label"].dtype == np.int32 and unpadded["filename"].shape == (1,)
        np.testing.assert_array_equal(unpadded["image"][0], original["image"].astype(np.float32))
        assert pad["image"].shape == (1, 32, 32, 3) and pad["label"].shape == (1, 32, 32)
        np.testing.assert_array_equal(pad["label"][0, :20, :26], original["label"])
        assert (pad["label"][0, 20:] == 255).all() and (pad["label"][0, :, 26:] == 255).all()
        np.testing.assert_array_equal(pad["original_size"][0], [20, 26])
    with pytest.raises(tf.errors.InvalidArgumentError, match="2007_00000"):
        list(eval_pipeline(read_split("voc2012", voc_root, "val"), pad_to=16).as_numpy_iterator())
