"""Segments JPEG/PNG images: a palette label PNG and a colour overlay per image.

    python -m tools.predict --model=runs/demo/v3 --input='photos/*.jpg' --output_dir=out
    python -m tools.predict --model=runs/demo/v2 --input=photos --output_dir=out --crf
    python -m tools.predict --model=export/saved_model --input=photo.png --output_dir=out

`--model` is a training run's directory, a `.keras` file or an exported
SavedModel. Writes `<name>.png` (labels as a palette PNG in the training dataset's
colours: a folder dataset's `colors`, Cityscapes', ADE20K's or VOC's; with more than
256 classes, a 16-bit gray PNG of the class ids) and `<name>_overlay.png`.
An image over `--max_pixels` or that cannot be decoded gets a one-line error
and the others are still done; the exit status is then non-zero.
"""

import os
import sys

from absl import flags, logging

# tools.cli first: it sets TensorFlow's log level before TensorFlow loads.
from tools import cli, inference_flags, model_flags

from PIL import Image  # noqa: E402

from deeplab_tf import model_dir as model_dir_lib  # noqa: E402
from deeplab_tf.errors import InputError  # noqa: E402
from deeplab_tf.evaluation import images as image_files  # noqa: E402
from deeplab_tf.evaluation import segment_files  # noqa: E402
from deeplab_tf.export import read_export_info  # noqa: E402
from deeplab_tf.inference import Predictor, SavedModelLogits  # noqa: E402

flags.DEFINE_string("model", None, "A model directory, a .keras file or a SavedModel directory.")
flags.DEFINE_string("input", None, "An image file, a folder of them, or a glob (quote it).")
flags.DEFINE_string("output_dir", None, "Where the label PNGs and overlays go.")
flags.DEFINE_integer("max_pixels", 50_000_000, "Refuse images with more pixels than this (0: no limit).")
flags.DEFINE_float("overlay_alpha", 0.5, "Weight of the class colours in the overlay.")
flags.mark_flags_as_required(["model", "input", "output_dir"])
FLAGS = flags.FLAGS


def _load_model(path, settings):
    """(model, the recorded dataset facts or {}) from a model dir, a .keras file or a SavedModel."""
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb")):
        if model_flags.output_stride_at_test_time():
            raise cli.UsageError("--output_stride: a SavedModel's output stride is fixed at export")
        if FLAGS.inference_precision != "float32":
            raise cli.UsageError("--inference_precision: a SavedModel's precision is fixed at export")
        info = read_export_info(path)
        if info.get("crf") and FLAGS.crf:
            raise cli.UsageError(f"--crf: {path} already runs the dense CRF in its graph (tools.export --crf)")
        # Each scale, flip or tile would be refined on its own, then averaged: not the CRF of the image.
        flag = ("--eval_scales" if settings.scales != (1.0,) else "--flip" if settings.flip else
                "--window_size" if settings.window_size else None)
        if info.get("crf") and flag:
            raise cli.UsageError(f"{flag}: {path} runs the dense CRF in its graph, which would refine each pass "
                                 "on its own; export the scales, flip or window with it (tools.export --crf ...)")
        return SavedModelLogits(path), info.get("dataset") or {}
    is_model_dir = os.path.isfile(os.path.join(path, model_dir_lib.CONFIG_FILE))
    if not (is_model_dir or path.endswith(".keras")):
        raise cli.UsageError(f"--model: {path} is not a model directory (model_config.json), "
                             "a .keras file or a SavedModel (saved_model.pb)")
    model = model_dir_lib.load_model(path, output_stride=model_flags.output_stride_at_test_time(),
                                     fold_batch_norm=True, dtype_policy=FLAGS.inference_precision)
    return model, (model_dir_lib.read_model_dir_json(path).get("dataset") or {}) if is_model_dir else {}


def _error(message):
    prog = os.path.basename(sys.argv[0]).removesuffix(".py")
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    cli.assume_frozen_weights()
    settings = inference_flags.inference_settings_from_flags()
    crf_params = inference_flags.crf_params_from_flags()
    if FLAGS.max_pixels < 0:
        raise cli.UsageError(f"--max_pixels: must be >= 0, got {FLAGS.max_pixels}")
    if not 0.0 <= FLAGS.overlay_alpha <= 1.0:
        raise cli.UsageError(f"--overlay_alpha: must be in [0, 1], got {FLAGS.overlay_alpha}")
    paths = image_files.list_images(FLAGS.input)
    outputs = segment_files.plan_outputs(paths, FLAGS.output_dir)
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    # --max_pixels is the size guard; Pillow's own would refuse what the user allowed.
    Image.MAX_IMAGE_PIXELS = None

    model, dataset = _load_model(FLAGS.model, settings)
    failed = segment_files.segment_files(
        Predictor(model, settings), outputs, palette=segment_files.palette_from_record(dataset),
        class_names=dataset.get("class_names"), overlay_alpha=FLAGS.overlay_alpha, max_pixels=FLAGS.max_pixels,
        crf_params=crf_params, crf_backend=FLAGS.crf_backend, crf_batch_size=FLAGS.crf_batch_size,
        on_error=_error, on_written=lambda image, labels: logging.info("%s → %s", image, labels))
    done = len(paths) - failed
    print(f"wrote {done} label PNGs and overlays to {FLAGS.output_dir}")
    if failed:
        raise InputError(f"{failed} of {len(paths)} images failed (see above)")


if __name__ == "__main__":
    cli.run(main, flag_for_field=model_flags.FLAG_FOR_FIELD)
