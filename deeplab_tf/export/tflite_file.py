"""A checked .tflite file: converted from a SavedModel, compared with it on LiteRT's CPU, tried on its GPU.

`tools.convert_tflite`'s work. The report, written beside the file, holds the
parity check (`parity.check_parity`), the converted graph (`tflite.graph_summary`)
and whether LiteRT's GPU accelerator takes it whole (`litert_gpu.check_gpu`).
"""

import datetime
import json
import os

from deeplab_tf.export.litert import LiteRTModel
from deeplab_tf.export.litert_gpu import check_gpu
from deeplab_tf.export.parity import check_parity, saved_model_reference
from deeplab_tf.export.tflite import convert, graph_summary
from deeplab_tf.files import write_atomically


def report_path_for(output):
    """Where the report of `output` goes by default: `x.tflite` → `x.parity.json`."""
    stem = output[: -len(".tflite")] if output.endswith(".tflite") else output
    return stem + ".parity.json"


def write_checked_tflite(saved_model_dir, signature, output, *, quantization, input_size, examples, limits,
                         num_classes, ignore_label, images, calibration=None, calibration_source=None,
                         num_threads=2, num_gpu_images=5, report_path=None):
    """Converts, writes `output`, checks it and writes its report; returns the report.

    Args:
        saved_model_dir, signature: the SavedModel and its loaded `serving_default`.
        quantization: one of `tflite.QUANTIZATIONS`.
        examples: `parity.Example`s at `input_size` for the parity check;
            the first `num_gpu_images` also run on the GPU.
        limits, num_classes, ignore_label: as `check_parity` takes them.
        images: where the examples came from, for the report.
        calibration: int8's representative images; `calibration_source` says where they came from.
        report_path: default `report_path_for(output)`.
    """
    model_bytes = convert(saved_model_dir, quantization, input_size, calibration)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    write_atomically(output, model_bytes)
    parity = check_parity(saved_model_reference(signature), LiteRTModel(output, num_threads=num_threads), examples,
                          num_classes=num_classes, limits=limits, ignore_label=ignore_label)
    report = {
        "tflite": os.path.abspath(output),
        "file_size_bytes": len(model_bytes),
        "quantization": quantization,
        "input_size": list(input_size),
        "saved_model_dir": os.path.abspath(saved_model_dir),
        "reference": "the SavedModel's serving_default on the same uint8 inputs",
        "runtime": "ai-edge-litert Interpreter (XNNPACK), %d threads" % num_threads,
        "images": images,
        "calibration": f"{calibration_source}, {len(calibration)} images" if calibration else None,
        "graph": graph_summary(model_bytes),
        "gpu": check_gpu(output, examples[:num_gpu_images]),
        **parity,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    write_atomically(report_path or report_path_for(output), json.dumps(report, indent=2) + "\n")
    return report
