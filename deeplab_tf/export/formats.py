"""The formats a SavedModel is exported to besides itself (ONNX, OpenVINO IR), each checked against it.

`write_format` converts the SavedModel at its fixed input size, writes the
model into its own folder of the export, and runs the parity check of
`parity.check_parity` (argmax agreement and mIoU, the float32 limits of
`PARITY_LIMITS["none"]`) with the format's runtime against the SavedModel on
the same uint8 images; the report is written beside the model.
"""

import datetime
import json
import os

from deeplab_tf.errors import ConfigError
from deeplab_tf.export import onnx, openvino
from deeplab_tf.export.packages import require
from deeplab_tf.export.parity import PARITY_LIMITS, check_parity
from deeplab_tf.files import write_atomically

# Where each format goes inside the export directory, and the packages it needs.
MODEL_FILES = {"onnx": os.path.join("onnx", "model.onnx"), "openvino": os.path.join("openvino", "model.xml")}
PACKAGES = {"onnx": ("tf2onnx", "onnx", "onnxruntime"), "openvino": ("openvino",)}
FORMATS = ("saved_model", *MODEL_FILES)
REPORT_FILE = "parity.json"


def check_formats(formats, input_size, crf):
    """The requested `formats` (other than saved_model), refused where they cannot be exported.

    Raises:
        ConfigError("format", ...) for an unknown format, a CRF export, or a
        missing package; ConfigError("input_size", ...) without a fixed size.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ConfigError("format", f"unknown {', '.join(unknown)}; allowed: {', '.join(FORMATS)}")
    converted = [name for name in MODEL_FILES if name in formats]
    if not converted:
        return []
    if crf:
        raise ConfigError("format", f"{' and '.join(converted)} cannot hold the dense CRF (sparse matmuls on a "
                          "lattice built per image, no ONNX or OpenVINO operators); export without --crf")
    if input_size is None:
        raise ConfigError("input_size", f"{' and '.join(converted)} need a fixed input size, e.g. 513 "
                          "(at an unknown size ONNX Runtime refuses the dilated convolutions: docs/deployment.md)")
    for name in converted:
        for module in PACKAGES[name]:
            require(module)
    return converted


def write_format(export_dir, name, input_size, examples, reference, *, num_classes, limits=PARITY_LIMITS["none"],
                 ignore_label=255, images="", num_threads=2):
    """Converts the SavedModel in `export_dir` to format `name`, writes it and its parity report there.

    Args:
        export_dir: a SavedModel written by `export_saved_model`, at `input_size`.
        name: "onnx" or "openvino".
        examples: `parity.Example`s at `input_size`, for the parity check.
        reference: the SavedModel's `parity.saved_model_reference`, loaded once for every format.
        num_classes, limits, ignore_label: as `check_parity` takes them.
        images: where the examples came from, for the report.
        num_threads: the runtime's CPU threads.

    Returns:
        The report (also written to `<format>/parity.json`): the model's path
        and size, the runtime, and `check_parity`'s dict.
    """
    path = os.path.join(export_dir, MODEL_FILES[name])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if name == "onnx":
        write_atomically(path, onnx.convert_onnx(export_dir, input_size))
        candidate = onnx.OnnxModel(path, num_threads)
        size = os.path.getsize(path)
    else:
        openvino.save_openvino(openvino.convert_openvino(export_dir, input_size), path)
        candidate = openvino.OpenVINOModel(path, num_threads)
        size = os.path.getsize(path) + os.path.getsize(path[: -len(".xml")] + ".bin")
    parity = check_parity(reference, candidate, examples, num_classes=num_classes,
                          limits=limits, ignore_label=ignore_label, candidate_name=name)
    report = {
        "format": name,
        "model": os.path.abspath(path),
        "file_size_bytes": size,
        "input_size": list(input_size),
        "saved_model_dir": os.path.abspath(export_dir),
        "reference": "the SavedModel's serving_default on the same uint8 inputs",
        "runtime": candidate.runtime,
        "images": images,
        **parity,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    write_atomically(os.path.join(os.path.dirname(path), REPORT_FILE), json.dumps(report, indent=2) + "\n")
    return report
