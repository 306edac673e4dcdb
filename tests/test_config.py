"""ModelConfig: defaults from the papers and one clear error per impossible value."""

import pytest

from deeplab_tf import ConfigError, ModelConfig


def test_defaults_follow_the_papers():
    v3 = ModelConfig()
    assert v3.multi_grid == (1, 2, 4)
    assert v3.atrous_rates == (6, 12, 18)
    assert ModelConfig(output_stride=8).atrous_rates == (12, 24, 36)
    v2 = ModelConfig(variant="v2", output_stride=8)
    assert v2.atrous_rates == (6, 12, 18, 24)
    assert v2.multi_grid == (1, 1, 1)
    assert ModelConfig(backbone="resnet18").multi_grid == (1, 2)


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"output_stride": 12}, "output_stride", "8, 16, 32"),
        ({"multi_grid": (1, 2)}, "multi_grid", "3 values"),
        ({"backbone": "resnet152"}, "backbone", "resnet18, resnet34, resnet50, resnet101"),
        ({"atrous_rates": (6, 0, 18)}, "atrous_rates", "positive"),
        ({"multi_grid": (1, -2, 4)}, "multi_grid", "positive"),
        ({"variant": "v2", "atrous_rates": (6, 12, 18)}, "atrous_rates", "4 ASPP rates"),
        ({"variant": "v4"}, "variant", "v2, v3"),
        ({"num_classes": 0}, "num_classes", "positive"),
        ({"num_cascaded_blocks": 4}, "num_cascaded_blocks", "0..3"),
        ({"msc_scales": (0.5, 1.0)}, "msc_scales", "start with 1.0"),
    ],
)
def test_impossible_values_name_the_field_and_allowed_values(changes, field, words):
    with pytest.raises(ConfigError) as raised:
        ModelConfig(**changes)
    assert raised.value.field == field
    assert str(raised.value).startswith(field)
    assert words in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_dict_round_trip_and_unknown_field():
    config = ModelConfig(variant="v2", backbone="resnet50", output_stride=8, msc_scales=(1.0, 0.75, 0.5))
    assert ModelConfig.from_json(config.to_json()) == config
    with pytest.raises(ConfigError, match="unknown model config field"):
        ModelConfig.from_dict({**config.to_dict(), "rates2": [1]})


def test_switching_output_stride_rescales_aspp_rates():
    config = ModelConfig(output_stride=16)
    assert config.with_output_stride(8).atrous_rates == (12, 24, 36)
    assert config.with_output_stride(8).with_output_stride(16) == config
    v2 = ModelConfig(variant="v2", output_stride=8)
    assert v2.with_output_stride(16).atrous_rates == (6, 12, 18, 24)
