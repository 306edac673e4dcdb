"""The loss: cross-entropy over labelled pixels / their count; label downsampling; weight decay."""

import numpy as np
import tensorflow as tf

from deeplab_tf import losses
from deeplab_tf.training.summaries import batch_confusion_matrix


def _reference(logits, labels):
    logits = logits.astype(np.float64)
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    valid = labels != 255
    picked = np.take_along_axis(log_softmax, np.where(valid, labels, 0)[..., None], -1)[..., 0]
    return -(picked * valid).sum(), valid.sum()


def test_cross_entropy_ignores_255_and_divides_by_labelled_pixels():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 5, 7, 4)).astype(np.float32)
    labels = rng.integers(0, 4, size=(2, 5, 7)).astype(np.int32)
    labels[0, :2] = 255
    total, count = _reference(logits, labels)
    got_sum = losses.pixel_cross_entropy_sum(logits, labels)
    got_count = losses.valid_pixel_count(labels)
    assert float(got_count) == count
    np.testing.assert_allclose(float(got_sum), total, rtol=1e-5)
    loss = losses.segmentation_loss([logits], [labels], tf.constant([float(count)]))
    np.testing.assert_allclose(float(loss), total / count, rtol=1e-5)


def test_split_over_replicas_sums_to_the_whole_batch_loss():
    """Each replica divides by the global count, so the replicas' losses add up to the batch loss."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 6, 6, 3)).astype(np.float32)
    labels = rng.integers(0, 3, size=(4, 6, 6)).astype(np.int32)
    labels[:1, :3] = 255
    count = tf.constant([float(losses.valid_pixel_count(labels))])
    whole = losses.segmentation_loss([logits], [labels], count)
    halves = [losses.segmentation_loss([logits[i:i + 2]], [labels[i:i + 2]], count) for i in (0, 2)]
    np.testing.assert_allclose(float(whole), float(sum(halves)), rtol=1e-6)


def test_all_ignored_gives_zero_not_nan():
    labels = np.full((1, 4, 4), 255, np.int32)
    loss = losses.segmentation_loss([np.zeros((1, 4, 4, 3), np.float32)], [labels], tf.constant([0.0]))
    assert float(loss) == 0.0


def test_downsampled_labels_take_every_eighth_pixel_of_a_321_crop():
    labels = np.arange(321 * 321, dtype=np.int32).reshape(1, 321, 321) % 1000
    small = losses.downsample_labels(tf.constant(labels), (41, 41)).numpy()
    np.testing.assert_array_equal(small[0], labels[0, ::8, ::8])


def test_weight_decay_is_half_sum_of_squares():
    kernels = [tf.Variable(np.full((3, 3), 2.0, np.float32)), tf.Variable(np.ones((2,), np.float32))]
    np.testing.assert_allclose(float(losses.weight_decay_loss(kernels, 1e-4)), 1e-4 * (9 * 4 + 2) / 2, rtol=1e-6)


def test_batch_confusion_matrix_skips_ignored_pixels():
    labels = np.array([[0, 1, 2, 255], [1, 1, 0, 2]])
    predictions = np.array([[0, 2, 2, 1], [1, 0, 0, 2]])
    counts = batch_confusion_matrix(labels, predictions, 3, 255).numpy()
    expected = np.zeros((3, 3), int)
    for label, prediction in zip(labels.ravel(), predictions.ravel()):
        if label != 255:
            expected[label, prediction] += 1
    np.testing.assert_array_equal(counts, expected)
