"""ASPP (v3) and ASPP-L (v2) heads."""

import keras
import numpy as np
import pytest

from deeplab_tf.heads import ASPP, ASPPL


@pytest.mark.parametrize("batch, height, width", [(1, 5, 7), (2, 1, 1), (2, 9, 4)])
def test_aspp_any_size_and_batch_one(batch, height, width):
    head = ASPP(filters=16, atrous_rates=(1, 2, 3))
    features = np.random.default_rng(0).normal(size=(batch, height, width, 8)).astype("float32")
    for training in (False, True):
        out = head(features, training=training)
        assert out.shape == (batch, height, width, 16)
        assert np.all(np.isfinite(out))


def test_image_pooling_branch_is_constant_over_space():
    head = ASPP(filters=4, atrous_rates=(1, 2, 3))
    features = np.random.default_rng(0).normal(size=(2, 6, 5, 3)).astype("float32")
    head(features)
    for conv in head.branch_convs:  # silence every branch but image pooling
        conv.kernel.assign(np.zeros(conv.kernel.shape, "float32"))
    out = head(features, training=False).numpy()
    np.testing.assert_allclose(out, np.broadcast_to(out[:, :1, :1], out.shape), rtol=1e-6)
    assert not np.allclose(out[0], out[1])  # it does depend on the image


def test_aspp_without_image_pooling_has_four_branches():
    with_pool = ASPP(filters=8, atrous_rates=(6, 12, 18))
    without = ASPP(filters=8, atrous_rates=(6, 12, 18), image_pooling=False)
    shape = (1, 9, 9, 32)
    with_pool.build(shape)
    without.build(shape)
    assert without.projection.kernel.shape == (1, 1, 4 * 8, 8)
    assert with_pool.projection.kernel.shape == (1, 1, 5 * 8, 8)


def test_aspp_l_sums_its_branches():
    head = ASPPL(num_classes=3, atrous_rates=(1, 2, 3, 4))
    features = np.random.default_rng(0).normal(size=(1, 8, 8, 5)).astype("float32")
    summed = sum(branch(features) for branch in head.branches)
    np.testing.assert_allclose(head(features), summed, rtol=1e-5, atol=1e-6)
    assert [b.dilation_rate for b in head.branches] == [(r, r) for r in (1, 2, 3, 4)]


def test_heads_round_trip_through_config():
    for head in (ASPP(filters=8, atrous_rates=(2, 4, 6), image_pooling=False), ASPPL(5, (6, 12, 18, 24))):
        clone = type(head).from_config(head.get_config())
        assert clone.get_config() == head.get_config()
        assert keras.saving.get_registered_object(
            keras.saving.get_registered_name(type(head))
        ) is type(head)
