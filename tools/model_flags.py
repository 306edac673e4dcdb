"""The model flags: the network a tool builds (docs/architecture.md, "How a flag becomes a config")."""

from absl import flags

from deeplab_tf.config import BACKBONES, DECODER_OUTPUT_STRIDES, OUTPUT_STRIDES, VARIANTS, WIDTH_MULTIPLIERS, ModelConfig
from tools.cli import UsageError

flags.DEFINE_enum("model_variant", "v3", list(VARIANTS), "DeepLab v3 (ASPP), v3plus (ASPP and the v3+ decoder) "
                  "or v2 (ASPP-L).")
flags.DEFINE_enum("backbone", "resnet101", list(BACKBONES), "Atrous ResNet depth, or MobileNetV2.")
flags.DEFINE_float("width_multiplier", 1.0, f"mobilenetv2: width multiplier (keras.applications' alpha), one of "
                   f"{', '.join(map(str, WIDTH_MULTIPLIERS))}.")
flags.DEFINE_integer("output_stride", 16, f"Input/feature size ratio, one of {OUTPUT_STRIDES}. evaluate, predict "
                     "and export rebuild a trained network at it when given (same weights, ASPP rates "
                     "follow); default there: as trained.")
flags.DEFINE_list("multi_grid", None, "ResNets: unit-rate multipliers of block4, e.g. 1,2,4 (default: v3 1,2,4; "
                  "v2 ones).")
flags.DEFINE_list("atrous_rates", None, "ASPP rates (default: the paper's for the variant and output stride; none "
                  "for mobilenetv2). Empty (--atrous_rates=): ASPP's 1x1 branch and image pooling only.")
flags.DEFINE_integer("num_classes", 21, "Number of classes (taken from the dataset where it knows).")
flags.DEFINE_integer("num_cascaded_blocks", 0, "Copies of block4 after it: 1-3 builds blocks 5-7 (v3 'going deeper').")
flags.DEFINE_bool("image_pooling", True, "v3: add ASPP's image-level pooling branch.")
flags.DEFINE_integer("aspp_filters", 256, "v3/v3+: channels of each ASPP branch, of its projection and of the "
                     "decoder (the papers' 256).")
flags.DEFINE_list("msc_scales", [], "v2 multi-scale inputs, e.g. 1,0.75,0.5 (empty: single scale).")
flags.DEFINE_float("batch_norm_decay", 0.9997, "BatchNormalization moving-average decay.")
flags.DEFINE_integer("decoder_output_stride", 4, f"v3plus: stride of the backbone feature the decoder refines with, "
                     f"one of {DECODER_OUTPUT_STRIDES}.")
flags.DEFINE_bool("decoder_use_separable_conv", True, "v3plus: depthwise-separable 3x3 decoder convolutions "
                  "(--nodecoder_use_separable_conv: regular ones).")

FLAGS = flags.FLAGS

# ModelConfig field → the flag a user types, for one-line errors.
FLAG_FOR_FIELD = {"variant": "model_variant"}


def _numbers(flag_name, parse):
    values = FLAGS[flag_name].value
    if values is None:
        return None
    try:
        return tuple(parse(v) for v in values)
    except ValueError:
        raise UsageError(f"--{flag_name}: expected comma-separated numbers, got {','.join(values)}") from None


def output_stride_at_test_time():
    """`--output_stride` when the user gave it, else None: the trained network's own."""
    return FLAGS.output_stride if FLAGS["output_stride"].present else None


def model_config_from_flags(num_classes=None):
    """The `ModelConfig` the model flags describe; `num_classes` overrides the flag."""
    return ModelConfig(
        variant=FLAGS.model_variant,
        backbone=FLAGS.backbone,
        output_stride=FLAGS.output_stride,
        multi_grid=_numbers("multi_grid", int),
        atrous_rates=_numbers("atrous_rates", int),
        num_classes=num_classes if num_classes is not None else FLAGS.num_classes,
        num_cascaded_blocks=FLAGS.num_cascaded_blocks,
        image_pooling=FLAGS.image_pooling,
        msc_scales=_numbers("msc_scales", float) or (),
        aspp_filters=FLAGS.aspp_filters,
        batch_norm_decay=FLAGS.batch_norm_decay,
        width_multiplier=FLAGS.width_multiplier,
        decoder_output_stride=FLAGS.decoder_output_stride,
        decoder_use_separable_conv=FLAGS.decoder_use_separable_conv,
    )
