"""Test-time inference flags shared by evaluate and predict: precision, scales, flip, windows, CRF."""

from absl import flags

from deeplab_tf.errors import ConfigError
from deeplab_tf.inference import InferenceSettings
from deeplab_tf.postprocess import BACKENDS, CRFParams
from tools.cli import UsageError, parse_size

flags.DEFINE_list("eval_scales", ["1.0"], "Image scales to average, e.g. 0.5,0.75,1,1.25,1.5,1.75 (v3 paper).")
flags.DEFINE_bool("flip", False, "Also average the left-right flipped image at every scale.")
flags.DEFINE_list("window_size", None, "Sliding-window tile height[,width] for images larger than it "
                  "(e.g. 769 for Cityscapes); default: whole images.")
flags.DEFINE_float("window_overlap", 1.0 / 3.0, "Fraction of a tile its neighbour overlaps.")
# Not --mixed_precision: the training flagfiles set that, and evaluation must not follow it unasked.
flags.DEFINE_enum("inference_precision", "float32", ["float32", "mixed_bfloat16"],
                  "Network precision at test time; mixed_bfloat16 is ~2x faster on CPUs with AMX "
                  "(docs/performance.md, bfloat16 on two CPUs).")
flags.DEFINE_bool("crf", False, "Refine the probabilities with DeepLab v2's dense CRF.")
flags.DEFINE_enum("crf_backend", "tf", list(BACKENDS), "CRF implementation: TF ops or pydensecrf (C++).")
flags.DEFINE_integer("crf_batch_size", 1, "Refine up to this many consecutive images of one size in one "
                     "CRF call (padded or same-size sets); the results are those of one at a time. 1: on a "
                     "CPU a batch costs more per image (docs/crf.md, Batches); try 4+ on a GPU.")
_DEFAULT_CRF = CRFParams()
flags.DEFINE_float("crf_bilateral_weight", _DEFAULT_CRF.bilateral_weight, "CRF w1 (appearance kernel weight).")
flags.DEFINE_float("crf_bilateral_xy_std", _DEFAULT_CRF.bilateral_xy_std, "CRF θα (pixels).")
flags.DEFINE_float("crf_bilateral_rgb_std", _DEFAULT_CRF.bilateral_rgb_std, "CRF θβ (RGB units).")
flags.DEFINE_float("crf_gaussian_weight", _DEFAULT_CRF.gaussian_weight, "CRF w2 (smoothness kernel weight).")
flags.DEFINE_float("crf_gaussian_xy_std", _DEFAULT_CRF.gaussian_xy_std, "CRF θγ (pixels).")
flags.DEFINE_integer("crf_iterations", _DEFAULT_CRF.iterations, "CRF mean-field iterations.")

FLAGS = flags.FLAGS


def inference_settings_from_flags():
    try:
        scales = tuple(float(s) for s in FLAGS.eval_scales)
    except ValueError:
        raise UsageError(f"--eval_scales: expected numbers, got {','.join(FLAGS.eval_scales)}") from None
    return InferenceSettings(
        scales=scales,
        flip=FLAGS.flip,
        window_size=parse_size("window_size", FLAGS.window_size),
        window_overlap=FLAGS.window_overlap,
    )


def crf_params_from_flags():
    """The `CRFParams` of the flags with `--crf`, else None."""
    if not FLAGS.crf:
        return None
    if FLAGS.crf_batch_size < 1:
        raise UsageError(f"--crf_batch_size: must be >= 1, got {FLAGS.crf_batch_size}")
    values = dict(
        bilateral_weight=FLAGS.crf_bilateral_weight,
        bilateral_xy_std=FLAGS.crf_bilateral_xy_std,
        bilateral_rgb_std=FLAGS.crf_bilateral_rgb_std,
        gaussian_weight=FLAGS.crf_gaussian_weight,
        gaussian_xy_std=FLAGS.crf_gaussian_xy_std,
        iterations=FLAGS.crf_iterations,
    )
    try:
        return CRFParams(**values)
    except ConfigError as error:  # it names the CRFParams field: name our flag instead
        raise UsageError(f"--crf_{error.field}: {error.message}") from None
