"""Per-unit atrous rates and strides, as the v3 paper (§3.2, §3.3) places them."""

from deeplab_tf import ModelConfig, unit_rates
from deeplab_tf.backbones import block_plan, conv_rates


def test_resnet101_os16_multi_grid():
    rates = unit_rates(ModelConfig(backbone="resnet101", output_stride=16, multi_grid=(1, 2, 4)))
    assert rates["block3"] == [1] * 23
    assert rates["block4"] == [2, 4, 8]


def test_resnet101_os8_multi_grid():
    rates = unit_rates(ModelConfig(backbone="resnet101", output_stride=8, multi_grid=(1, 2, 4)))
    assert rates["block2"] == [1] * 4
    assert rates["block3"] == [2] * 23
    assert rates["block4"] == [4, 8, 16]


def test_os32_strides_everywhere_and_dilates_nowhere():
    blocks = block_plan(ModelConfig(backbone="resnet50", output_stride=32, multi_grid=(1, 1, 1)))
    assert [b.stride for b in blocks] == [1, 2, 2, 2]
    assert all(set(b.unit_rates) == {1} for b in blocks)


def test_going_deeper_keeps_output_stride_and_doubles_rates():
    config = ModelConfig(backbone="resnet50", output_stride=16, multi_grid=(1, 2, 4), num_cascaded_blocks=3)
    blocks = block_plan(config)
    assert [b.name for b in blocks] == [f"block{i}" for i in range(1, 8)]
    assert [b.prefix for b in blocks][-1] == "conv8"
    assert [b.stride for b in blocks] == [1, 2, 2, 1, 1, 1, 1]
    assert [b.unit_rates for b in blocks[3:]] == [(2, 4, 8), (4, 8, 16), (8, 16, 32), (16, 32, 64)]


def test_basic_unit_keeps_the_entry_grid_rate_on_its_strided_conv():
    # OS8: block3 and block4 lose their strides. Each first unit's first 3×3 reads the
    # previous block's grid, so it keeps that block's rate; the doubled rate starts after it.
    rates = conv_rates(ModelConfig(backbone="resnet18", output_stride=8, multi_grid=(1, 2)))
    assert rates["block2"] == [[1, 1], [1, 1]]
    assert rates["block3"] == [[1, 2], [2, 2]]
    assert rates["block4"] == [[2, 4], [8, 8]]
    bottleneck = conv_rates(ModelConfig(backbone="resnet50", output_stride=8, multi_grid=(1, 2, 4)))
    assert bottleneck["block4"] == [[4], [8], [16]]
