"""Where an atrous ResNet strides and where it dilates, from the config alone."""

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
        unit_rates: atrous rate of each unit's 3×3 convolution.
    """

    name: str
    prefix: str
    filters: int
    stride: int
    unit_rates: tuple


def block_plan(config):
    """The blocks of the backbone `config` describes (DESIGN §2).

    Until the running stride reaches `output_stride` each block after block1
    strides by 2; after that it keeps stride 1 and its atrous rate doubles
    instead. Block4 and the cascaded copies of it (blocks 5–7) multiply their
    rate by `multi_grid` unit by unit: OS16 with multi-grid (1, 2, 4) gives
    block4 rates (2, 4, 8); OS8 gives block3 rate 2 and block4 (4, 8, 16).
    """
    units = list(config.units_per_block) + [config.units_per_block[-1]] * config.num_cascaded_blocks
    filters = list(BLOCK_FILTERS) + [BLOCK_FILTERS[-1]] * config.num_cascaded_blocks
    running_stride, rate = STEM_STRIDE, 1
    blocks = []
    for index, (num_units, width) in enumerate(zip(units, filters)):
        stride = 1
        if index > 0:
            if running_stride < config.output_stride:
                stride, running_stride = 2, running_stride * 2
            else:
                rate *= 2
        if index >= 3:
            rates = tuple(rate * m for m in config.multi_grid)
        else:
            rates = (rate,) * num_units
        blocks.append(
            BlockSpec(
                name=f"block{index + 1}",
                prefix=f"conv{index + 2}",
                filters=width,
                stride=stride,
                unit_rates=rates,
            )
        )
    return blocks


def unit_rates(config):
    """{block name: [atrous rate of each unit]}, as `tools.model_info` reports."""
    return {block.name: list(block.unit_rates) for block in block_plan(config)}
