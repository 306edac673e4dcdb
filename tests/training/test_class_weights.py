"""Class weights: the weighted loss against a hand computation, median-frequency balancing, the config."""

import math

import numpy as np
import pytest

from deeplab_tf.data import DatasetInfo, ValidationReport
from deeplab_tf.data.statistics import median_frequency_weights
from deeplab_tf.errors import ConfigError
from deeplab_tf import losses
from deeplab_tf.training import TrainConfig


def test_class_weights_scale_each_pixels_cross_entropy_as_computed_by_hand():
    # One 2x2 image, two classes; pixel (1, 1) is ignored. Logits (0, 0) everywhere but
    # at (0, 1), where class 1 leads by ln 3, so p(class 1) = 3/4 there.
    logits = np.zeros((1, 2, 2, 2), np.float32)
    logits[0, 0, 1] = [0.0, math.log(3.0)]
    labels = np.array([[[0, 1], [1, 255]]], np.int32)
    count = [float(losses.valid_pixel_count(labels))]
    assert count == [3.0]
    # By hand: CE(0,0) = ln 2 (class 0 at p = 1/2), CE(0,1) = -ln(3/4), CE(1,0) = ln 2.
    unweighted = (math.log(2) + -math.log(0.75) + math.log(2)) / 3
    weighted = (1.0 * math.log(2) + 4.0 * -math.log(0.75) + 4.0 * math.log(2)) / 3
    assert float(losses.segmentation_loss([logits], [labels], count)) == pytest.approx(unweighted, rel=1e-6)
    got = losses.segmentation_loss([logits], [labels], count, class_weights=(1.0, 4.0))
    assert float(got) == pytest.approx(weighted, rel=1e-6)
    ones = losses.segmentation_loss([logits], [labels], count, class_weights=(1.0, 1.0))
    assert float(ones) == pytest.approx(unweighted, rel=1e-6)


def test_median_frequency_weights_by_hand():
    # Class 0: 90 px in 2 images of 100 labelled px each → freq 0.45.
    # Class 1: 10 px in 1 image of 100 px → 0.1.  Class 2: 100 px in 1 image of 100 px → 1.0.
    # Class 3 never occurs → weight 1. Median of (0.45, 0.1, 1.0) = 0.45.
    report = ValidationReport("folder", "train", DatasetInfo("folder", 4))
    report.class_pixel_counts[:] = [90, 10, 100, 0]
    report.class_image_pixels[:] = [200, 100, 100, 0]
    assert median_frequency_weights(report) == pytest.approx([1.0, 4.5, 0.45, 1.0])


@pytest.mark.parametrize("weights, message", [
    ("inverse", "expected numbers or 'median_frequency'"),
    ((1.0, -1.0), "one weight >= 0"),
    ((0.0, 0.0), "not all 0"),
    (("a",), "expected numbers"),
])
def test_bad_class_weights_are_a_config_error(weights, message):
    with pytest.raises(ConfigError, match=message) as raised:
        TrainConfig(dataset_dir="d", class_weights=weights)
    assert raised.value.field == "class_weights"


def test_class_weights_are_kept_as_numbers_or_median_frequency():
    assert TrainConfig(dataset_dir="d", class_weights=[1, 2]).class_weights == (1.0, 2.0)
    assert TrainConfig(dataset_dir="d", class_weights="median_frequency").class_weights == "median_frequency"
