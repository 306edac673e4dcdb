"""FLOP counts: the taps that read only padding are counted apart (benchmarks leave them out)."""

import keras
import pytest

from deeplab_tf.layers.atrous_conv import AtrousConv2D
from deeplab_tf.profile import count_flops


def _conv(size, **kwargs):
    # The project's atrous layer: a dilated Conv2D op with "same" padding, as the networks have.
    return keras.Sequential([keras.Input((size, size, 3)), AtrousConv2D(4, 3, padding="same", use_bias=False,
                                                                        **kwargs)])


@pytest.mark.parametrize("size, dilation, taps_inside", [
    (9, 12, 81),  # the rate exceeds the map: only the centre tap reads the image (ASPP at a small input)
    (5, 1, 13 * 13),  # a plain 3x3: along each axis the two edge outputs lose a tap each (15 - 2)
])
def test_padding_taps_are_left_out_on_request(size, dilation, taps_inside):
    model = _conv(size, dilation_rate=dilation)
    per_tap = 2 * 3 * 4  # a multiply-add per input and output channel
    assert count_flops(model, (size, size)) == size * size * 9 * per_tap
    assert count_flops(model, (size, size), padding_taps=False) == taps_inside * per_tap
