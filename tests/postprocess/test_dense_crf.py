"""Tests for the dense CRF: agreement with pydensecrf, its effect, padding, batching, export."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from deeplab_tf.errors import InputError
from deeplab_tf.postprocess import CRFParams, dense_crf, dense_crf_tf
from deeplab_tf.postprocess.composite_filter import composite_pays
from deeplab_tf.postprocess.lattice import build_lattice
from tests.postprocess.bilateral_features import bilateral_features

pytest.importorskip("pydensecrf.densecrf")


def make_scene(seed, height=64, width=80, num_classes=4, num_shapes=5):
    """An RGB image whose object edges are colour edges, its labels, and blurred logits.

    Returns:
        image: uint8 [H, W, 3]; labels: int [H, W]; logits: float32 [H, W, C], a
        blurred, noisy version of the one-hot labels (boundaries smeared, corners
        rounded), as an upsampled low-resolution network output looks.
    """
    rng = np.random.default_rng(seed)
    labels = np.zeros((height, width), np.int64)
    palette = rng.uniform(0, 255, (num_shapes + 1, 3))
    regions = np.zeros((height, width), np.int64)
    rows, columns = np.mgrid[:height, :width]
    for shape in range(1, num_shapes + 1):
        size_y = rng.integers(height // 6 + 2, height // 2 + 3)
        size_x = rng.integers(width // 6 + 2, width // 2 + 3)
        top, left = rng.integers(0, height - size_y), rng.integers(0, width - size_x)
        if shape % 2:
            inside = (rows >= top) & (rows < top + size_y)
            inside &= (columns >= left) & (columns < left + size_x)
        else:
            inside = ((rows - top - size_y / 2) / (size_y / 2)) ** 2 + (
                (columns - left - size_x / 2) / (size_x / 2)
            ) ** 2 < 1
        regions[inside] = shape
        labels[inside] = 1 + (shape - 1) % (num_classes - 1)
    image = palette[regions] + rng.normal(0, 4, (height, width, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    one_hot = np.eye(num_classes)[labels]
    blurred = ndimage.gaussian_filter(one_hot, sigma=(3, 3, 0))
    logits = 4.0 * blurred + rng.normal(0, 0.4, blurred.shape)
    return image, labels, logits.astype(np.float32)


def mean_iou(labels, predictions, num_classes):
    ious = []
    for c in range(num_classes):
        union = np.sum((labels == c) | (predictions == c))
        if union:
            ious.append(np.sum((labels == c) & (predictions == c)) / union)
    return float(np.mean(ious))


def _softmax(logits):
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("seed,logit_noise", [(0, 0.0), (1, 0.0), (2, 1.5)])
def test_tf_backend_agrees_with_pydensecrf(seed, logit_noise):
    image, _, logits = make_scene(seed)
    # Extra logit noise makes many decisions marginal, a harder test of agreement.
    noise = np.random.default_rng(seed).normal(0, logit_noise, logits.shape)
    logits = logits + noise.astype(np.float32)
    ours = dense_crf(image, logits, backend="tf")
    reference = dense_crf(image, logits, backend="pydensecrf")
    assert ours.shape == reference.shape == logits.shape
    agreement = np.mean(ours.argmax(-1) == reference.argmax(-1))
    assert agreement >= 0.999
    np.testing.assert_allclose(ours, reference, atol=1e-3)
    # The CRF did change things, so agreeing is not trivial.
    assert np.mean(ours.argmax(-1) != logits.argmax(-1)) > 0.01


def test_tf_backend_agrees_with_pydensecrf_on_a_noise_image():
    # Uniform noise: the bilateral lattice has a vertex per pixel corner, and the
    # composite filtering (one sparse matmul per iteration) is the one built.
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    logits = rng.normal(size=(64, 80, 6)).astype(np.float32)
    assert bool(composite_pays(build_lattice(bilateral_features(image))))
    ours = dense_crf(image, logits, backend="tf")
    reference = dense_crf(image, logits, backend="pydensecrf")
    assert np.mean(ours.argmax(-1) == reference.argmax(-1)) >= 0.999
    np.testing.assert_allclose(ours, reference, atol=1e-3)
    assert np.mean(ours.argmax(-1) != logits.argmax(-1)) > 0.01


def test_crf_raises_miou_of_a_blurred_prediction():
    gains = []
    for seed in range(3):
        image, labels, logits = make_scene(seed)
        before = mean_iou(labels, logits.argmax(-1), 4)
        after = mean_iou(labels, dense_crf(image, logits).argmax(-1), 4)
        gains.append(after - before)
    # Measured: 84.4 → 100.0, 88.2 → 99.7, 89.0 → 98.2 % mIoU; require a clear
    # gain on every scene.
    assert min(gains) > 0.05
    assert np.mean(gains) > 0.08


def test_zero_iterations_is_the_softmax():
    image, _, logits = make_scene(3, height=20, width=24)
    # Eagerly: the graph entry point also runs op by op.
    refined = dense_crf_tf(image, logits, CRFParams(iterations=0))
    np.testing.assert_allclose(refined, _softmax(logits), atol=1e-6)


def test_valid_size_runs_on_the_unpadded_region_only():
    image, _, logits = make_scene(4, height=40, width=48)
    padded_image = np.pad(image, [(0, 9), (0, 7), (0, 0)], constant_values=0)
    padded_logits = np.pad(logits, [(0, 9), (0, 7), (0, 0)], constant_values=5.0)
    for backend in ("tf", "pydensecrf"):
        padded = dense_crf(padded_image, padded_logits, backend=backend, valid_size=(40, 48))
        unpadded = dense_crf(image, logits, backend=backend)
        np.testing.assert_allclose(padded[:40, :48], unpadded, atol=1e-5)
        np.testing.assert_allclose(padded[40:], _softmax(padded_logits[40:]), atol=1e-6)
        np.testing.assert_allclose(padded[:, 48:], _softmax(padded_logits[:, 48:]), atol=1e-6)


def test_probabilities_input_matches_logits_input():
    image, _, logits = make_scene(5, height=32, width=40)
    from_logits = dense_crf(image, logits)
    from_probabilities = dense_crf(image, _softmax(logits), from_probabilities=True)
    np.testing.assert_allclose(from_probabilities, from_logits, atol=1e-4)


def test_batched_graph_entry_point_matches_single_images():
    scenes = [make_scene(seed, height=32, width=40) for seed in (6, 7)]
    images = np.stack([scene[0] for scene in scenes])
    logits = np.stack([scene[2] for scene in scenes])
    valid_sizes = np.array([[32, 40], [25, 30]], np.int32)
    refine = tf.function(lambda i, p, v: dense_crf_tf(i, p, valid_size=v, from_probabilities=True))
    batched = refine(images, _softmax(logits), valid_sizes)
    for k in range(2):
        single = dense_crf(images[k], logits[k], valid_size=tuple(valid_sizes[k]))
        np.testing.assert_allclose(batched[k], single, atol=1e-5)


def test_a_batch_refines_as_its_images_one_by_one_with_both_backends():
    scenes = [make_scene(seed, height=24, width=28, num_shapes=3) for seed in (10, 11, 12)]
    images = np.stack([scene[0] for scene in scenes])
    logits = np.stack([scene[2] for scene in scenes])
    valid_sizes = [(24, 28), (20, 28), (24, 19)]
    for backend in ("tf", "pydensecrf"):
        batched = dense_crf(images, logits, backend=backend, valid_size=valid_sizes)
        assert batched.shape == logits.shape
        for k in range(3):
            single = dense_crf(images[k], logits[k], backend=backend, valid_size=valid_sizes[k])
            np.testing.assert_allclose(batched[k], single, atol=1e-5)
    with pytest.raises(InputError, match="3 images but 2 logits"):
        dense_crf(images, logits[:2])
    with pytest.raises(InputError, match=r"valid_size .*\[3, 2\]"):
        dense_crf(images, logits, valid_size=(24, 28))


def test_runs_inside_a_saved_model_for_any_size(tmp_path):
    class Refiner(tf.Module):
        @tf.function(
            input_signature=[
                tf.TensorSpec([None, None, 3], tf.uint8),
                tf.TensorSpec([None, None, 4], tf.float32),
            ]
        )
        def __call__(self, image, logits):
            return dense_crf_tf(image, logits, CRFParams(iterations=3))

    tf.saved_model.save(Refiner(), str(tmp_path / "crf"))
    restored = tf.saved_model.load(str(tmp_path / "crf"))
    for height, width in ((24, 30), (33, 17)):
        image, _, logits = make_scene(8, height=height, width=width, num_shapes=2)
        expected = dense_crf(image, logits, CRFParams(iterations=3))
        np.testing.assert_allclose(restored(image, logits), expected, atol=1e-5)


def test_bad_inputs_raise_input_error():
    image, _, logits = make_scene(9, height=16, width=20, num_shapes=1)
    with pytest.raises(InputError, match="allowed: tf, pydensecrf"):
        dense_crf(image, logits, backend="cuda")
    with pytest.raises(InputError, match="16x20 but logits are 16x19"):
        dense_crf(image, logits[:, :19])
    with pytest.raises(InputError, match="uint8"):
        dense_crf(image.astype(np.float32), logits)
    with pytest.raises(InputError, match="valid_size"):
        dense_crf(image, logits, valid_size=(17, 20))
    with pytest.raises(InputError, match="bilateral_rgb_std"):
        CRFParams(bilateral_rgb_std=0)
    with pytest.raises(InputError, match="iterations"):
        CRFParams(iterations=2.5)
