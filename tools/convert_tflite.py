"""Converts an exported SavedModel to TFLite and checks it against the SavedModel with LiteRT.

    python -m tools.convert_tflite --saved_model_dir=runs/demo/v3/export \
        --output=runs/demo/v3/model_int8.tflite --quantization=int8 --input_size=129 \
        --dataset=synthetic --dataset_dir=data/synthetic

The .tflite model takes uint8 RGB [1, H, W, 3] at `--input_size` and returns
"labels" (int32) and "probabilities" (float32), signature `serving_default`.
int8 calibrates on `--num_calibration_images` of `--calibration_split`.
`--dataset`/`--dataset_dir` default to the dataset the exported model was
trained on, as its model directory recorded it, and so does a folder
dataset's `--val_fraction` (its split by name). The
parity check runs the .tflite model (LiteRT) and the SavedModel on the same
images of `--parity_split` (random images without a dataset) and writes the
parity report (argmax agreement, mIoU of both and the drop, the converted
operators) beside the .tflite file, with "gpu": whether LiteRT's GPU
accelerator compiles the file GPU-only, the operators it refuses, and its
argmax agreement with the CPU on `--num_gpu_images` of those images (on
SwiftShader, from Debian's chromium; without it the report says so).
Exit status: 0 converted and within the CPU limits (the GPU verdict is
information); 1 converted but outside them (the file and report are kept,
for inspection); 2 bad input.
"""

import sys

from absl import flags

# tools.cli first: it sets TensorFlow's log level before TensorFlow loads.
from tools import cli, data_flags, parity_flags  # noqa: F401  (parity_flags: --parity_split, --num_parity_images)

import tensorflow as tf  # noqa: E402

from deeplab_tf import export  # noqa: E402
from deeplab_tf.export import tflite_file  # noqa: E402

flags.DEFINE_string("saved_model_dir", None, "A SavedModel written by tools.export.")
flags.DEFINE_string("output", None, "The .tflite file to write.")
flags.DEFINE_enum("quantization", "none", list(export.QUANTIZATIONS), "none (float32), float16, dynamic_range "
                  "(int8 weights) or int8 (full integer, calibrated on --dataset).")
flags.DEFINE_list("input_size", None, "Fixed input height[,width] of the .tflite model (default: the "
                  "SavedModel's fixed size, or 513).")
flags.DEFINE_string("calibration_split", "train", "Split whose images calibrate int8.")
flags.DEFINE_integer("num_calibration_images", 100, "Images used to calibrate int8.")
flags.DEFINE_integer("num_gpu_images", 5, "Of those, images run on LiteRT's GPU accelerator (software Vulkan, "
                     "slow) to compare with the CPU; 0 checks GPU-only compilation alone.")
flags.DEFINE_string("parity_report", None, "Where the parity JSON goes (default: --output with "
                    ".parity.json in place of .tflite).")
flags.DEFINE_float("min_agreement", None, "Least argmax agreement with the SavedModel, as a fraction "
                   "(default: none 0.999, float16 0.995, dynamic_range and int8 0.97).")
flags.DEFINE_float("max_miou_drop", None, "Most mIoU points lost against the SavedModel (default 1.0).")
flags.DEFINE_integer("num_threads", 2, "LiteRT CPU threads for the parity check.")
flags.mark_flags_as_required(["saved_model_dir", "output"])
FLAGS = flags.FLAGS

DEFAULT_INPUT_SIZE = (513, 513)


def _input_size(info):
    exported = tuple(info["input_size"]) if info.get("input_size") else None
    size = cli.parse_size("input_size", FLAGS.input_size)
    if size is None:
        return exported or DEFAULT_INPUT_SIZE
    if exported and size != exported:
        raise cli.UsageError(
            f"--input_size: the SavedModel runs at a fixed {exported[0]}x{exported[1]}; convert at that "
            "size, or export again with another --fixed_input_size (or none)"
        )
    return size


def _dataset(info):
    name, directory = data_flags.dataset_from_flags(info.get("dataset"))
    if name and not directory:
        raise cli.UsageError(f"--dataset_dir: required with --dataset={name}")
    if FLAGS.quantization == "int8" and not name:
        raise cli.UsageError("--dataset: int8 calibrates on representative images: give --dataset and --dataset_dir")
    return name, directory


def _check_counts():
    if FLAGS.num_gpu_images < 0:
        raise cli.UsageError(f"--num_gpu_images: must be 0 or more, got {FLAGS.num_gpu_images}")
    for name in ("num_calibration_images", "num_parity_images", "num_threads"):
        if FLAGS[name].value < 1:
            raise cli.UsageError(f"--{name}: must be positive, got {FLAGS[name].value}")


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
    _check_counts()
    tf.get_logger().setLevel("WARNING")  # the converter's temporary-SavedModel INFO lines

    info = export.read_export_info(FLAGS.saved_model_dir)
    if info.get("crf"):
        raise cli.UsageError(f"--saved_model_dir: {FLAGS.saved_model_dir} runs the dense CRF in its graph, which "
                             "TFLite has no kernels for (sparse matmuls on a lattice built per image); export "
                             "without --crf to convert")
    size = _input_size(info)
    name, directory = _dataset(info)
    signature, _loaded = export.load_serving_signature(FLAGS.saved_model_dir)
    num_classes = int(signature.structured_outputs["probabilities"].shape[-1])
    if name:
        data_flags.dataset_info_for_model(name, directory, num_classes)
    # A folder dataset's split by name is the one the model was trained with, unless --val_fraction says.
    val_fraction = data_flags.val_fraction_from_flags(info.get("dataset"))
    representative = None
    if FLAGS.quantization == "int8":
        calibration, _ = export.dataset_examples(
            name, directory, FLAGS.calibration_split, size, FLAGS.num_calibration_images, num_classes,
            val_fraction=val_fraction,
        )
        representative = [example.image for example in calibration]
    examples, images, ignore_label = export.parity_examples(
        size, FLAGS.num_parity_images, dataset=name, dataset_dir=directory, split=FLAGS.parity_split,
        num_classes=num_classes, val_fraction=val_fraction)
    defaults = export.PARITY_LIMITS[FLAGS.quantization]
    limits = export.ParityLimits(
        min_agreement=defaults.min_agreement if FLAGS.min_agreement is None else FLAGS.min_agreement,
        max_miou_drop=defaults.max_miou_drop if FLAGS.max_miou_drop is None else FLAGS.max_miou_drop,
    )
    output, report_path = FLAGS.output, FLAGS.parity_report or tflite_file.report_path_for(FLAGS.output)
    report = tflite_file.write_checked_tflite(
        FLAGS.saved_model_dir, signature, output, quantization=FLAGS.quantization, input_size=size,
        examples=examples, limits=limits, num_classes=num_classes, ignore_label=ignore_label, images=images,
        calibration=representative, calibration_source=f"{name}:{FLAGS.calibration_split}",
        num_threads=FLAGS.num_threads, num_gpu_images=FLAGS.num_gpu_images, report_path=report_path)
    miou = ""
    if report["miou_drop_points"] is not None:
        miou = f", mIoU {100 * report['miou_tflite']:.2f} vs {100 * report['miou_reference']:.2f}"
    summary = (
        f"{FLAGS.quantization}: {report['file_size_bytes'] / 2**20:.1f} MiB, argmax agreement "
        f"{100 * report['pixel_agreement']:.3f}%{miou} on {report['num_images']} images; "
        f"{export.describe_gpu_check(report['gpu'])}"
    )
    if not report["passed"]:
        print(f"convert_tflite: error: parity check failed: {'; '.join(report['failures'])} "
              f"(report: {report_path})", file=sys.stderr)
        sys.exit(1)
    print(f"wrote {output} ({summary}); report: {report_path}")


if __name__ == "__main__":
    cli.run(main, flag_for_field={**data_flags.FLAG_FOR_FIELD, "input_size": "input_size"})
