"""The v3+ decoder and ASPP's mobile form (no atrous branches)."""

import numpy as np
import pytest

from deeplab_tf.heads import ASPP, Decoder


@pytest.mark.parametrize("separable", [True, False])
def test_decoder_output_at_the_low_level_size_and_parameter_count(separable):
    features = np.random.default_rng(0).normal(size=(2, 3, 4, 32)).astype("float32")
    low_level = np.random.default_rng(1).normal(size=(2, 11, 13, 24)).astype("float32")
    decoder = Decoder(filters=16, separable=separable)
    for training in (False, True):
        out = decoder([features, low_level], training=training)
        assert out.shape == (2, 11, 13, 16) and np.all(np.isfinite(out))
    bn = lambda channels: 4 * channels  # noqa: E731  (gamma, beta, moving mean and variance)
    projection = 24 * 48 + bn(48)
    channels = 48 + 32
    if separable:  # depthwise 3x3 + BN, pointwise 1x1 + BN, twice
        refinement = (9 * channels + bn(channels) + channels * 16 + bn(16)) + (9 * 16 + bn(16) + 16 * 16 + bn(16))
    else:
        refinement = (9 * channels * 16 + bn(16)) + (9 * 16 * 16 + bn(16))
    assert decoder.count_params() == projection + refinement


def test_aspp_without_atrous_rates_is_the_1x1_branch_and_image_pooling():
    head = ASPP(filters=8, atrous_rates=())
    head.build((1, 5, 5, 16))
    assert len(head.branch_convs) == 1
    assert head.projection.kernel.shape == (1, 1, 2 * 8, 8)
    assert head(np.ones((1, 5, 5, 16), "float32")).shape == (1, 5, 5, 8)
