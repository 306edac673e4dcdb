"""The augmentation ops: eager and tf.data agree, seeds determine them, one geometry for both."""

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.data import MEAN_RGB, augment

IMAGE = np.random.default_rng(0).integers(0, 256, (23, 31, 3)).astype(np.uint8)
LABEL = np.random.default_rng(1).choice(np.array([0, 3, 7, 255], np.uint8), (23, 31))
SEED = tf.constant([11, 5], tf.int64)

OPS = {
    "random_scale": lambda i, l, s: augment.random_scale(i, l, 0.5, 2.0, 0.25, seed=s),
    "pad": lambda i, l, s: augment.pad_to_bounding_box(i, l, 40, 33),
    "random_crop": lambda i, l, s: augment.random_crop(i, l, 17, 19, seed=s),
    "random_flip": lambda i, l, s: augment.random_flip(i, l, seed=s),
    "preprocess_for_train": lambda i, l, s: augment.preprocess_for_train(i, l, (29, 27), seed=s),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_eager_and_tf_data_give_the_same_result(name):
    op = OPS[name]
    eager_image, eager_label = op(tf.constant(IMAGE), tf.constant(LABEL), SEED)
    dataset = tf.data.Dataset.from_tensors((IMAGE, LABEL)).map(lambda i, l: op(i, l, SEED))
    graph_image, graph_label = next(iter(dataset))
    np.testing.assert_array_equal(eager_image.numpy(), graph_image.numpy())
    np.testing.assert_array_equal(eager_label.numpy(), graph_label.numpy())


def test_the_seed_alone_decides_and_different_seeds_differ():
    runs = [augment.preprocess_for_train(IMAGE, LABEL, 21, seed=[s, 0]) for s in (1, 1, 2, 3, 4)]
    np.testing.assert_array_equal(runs[0][0].numpy(), runs[1][0].numpy())
    np.testing.assert_array_equal(runs[0][1].numpy(), runs[1][1].numpy())
    assert any(not np.array_equal(runs[0][0].numpy(), r[0].numpy()) for r in runs[2:])


def test_scales_come_from_the_steps_and_sizes_truncate():
    seen = set()
    for s in range(60):
        scale = float(augment.random_scale_factor(0.5, 2.0, 0.25, [s, 1]))
        seen.add(round(scale, 6))
        image, label = augment.random_scale(IMAGE, LABEL, 0.5, 2.0, 0.25, seed=[s, 1])
        assert image.shape[:2] == (int(23 * scale), int(31 * scale)) == label.shape
    assert seen == {0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0}
    continuous = {float(augment.random_scale_factor(0.5, 1.5, 0, [s, 2])) for s in range(5)}
    assert len(continuous) == 5 and all(0.5 <= c <= 1.5 for c in continuous)


def test_label_is_resized_nearest_and_image_bilinear():
    image, label = augment.random_scale(IMAGE, LABEL, 1.75, 1.75, 0.25, seed=[0, 0])
    assert set(np.unique(label.numpy())) <= {0, 3, 7, 255}
    assert label.dtype == tf.uint8 and image.dtype == tf.float32
    # Bilinear interpolation creates values between the inputs' (not all integers).
    assert np.any(image.numpy() != np.round(image.numpy()))


def test_pad_uses_the_mean_pixel_and_255_at_bottom_right_only():
    image, label = augment.pad_to_bounding_box(IMAGE, LABEL, 30, 40)
    image, label = image.numpy(), label.numpy()
    assert image.shape == (30, 40, 3) and label.shape == (30, 40)
    np.testing.assert_array_equal(image[:23, :31], IMAGE.astype(np.float32))
    np.testing.assert_array_equal(label[:23, :31], LABEL)
    mean = np.array(MEAN_RGB, np.float32)
    np.testing.assert_allclose(image[23:], np.broadcast_to(mean, (7, 40, 3)), rtol=1e-6)
    np.testing.assert_allclose(image[:, 31:], np.broadcast_to(mean, (30, 9, 3)), rtol=1e-6)
    assert (label[23:] == 255).all() and (label[:, 31:] == 255).all()
    bigger, _ = augment.pad_to_bounding_box(IMAGE, LABEL, 10, 10)
    assert bigger.shape == (23, 31, 3)  # never crops


def test_crop_and_flip_move_image_and_label_together():
    # Channel 0 encodes the label, so any geometric mismatch shows.
    image = np.repeat(LABEL[..., None], 3, axis=-1)
    for s in range(8):
        out_image, out_label = augment.preprocess_for_train(
            image, LABEL, (15, 40), min_scale=1.0, max_scale=1.0, seed=[s, 9]
        )
        out_image, out_label = out_image.numpy(), out_label.numpy()
        assert out_image.shape == (15, 40, 3) and out_label.dtype == np.int32
        real = out_image[..., 0] != np.float32(MEAN_RGB[0])
        np.testing.assert_array_equal(out_image[..., 0][real], out_label[real])
        assert (out_label[~real] == 255).all()
        # The padded columns, on the right or (flipped) on the left.
        assert (out_label[:, 31:] == 255).all() or (out_label[:, :9] == 255).all()


def test_flip_happens_about_half_the_time():
    flips = 0
    for s in range(40):
        _, label = augment.random_flip(IMAGE, LABEL, seed=[s, 3])
        flips += int(np.array_equal(label.numpy(), LABEL[:, ::-1]))
    assert 10 <= flips <= 30


def test_eval_pads_but_never_resizes():
    image, label = augment.preprocess_for_eval(IMAGE, LABEL, pad_to=(25, 35))
    assert image.shape == (25, 35, 3)
    np.testing.assert_array_equal(label.numpy()[:23, :31], LABEL)
    image, label = augment.preprocess_for_eval(IMAGE, LABEL)
    assert image.shape == (23, 31, 3) and label.dtype == tf.int32
    with pytest.raises(tf.errors.InvalidArgumentError, match="larger than the evaluation pad size"):
        augment.preprocess_for_eval(IMAGE, LABEL, pad_to=20, filename="big.jpg")
