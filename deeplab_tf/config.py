"""The typed model configuration of a DeepLab network and its validation."""

import dataclasses
import json

from deeplab_tf.errors import ConfigError

VARIANTS = ("v2", "v3", "v3plus")
OUTPUT_STRIDES = (8, 16, 32)

# Residual units per block (block1..block4) and unit type of each backbone.
BACKBONE_LAYOUTS = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
}
MOBILENET_BACKBONES = ("mobilenetv2",)
BACKBONES = (*BACKBONE_LAYOUTS, *MOBILENET_BACKBONES)
# The widths keras.applications.MobileNetV2 has ImageNet weights for (its `alpha`).
WIDTH_MULTIPLIERS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
MAX_CASCADED_BLOCKS = 3  # v3 §3.2 goes deeper up to block7.
# The stride of the low-level feature every backbone gives the v3+ decoder (its block1 / layer_4).
DECODER_OUTPUT_STRIDES = (4,)

# The papers' ASPP rates: v3 Table / §4 (doubled at OS8); v2 ASPP-L.
_V3_RATES = {8: (12, 24, 36), 16: (6, 12, 18), 32: (3, 6, 9)}
_V2_RATES = (6, 12, 18, 24)


def default_atrous_rates(variant, output_stride, backbone="resnet101"):
    """The paper's ASPP rates for a variant at an output stride.

    MobileNetV2 takes none: its DeepLabv3 head is ASPP's 1×1 branch and image
    pooling only (Sandler et al. 2018, https://arxiv.org/abs/1801.04381, §6.3).
    """
    if variant == "v2":
        return _V2_RATES
    return () if backbone in MOBILENET_BACKBONES else _V3_RATES[output_stride]


class DictConfig:
    """Dict and JSON forms of a dataclass config; unknown fields are a `ConfigError` naming the first."""

    KIND = "config"  # how errors name it

    def to_dict(self):
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown {cls.KIND} field; known: {sorted(known)}")
        return cls(**values)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))


@dataclasses.dataclass(frozen=True)
class ModelConfig(DictConfig):
    """Everything that defines a DeepLab network; validated when made.

    Args:
        variant: "v3" (ASPP with image pooling), "v3plus" (v3 and the v3+
            decoder) or "v2" (ASPP-L, summed classifiers).
        backbone: "resnet18", "resnet34", "resnet50", "resnet101" or "mobilenetv2".
        output_stride: ratio of input to feature-map size: 8, 16 or 32.
        multi_grid: ResNets only: unit-rate multipliers of the last block (and
            of cascaded blocks); its length is the number of units in block4.
            `None` takes (1, 2, 4) for v3 ((1, 2) on ResNet-18) and all ones for v2.
        atrous_rates: ASPP rates; `None` takes the paper's for the variant and
            output stride ((6, 12, 18) at OS16 for v3, (6, 12, 18, 24) for v2,
            none for MobileNetV2). v3 and v3+ take any number, none included
            (ASPP's 1×1 branch and image pooling only); v2 takes four.
        width_multiplier: MobileNetV2's width multiplier (keras.applications'
            `alpha`): 1.0 or a narrower 0.5 etc.; 1.0 for the ResNets.
        num_classes: number of output classes.
        num_cascaded_blocks: 0–3 copies of block4 after it ("going deeper",
            blocks 5–7 of the v3 paper).
        image_pooling: v3 only; add the image-level pooling branch to ASPP.
        msc_scales: v2's multi-scale inputs, e.g. (1.0, 0.75, 0.5); empty for
            a single-scale network. The first scale must be 1.0.
        aspp_filters: filters of each v3 ASPP branch and of the projection.
        batch_norm_decay: moving-average decay of every BatchNormalization.
        dropout_rate: dropout after the v3 projection (training only).
        decoder_output_stride: v3+: the stride of the low-level feature the
            decoder refines with (4: ResNet block1, MobileNetV2 block_2).
        decoder_use_separable_conv: v3+: the decoder's two 3×3 convolutions are
            depthwise-separable (as official DeepLab); False: regular convolutions.
    """

    KIND = "model config"

    variant: str = "v3"
    backbone: str = "resnet101"
    output_stride: int = 16
    multi_grid: tuple = None
    atrous_rates: tuple = None
    num_classes: int = 21
    num_cascaded_blocks: int = 0
    image_pooling: bool = True
    msc_scales: tuple = ()
    aspp_filters: int = 256
    batch_norm_decay: float = 0.9997
    dropout_rate: float = 0.1
    width_multiplier: float = 1.0
    decoder_output_stride: int = 4
    decoder_use_separable_conv: bool = True

    def __post_init__(self):
        # Accept lists (from JSON or flags) and store tuples so configs hash.
        for field in ("multi_grid", "atrous_rates", "msc_scales"):
            value = getattr(self, field)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, field, tuple(value))
        if self.width_multiplier is not None:
            object.__setattr__(self, "width_multiplier", float(self.width_multiplier))
        if self.multi_grid is None and self.backbone in BACKBONE_LAYOUTS:
            units = BACKBONE_LAYOUTS[self.backbone][1][-1]
            grid = (1,) * units if self.variant == "v2" else (1, 2, 4)[:units]
            object.__setattr__(self, "multi_grid", grid)
        if self.atrous_rates is None and self.output_stride in OUTPUT_STRIDES:
            object.__setattr__(
                self, "atrous_rates", default_atrous_rates(self.variant, self.output_stride, self.backbone)
            )
        self._validate()

    def _validate(self):
        _check_choice("variant", self.variant, VARIANTS)
        _check_choice("backbone", self.backbone, BACKBONES)
        _check_choice("output_stride", self.output_stride, OUTPUT_STRIDES)
        if self.is_mobilenet:
            self._validate_mobilenet()
        else:
            self._validate_resnet()
        if self.variant == "v2":
            _check_positive_ints("atrous_rates", self.atrous_rates)
            if len(self.atrous_rates) != 4:
                raise ConfigError("atrous_rates", f"v2 takes 4 ASPP rates, got {list(self.atrous_rates)}")
        elif self.atrous_rates:
            _check_positive_ints("atrous_rates", self.atrous_rates)
        _check_choice("decoder_output_stride", self.decoder_output_stride, DECODER_OUTPUT_STRIDES)
        if not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise ConfigError("num_classes", f"must be a positive integer, got {self.num_classes!r}")
        if not 0 <= self.num_cascaded_blocks <= MAX_CASCADED_BLOCKS:
            raise ConfigError(
                "num_cascaded_blocks",
                f"must be in 0..{MAX_CASCADED_BLOCKS} (blocks 5-7), got {self.num_cascaded_blocks}",
            )
        if self.msc_scales:
            if self.msc_scales[0] != 1.0 or any(s <= 0 for s in self.msc_scales):
                raise ConfigError(
                    "msc_scales",
                    f"must start with 1.0 and be positive, got {list(self.msc_scales)}",
                )
        if self.aspp_filters < 1:
            raise ConfigError("aspp_filters", f"must be positive, got {self.aspp_filters}")
        if not 0.0 < self.batch_norm_decay < 1.0:
            raise ConfigError("batch_norm_decay", f"must be in (0, 1), got {self.batch_norm_decay}")
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ConfigError("dropout_rate", f"must be in [0, 1), got {self.dropout_rate}")

    def _validate_resnet(self):
        units = BACKBONE_LAYOUTS[self.backbone][1][-1]
        if len(self.multi_grid) != units:
            raise ConfigError(
                "multi_grid",
                f"{self.backbone} has {units} units in its last block, so multi_grid needs "
                f"{units} values, got {list(self.multi_grid)}",
            )
        _check_positive_ints("multi_grid", self.multi_grid)
        if self.width_multiplier != 1.0:
            raise ConfigError(
                "width_multiplier", f"applies to mobilenetv2 only; {self.backbone} takes 1.0, "
                f"got {self.width_multiplier}"
            )

    def _validate_mobilenet(self):
        if self.multi_grid:
            raise ConfigError(
                "multi_grid",
                f"does not apply to {self.backbone}: multi-grid multiplies the rates of a ResNet's "
                f"block4 units, and {self.backbone} has no such block; leave it unset "
                f"(got {list(self.multi_grid)})",
            )
        if self.num_cascaded_blocks:
            raise ConfigError(
                "num_cascaded_blocks",
                f"cascaded blocks copy a ResNet's block4; {self.backbone} takes 0, "
                f"got {self.num_cascaded_blocks}",
            )
        _check_choice("width_multiplier", self.width_multiplier, WIDTH_MULTIPLIERS)

    @property
    def is_mobilenet(self):
        return self.backbone in MOBILENET_BACKBONES

    @property
    def unit_type(self):
        return BACKBONE_LAYOUTS[self.backbone][0]

    @property
    def units_per_block(self):
        return BACKBONE_LAYOUTS[self.backbone][1]

    def with_output_stride(self, output_stride):
        """The same network run at another output stride (same weights).

        ASPP rates scale with the feature-map resolution: v3's (6, 12, 18) at
        OS16 become (12, 24, 36) at OS8, as in the v3 paper's test-time switch.
        """
        _check_choice("output_stride", output_stride, OUTPUT_STRIDES)
        factor = self.output_stride / output_stride
        rates = tuple(max(1, int(round(r * factor))) for r in self.atrous_rates)
        if self.variant == "v2":
            rates = self.atrous_rates  # ASPP-L's rates are defined for OS8 only.
        return dataclasses.replace(self, output_stride=output_stride, atrous_rates=rates)



def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _check_choice(field, value, allowed):
    if value not in allowed:
        raise ConfigError(field, f"got {value!r}; allowed values: {', '.join(map(str, allowed))}")


def _check_positive_ints(field, values):
    if not values or any(not isinstance(v, int) or v < 1 for v in values):
        raise ConfigError(field, f"must be positive integers, got {list(values or ())}")
