"""Where an atrous ResNet strides and where it dilates."""

import dataclasses

STEM_STRIDE = 4  # conv1 (stride 2) and pool1 (stride 2).
BLOCK_FILTERS = (64, 128, 256, 512)


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    """One residual block.

    Attributes:
        name: the paper's name, "block1" … "block7".
        prefix: the `keras.applications` layer-name prefix, "conv2" … "conv8".
        filters: bottleneck width (output is 4× for bottleneck units).
        stride: stride of the block's first unit (1 or 2).
        unit_rates: atrous rate of each unit's 3×3 convolution (a basic unit's
            second one; `entry_rate` gives the first unit's first).
        entry_rate: atrous rate of the convolution at the block's stride
            position, the first unit's first convolution. It reads the grid
            the previous block left, so it keeps that grid's rate (times
            this unit's multi-grid factor); only the convolutions after it
            take the doubled rate. A bottleneck unit strides with a 1×1
            convolution, for which the rate means nothing.
    """

    name: str
    prefix: str
    filters: int
    stride: int
    unit_rates: tuple
    entry_rate: int

    def conv_rates(self, bottleneck):
        """The atrous rate of each 3×3 convolution, unit by unit."""
        if bottleneck:
            return [[rate] for rate in self.unit_rates]
        firsts = (self.entry_rate, *self.unit_rates[1:])
        return [[first, rate] for first, rate in zip(firsts, self.unit_rates)]


def block_plan(config):
    """The blocks of the ResNet a `ModelConfig` describes (see `resnet_blocks`)."""
    return resnet_blocks(config.units_per_block, config.output_stride, config.multi_grid, config.num_cascaded_blocks)


def resnet_blocks(units_per_block, output_stride, multi_grid, num_cascaded_blocks=0):
    """The blocks of an atrous ResNet (Chen et al. 2017, §3.2 and §3.3).

    Until the running stride reaches `output_stride` each block after block1
    strides by 2; after that it keeps stride 1 and its atrous rate doubles
    instead. Block4 and the cascaded copies of it (blocks 5–7) multiply their
    rate by `multi_grid` unit by unit: OS16 with multi-grid (1, 2, 4) gives
    block4 rates (2, 4, 8); OS8 gives block3 rate 2 and block4 (4, 8, 16).

    Each block after block1 strides in the original network, so its first
    convolution keeps the rate of the grid it reads (`BlockSpec.entry_rate`).
    That is what makes the à trous identity hold: the network at output stride
    S/2, sampled at every second pixel, computes the network at S.

    Args:
        units_per_block: residual units of block1 … block4.
        output_stride: 8, 16 or 32.
        multi_grid: rate multipliers of block4's units (one per unit).
        num_cascaded_blocks: copies of block4 after it.
    """
    units = list(units_per_block) + [units_per_block[-1]] * num_cascaded_blocks
    filters = list(BLOCK_FILTERS) + [BLOCK_FILTERS[-1]] * num_cascaded_blocks
    running_stride, rate = STEM_STRIDE, 1
    blocks = []
    for index, (num_units, width) in enumerate(zip(units, filters)):
        stride, entry_rate = 1, rate
        if index > 0:
            if running_stride < output_stride:
                stride, running_stride = 2, running_stride * 2
            else:
                rate *= 2
        grid = multi_grid if index >= 3 else (1,) * num_units
        rates = tuple(rate * m for m in grid)
        blocks.append(
            BlockSpec(
                name=f"block{index + 1}",
                prefix=f"conv{index + 2}",
                filters=width,
                stride=stride,
                unit_rates=rates,
                entry_rate=entry_rate * grid[0],
            )
        )
    return blocks


def unit_rates(config):
    """{block name: [atrous rate of each unit]}, as `tools.model_info` reports."""
    return {block.name: list(block.unit_rates) for block in block_plan(config)}


def conv_rates(config):
    """{block name: [[rate of each 3×3 convolution] of each unit]}, as `tools.model_info` reports."""
    bottleneck = config.unit_type == "bottleneck"
    return {block.name: block.conv_rates(bottleneck) for block in block_plan(config)}
