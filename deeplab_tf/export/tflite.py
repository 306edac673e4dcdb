"""TFLite conversion of an exported SavedModel at a fixed input size, one function per quantisation.

Every mode converts the SavedModel's `serving_default` signature, called at a
fixed [1, height, width, 3] uint8 input, so the .tflite file is that same
graph: raw RGB in, "labels" (int32) and "probabilities" (float32) out, under
the signature key `serving_default`. With the shape fixed, the converter folds
the shape-dependent branches, the BatchNormalizations (into the convolutions)
and the resize targets into constants.
"""

import collections

import numpy as np
import tensorflow as tf
from ai_edge_litert import schema_py_generated as schema

from deeplab_tf.errors import ConfigError, InputError
from deeplab_tf.export.fixed_size import check_input_size
from deeplab_tf.export.saved_model import fixed_size_serving

QUANTIZATIONS = ("none", "float16", "dynamic_range", "int8")


def _converter(saved_model_dir, input_size):
    """A converter for the serving signature at a fixed input size, and what must outlive it."""
    serving_default, loaded = fixed_size_serving(saved_model_dir, input_size)
    function = serving_default.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], loaded)
    return converter, loaded


def convert_float32(saved_model_dir, input_size):
    """Float32 weights and activations: the reference conversion ("none")."""
    converter, _loaded = _converter(saved_model_dir, input_size)
    return converter.convert()


def convert_float16(saved_model_dir, input_size):
    """Float16 weights (half the size), dequantised to float32 at load or run by fp16 kernels."""
    converter, _loaded = _converter(saved_model_dir, input_size)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def convert_dynamic_range(saved_model_dir, input_size):
    """Int8 weights; activations stay float, quantised on the fly inside the kernels that can."""
    converter, _loaded = _converter(saved_model_dir, input_size)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def convert_int8(saved_model_dir, input_size, representative_images):
    """Full-integer int8: weights and activations, ranges calibrated on `representative_images`.

    Every operator runs on int8 (`TFLITE_BUILTINS_INT8` only); the uint8 input
    is cast and quantised once at the start and the probabilities dequantised
    at the end. The input stays raw uint8 RGB, as in the other modes.

    Args:
        representative_images: a sequence of uint8 [height, width, 3] images at
            the input size (see `parity.fit_to_size`), e.g. 100 training images.
    """
    images = [np.asarray(image, np.uint8) for image in representative_images]
    if not images:
        raise InputError("int8 quantisation needs at least one representative image")
    size = check_input_size(input_size)
    for image in images:
        if image.shape != (*size, 3):
            raise InputError(f"representative image of shape {image.shape}, expected {(*size, 3)}")
    converter, _loaded = _converter(saved_model_dir, size)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[None]] for image in images)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


def convert(saved_model_dir, quantization, input_size, representative_images=None):
    """The .tflite bytes of a SavedModel for one of `QUANTIZATIONS`."""
    if quantization not in QUANTIZATIONS:
        raise ConfigError("quantization", f"got {quantization!r}; allowed values: {', '.join(QUANTIZATIONS)}")
    if quantization == "int8":
        if representative_images is None:
            raise ConfigError("quantization", "int8 needs representative images for calibration")
        return convert_int8(saved_model_dir, input_size, representative_images)
    return {"none": convert_float32, "float16": convert_float16, "dynamic_range": convert_dynamic_range}[
        quantization
    ](saved_model_dir, input_size)


_OPERATOR_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
_TENSOR_TYPES = {code: name.lower() for name, code in vars(schema.TensorType).items() if not name.startswith("_")}


def graph_summary(model_bytes):
    """What the converted graph is made of, read from the flatbuffer.

    Returns:
        {"operators": {name: count} over all subgraphs, "num_subgraphs": n,
         "conv_2d_dilations": sorted list of distinct (h, w) dilation factors,
         "depthwise_conv_2d_dilations": the same for DEPTHWISE_CONV_2D,
         "resize_bilinear": list of {"align_corners", "half_pixel_centers"},
         "conv_2d_weight_types": sorted distinct weight tensor types}

    Which operators a GPU takes is not a property of the operator's name alone
    (LiteRT's GPU delegate takes a STRIDED_SLICE but not a reversed one): ask the
    accelerator itself, `litert_gpu.check_gpu`.
    """
    model = schema.Model.GetRootAs(bytes(model_bytes), 0)
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        codes.append(_OPERATOR_NAMES.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM"))
    operators = collections.Counter()
    dilations, depthwise_dilations, resizes, weight_types = set(), set(), [], set()
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            op = subgraph.Operators(o)
            name = codes[op.OpcodeIndex()]
            operators[name] += 1
            table = op.BuiltinOptions()
            if name == "CONV_2D" and table is not None:
                options = schema.Conv2DOptions()
                options.Init(table.Bytes, table.Pos)
                dilations.add((options.DilationHFactor(), options.DilationWFactor()))
                weight_types.add(_TENSOR_TYPES[subgraph.Tensors(op.Inputs(1)).Type()])
            elif name == "DEPTHWISE_CONV_2D" and table is not None:
                options = schema.DepthwiseConv2DOptions()
                options.Init(table.Bytes, table.Pos)
                depthwise_dilations.add((options.DilationHFactor(), options.DilationWFactor()))
            elif name == "RESIZE_BILINEAR" and table is not None:
                options = schema.ResizeBilinearOptions()
                options.Init(table.Bytes, table.Pos)
                resizes.append({
                    "align_corners": bool(options.AlignCorners()),
                    "half_pixel_centers": bool(options.HalfPixelCenters()),
                })
    return {
        "operators": dict(sorted(operators.items())),
        "num_subgraphs": model.SubgraphsLength(),
        "conv_2d_dilations": sorted(dilations),
        "depthwise_conv_2d_dilations": sorted(depthwise_dilations),
        "resize_bilinear": resizes,
        "conv_2d_weight_types": sorted(weight_types),
    }
