"""Tests for the streaming confusion matrix and the metrics computed from it."""

import ast
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.errors import InputError
from deeplab_tf.metrics import ConfusionMatrix, compute_metrics


def _random_batch(rng, num_classes, shape=(3, 17, 23), ignore_fraction=0.2):
    labels = rng.integers(0, num_classes, shape)
    labels[rng.random(shape) < ignore_fraction] = 255
    # Predictions agree with the labels most of the time so IoUs are not all ~0.
    predictions = np.where(rng.random(shape) < 0.6, labels, rng.integers(0, num_classes, shape))
    predictions[predictions == 255] = 0
    return labels, predictions


def _numpy_miou(labels, predictions, num_classes):
    """Independent reference: per-class IoU by counting, absent classes skipped."""
    keep = labels != 255
    labels, predictions = labels[keep], predictions[keep]
    ious = []
    for c in range(num_classes):
        intersection = np.sum((labels == c) & (predictions == c))
        union = np.sum((labels == c) | (predictions == c))
        if union:
            ious.append(intersection / union)
    return np.mean(ious), np.mean(labels == predictions)


def test_miou_matches_numpy_with_ignore_pixels():
    rng = np.random.default_rng(1)
    labels, predictions = _random_batch(rng, num_classes=6)
    metric = ConfusionMatrix(num_classes=6)
    metric.update_state(labels, predictions)
    metrics = compute_metrics(metric.result())
    miou, accuracy = _numpy_miou(labels, predictions, 6)
    assert metrics["miou"] == pytest.approx(miou, rel=1e-12)
    assert metrics["pixel_accuracy"] == pytest.approx(accuracy, rel=1e-12)
    assert metrics["num_pixels"] == int(np.sum(labels != 255))
    assert metric.result().dtype == tf.int64


def test_class_absent_from_labels_and_predictions_is_left_out_of_the_mean():
    labels = np.array([[0, 0, 1, 1, 255]])
    predictions = np.array([[0, 2, 1, 1, 3]])  # class 3 only under an ignored pixel
    metric = ConfusionMatrix(num_classes=4)
    metric.update_state(labels, predictions)
    metrics = compute_metrics(metric.result())
    # Class 2: predicted once, never true → IoU 0, counted; class 3: absent.
    assert metrics["per_class_iou"] == [0.5, 1.0, 0.0, None]
    assert metrics["miou"] == pytest.approx(0.5)
    assert metrics["per_class_accuracy"] == [0.5, 1.0, None, None]
    json.dumps(metrics)  # None, not NaN: the metrics files must be valid JSON


def test_batches_accumulated_in_tf_function_equal_one_big_batch():
    rng = np.random.default_rng(2)
    batches = [_random_batch(rng, num_classes=5) for _ in range(4)]
    streaming = ConfusionMatrix(num_classes=5)
    update = tf.function(streaming.update_state)
    for labels, predictions in batches:
        update(tf.constant(labels), tf.constant(predictions))
    whole = ConfusionMatrix(num_classes=5)
    whole.update_state(
        np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
    )
    np.testing.assert_array_equal(streaming.result(), whole.result())
    assert int(np.sum(streaming.result())) == sum(int(np.sum(b[0] != 255)) for b in batches)
    streaming.reset_state()
    assert int(np.sum(streaming.result())) == 0


def test_valid_mask_and_custom_ignore_label():
    labels = np.array([0, 1, 2, 1])
    predictions = np.array([0, 1, 1, 0])
    metric = ConfusionMatrix(num_classes=3, ignore_label=2)
    metric.update_state(labels, predictions, valid_mask=np.array([True, True, True, False]))
    np.testing.assert_array_equal(metric.result(), [[1, 0, 0], [0, 1, 0], [0, 0, 0]])


def test_out_of_range_label_fails_instead_of_being_dropped():
    metric = ConfusionMatrix(num_classes=3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_classes"):
        metric.update_state(np.array([0, 7]), np.array([0, 1]))


def test_bad_inputs_raise_input_error():
    with pytest.raises(InputError, match="num_classes"):
        ConfusionMatrix(num_classes=0)
    with pytest.raises(InputError, match="square"):
        compute_metrics(np.zeros((3, 4)))
    empty = compute_metrics(np.zeros((3, 3), np.int64))
    assert empty["miou"] is None and empty["pixel_accuracy"] is None


_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from deeplab_tf.metrics import ConfusionMatrix

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, (8, 9, 11))
    labels[rng.random(labels.shape) < 0.2] = 255
    predictions = np.where(rng.random(labels.shape) < 0.5, labels, rng.integers(0, 4, labels.shape))
    predictions[predictions == 255] = 1
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        metric = ConfusionMatrix(num_classes=4)
    dataset = tf.data.Dataset.from_tensor_slices((labels, predictions)).batch(4)

    @tf.function
    def step(batch):
        strategy.run(metric.update_state, args=batch)

    for batch in strategy.experimental_distribute_dataset(dataset):
        step(batch)
    per_replica = [int(tf.reduce_sum(v)) for v in metric.counts.value.values]
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "per_replica": per_replica,
        "confusion": metric.result().numpy().tolist(),
        "labels": labels.tolist(),
        "predictions": predictions.tolist(),
    }))
    """
)


def test_sums_over_replicas_under_mirrored_strategy(tmp_path):
    # Logical devices must be configured before TF starts: use a fresh process.
    completed = subprocess.run(
        [sys.executable, "-c", _MIRRORED_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).parents[1])},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert all(count > 0 for count in report["per_replica"])  # both replicas counted pixels
    labels, predictions = np.array(report["labels"]), np.array(report["predictions"])
    keep = labels != 255
    expected = np.zeros((4, 4), np.int64)
    np.add.at(expected, (labels[keep], predictions[keep]), 1)
    np.testing.assert_array_equal(report["confusion"], expected)


def test_the_metrics_and_the_label_convention_never_import_the_data_package():
    # The label convention lives below both (docs/architecture.md, Import rules). The package's
    # __init__ imports `data` for users, so the modules' own imports are what is checked.
    root = pathlib.Path(__file__).parents[1] / "deeplab_tf"
    for module in ("metrics.py", "label_space.py", "losses.py"):
        tree = ast.parse((root / module).read_text())
        imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        assert not [name for name in imported if name and name.startswith("deeplab_tf.data")], module
