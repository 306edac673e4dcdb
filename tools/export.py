"""Exports a trained model as a SavedModel whose `serving_default` takes raw uint8 images.

    python -m tools.export --model_dir=runs/demo/v3 --export_dir=runs/demo/v3/export
    python -m tools.export --model_dir=runs/voc_v3 --export_dir=exports/voc_v3_os8_msflip \
        --output_stride=8 --eval_scales=0.5,0.75,1,1.25,1.5,1.75 --flip --fixed_input_size=513

Signature `serving_default`: "images" uint8 [B, H, W, 3] (any batch, any size)
→ "labels" int32 [B, H, W] and "probabilities" float32 [B, H, W, C], at the
input size. With --crf (and --crf_* for its parameters; without them, the best
setting of `tools.evaluate --crf --crf_search` when model_dir/eval/crf_search.json
holds one) the dense CRF runs in the graph before "labels", and signature `crf`
returns "raw_labels" and "labels":

    python -m tools.export --model_dir=runs/demo/v2 --export_dir=runs/demo/v2/export_crf --crf

With --format=onnx and/or openvino (and a --fixed_input_size) the SavedModel is
also converted, into export_dir/onnx/model.onnx and export_dir/openvino/model.xml,
and each is checked against it (ONNX Runtime, OpenVINO) on --num_parity_images
of the model directory's dataset (--dataset/--dataset_dir; random images without
one); the report goes beside the model (parity.json). Exit status 1 when a
check misses its limits (the files are kept), 2 for bad input:

    python -m tools.export --model_dir=runs/demo/v3 --export_dir=runs/demo/v3/export_513 \
        --fixed_input_size=513 --format=onnx,openvino
"""

import dataclasses
import os
import sys

from absl import flags

# tools.cli first: it sets TensorFlow's log level before TensorFlow loads.
from tools import cli, data_flags, export_flags, inference_flags, model_flags, output_flags, parity_flags  # noqa: F401

import tensorflow as tf  # noqa: E402

from deeplab_tf import model_dir as model_dir_lib  # noqa: E402
from deeplab_tf.evaluation import crf_search  # noqa: E402
from deeplab_tf import export  # noqa: E402
from deeplab_tf.files import atomic_directory  # noqa: E402
from deeplab_tf.postprocess import CRFParams  # noqa: E402

flags.mark_flags_as_required(["model_dir", "export_dir"])
FLAGS = flags.FLAGS


def _check_export_dir(export_dir):
    if os.path.isfile(export_dir):
        raise cli.UsageError(f"--export_dir: {export_dir} is a file")
    if os.path.isdir(export_dir) and os.listdir(export_dir):
        if not tf.saved_model.contains_saved_model(export_dir):
            raise cli.UsageError(f"--export_dir: {export_dir} exists and is not a SavedModel; not touching it")
        if not FLAGS.overwrite:
            raise cli.UsageError(f"--export_dir: {export_dir} already holds a SavedModel (--overwrite replaces it)")


def _export_facts(model_dir):
    if model_dir.endswith(".keras"):
        return {"source": os.path.abspath(model_dir)}
    record = model_dir_lib.read_model_dir_json(model_dir)
    return {
        "source": os.path.abspath(model_dir),
        "checkpoint": model_dir_lib.latest_checkpoint(model_dir),
        "dataset": record.get("dataset"),
    }


def _searched_crf_params(crf_params):
    """With --crf and no --crf_* parameter flag: the best setting of the model dir's CRF search, if it has one."""
    if crf_params is None or any(FLAGS[f"crf_{f.name}"].present for f in dataclasses.fields(CRFParams)):
        return crf_params
    path = os.path.join(FLAGS.model_dir, "eval", crf_search.SEARCH_FILE)
    if not os.path.isfile(path):
        return crf_params
    best, miou = crf_search.read_best(path)
    print(f"dense CRF parameters from {path} (the best of its search, {100 * miou:.2f}% mIoU): "
          + " ".join(f"--crf_{name}={getattr(best, name):g}" for name in crf_search.SEARCHED))
    return best


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
    settings = inference_flags.inference_settings_from_flags()
    fixed_size = cli.parse_size("fixed_input_size", FLAGS.fixed_input_size)
    export_dir = FLAGS.export_dir.rstrip("/") or "/"
    _check_export_dir(export_dir)
    if FLAGS.inference_precision != "float32":
        raise cli.UsageError("--inference_precision: exports are float32 (TFLite converts from them; "
                             "see tools.convert_tflite for float16 and int8)")
    crf_params = _searched_crf_params(inference_flags.crf_params_from_flags())
    formats = export.check_formats(FLAGS.format, fixed_size, crf_params)
    if formats and FLAGS.num_parity_images < 1:
        raise cli.UsageError(f"--num_parity_images: must be positive, got {FLAGS.num_parity_images}")
    if crf_params is not None and FLAGS.crf_backend != "tf":
        raise cli.UsageError("--crf_backend: an export runs the dense CRF in TF ops; only 'tf' can be exported")

    tf.get_logger().setLevel("WARNING")  # the SavedModel writer's INFO lines
    model = model_dir_lib.load_model(FLAGS.model_dir, output_stride=model_flags.output_stride_at_test_time(),
                                     fold_batch_norm=True)
    facts = _export_facts(FLAGS.model_dir)
    facts["output_stride"] = model.model_config.output_stride

    # Written beside the target and moved into place, so a failed export leaves no half SavedModel.
    with atomic_directory(export_dir, prefix=".export-") as staging:
        written = export.export_saved_model(model, staging, input_size=fixed_size, settings=settings,
                                            info=facts, crf_params=crf_params)
    size = "any size" if fixed_size is None else "{}x{}".format(*fixed_size)
    crf = "" if crf_params is None else f", dense CRF ({crf_params.iterations} iterations)"
    print(
        f"exported {model.name} (output stride {facts['output_stride']}, {written['num_classes']} classes, "
        f"scales {list(settings.scales)}, flip {settings.flip}, {size}{crf}) to {export_dir}"
    )
    if formats:
        _convert(export_dir, formats, fixed_size, written["num_classes"], facts.get("dataset"))


def _convert(export_dir, formats, size, num_classes, recorded_dataset):
    """Each of `formats` converted from the SavedModel and checked against it; exit 1 if one misses its limits."""
    name, directory = data_flags.dataset_from_flags(recorded_dataset)
    if name:
        data_flags.dataset_info_for_model(name, directory, num_classes)
    examples, images, ignore_label = export.parity_examples(
        size, FLAGS.num_parity_images, dataset=name, dataset_dir=directory, split=FLAGS.parity_split,
        num_classes=num_classes, val_fraction=data_flags.val_fraction_from_flags(recorded_dataset))
    signature, _loaded = export.load_serving_signature(export_dir)
    reference = export.saved_model_reference(signature)
    failed = False
    for fmt in formats:
        report = export.write_format(export_dir, fmt, size, examples, reference, num_classes=num_classes,
                                     ignore_label=ignore_label, images=images)
        print(f"{fmt}: {report['model']} ({report['file_size_bytes'] / 2**20:.1f} MiB), argmax agreement "
              f"{100 * report['pixel_agreement']:.3f}% with the SavedModel on {report['num_images']} images "
              f"({images})" + (f"; {'; '.join(report['failures'])}" if report["failures"] else ""))
        failed = failed or not report["passed"]
    if failed:
        print("export: error: parity check failed (reports: <format>/parity.json)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    cli.run(main, flag_for_field={**data_flags.FLAG_FOR_FIELD, "input_size": "fixed_input_size"})
