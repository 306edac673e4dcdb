"""The parity logic: canvas fitting, agreement over the image part only, mIoU drop, limits; timing."""

import numpy as np
import pytest

import deeplab_tf
from deeplab_tf.export import ParityLimits, check_parity, convert_float32, fit_to_size, measure_latency


def _model(labels):
    """A fake model answering fixed labels (one-hot probabilities) whatever the image."""
    labels = np.asarray(labels, np.int32)[None]

    def run(images):
        assert images.dtype == np.uint8 and images.shape[1:3] == labels.shape[1:]
        return {"labels": labels, "probabilities": np.eye(3, dtype=np.float32)[labels]}

    return run


def test_fit_to_size_pads_with_the_mean_pixel_and_the_ignore_label():
    image = np.full((3, 2, 3), 7, np.uint8)
    example = fit_to_size(image, np.ones((3, 2), np.uint8), (4, 5))
    assert example.valid_size == (3, 2) and example.image.shape == (4, 5, 3)
    np.testing.assert_array_equal(example.image[:3, :2], image)
    np.testing.assert_array_equal(example.image[3, 4], [124, 117, 104])
    assert (example.label[:3, :2] == 1).all()
    assert (example.label[3] == 255).all() and (example.label[:, 2:] == 255).all()


def test_fit_to_size_shrinks_larger_images_keeping_the_aspect_ratio():
    label = np.zeros((90, 60), np.uint8)
    label[:, 30:] = 2
    example = fit_to_size(np.zeros((90, 60, 3), np.uint8), label, 30)
    assert example.valid_size == (30, 20)
    assert set(np.unique(example.label[:30, :20])) == {0, 2}  # nearest neighbour: no new classes
    with pytest.raises(deeplab_tf.InputError, match="expected an RGB image"):
        fit_to_size(np.zeros((4, 4), np.uint8), None, 4)


def test_agreement_counts_the_image_only_and_the_miou_drop_is_in_points():
    truth = np.array([[0, 1, 1, 255], [2, 2, 1, 255]])
    reference = _model([[0, 1, 1, 0], [2, 2, 1, 0]])  # perfect on the image part
    candidate = _model([[0, 1, 2, 1], [2, 2, 1, 2]])  # one image pixel wrong; padding differs
    example = deeplab_tf.export.Example(np.zeros((2, 4, 3), np.uint8), truth, (2, 3), "a")
    report = check_parity(reference, candidate, [example], num_classes=3, limits=ParityLimits(0.8, 50.0))
    assert report["pixel_agreement"] == pytest.approx(5 / 6)
    assert report["miou_reference"] == pytest.approx(1.0)
    # candidate IoUs: class 0 1/1, class 1 2/3, class 2 2/3.
    assert report["miou_tflite"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert report["miou_drop_points"] == pytest.approx(100 * (1 - 7 / 9))
    assert report["passed"] and report["failures"] == []

    strict = check_parity(reference, candidate, [example], num_classes=3, limits=ParityLimits(0.9, 1.0))
    assert not strict["passed"]
    assert strict["failures"][0].startswith("argmax agreement 83.333% < 90.000%")
    assert strict["failures"][1].startswith("mIoU drop 22.222 points > 1.000")


def test_without_labels_only_agreement_is_checked():
    example = deeplab_tf.export.Example(np.zeros((2, 2, 3), np.uint8))
    same = _model([[0, 1], [2, 0]])
    report = check_parity(same, same, [example], num_classes=3, limits=ParityLimits(1.0))
    assert report["pixel_agreement"] == 1.0 and report["miou_drop_points"] is None and report["passed"]
    assert report["num_labelled_images"] == 0
    with pytest.raises(deeplab_tf.InputError, match="at least one image"):
        check_parity(same, same, [], num_classes=3, limits=ParityLimits(1.0))


def test_measure_latency_reports_size_and_times(tiny_saved_model, tmp_path):
    path = tmp_path / "tiny.tflite"
    path.write_bytes(convert_float32(tiny_saved_model, 32))
    result = measure_latency(str(path), num_threads=2, warmup_runs=1, timed_runs=3)
    assert result["file_size_bytes"] == path.stat().st_size
    assert result["input_size"] == [32, 32] and result["num_threads"] == 2 and result["timed_runs"] == 3
    assert 0 < result["min_s"] <= result["median_s"] <= result["max_s"]
