"""Deployment: SavedModel serving signatures; TFLite, ONNX and OpenVINO conversion; parity checks (LiteRT on CPU and GPU) and timing."""

from deeplab_tf.export.fixed_size import at_fixed_size, check_input_size
from deeplab_tf.export.formats import FORMATS, check_formats, write_format
from deeplab_tf.export.litert import LiteRTModel, measure_latencies, measure_latency
from deeplab_tf.export.litert_gpu import check_gpu, describe as describe_gpu_check, parse_refusals, swiftshader_missing
from deeplab_tf.export.parity import (
    PARITY_LIMITS,
    Example,
    ParityLimits,
    check_parity,
    dataset_examples,
    fit_to_size,
    parity_examples,
    random_examples,
    saved_model_reference,
)
from deeplab_tf.export.saved_model import (
    INFO_FILE,
    SIGNATURE_KEY,
    export_saved_model,
    fixed_size_serving,
    load_serving_signature,
    read_export_info,
    serving_function,
)
from deeplab_tf.export.tflite import (
    QUANTIZATIONS,
    convert,
    convert_dynamic_range,
    convert_float16,
    convert_float32,
    convert_int8,
    graph_summary,
)

__all__ = [
    "FORMATS",
    "INFO_FILE",
    "PARITY_LIMITS",
    "QUANTIZATIONS",
    "SIGNATURE_KEY",
    "Example",
    "LiteRTModel",
    "ParityLimits",
    "at_fixed_size",
    "check_formats",
    "check_gpu",
    "check_input_size",
    "check_parity",
    "convert",
    "convert_dynamic_range",
    "convert_float16",
    "convert_float32",
    "convert_int8",
    "dataset_examples",
    "describe_gpu_check",
    "export_saved_model",
    "fit_to_size",
    "fixed_size_serving",
    "graph_summary",
    "load_serving_signature",
    "measure_latencies",
    "measure_latency",
    "parity_examples",
    "parse_refusals",
    "random_examples",
    "read_export_info",
    "saved_model_reference",
    "serving_function",
    "swiftshader_missing",
    "write_format",
]
