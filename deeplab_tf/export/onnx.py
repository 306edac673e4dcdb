"""ONNX export of a SavedModel at a fixed input size (tf2onnx), run with ONNX Runtime.

The ONNX model is the SavedModel's `serving_default` traced at uint8
[1, height, width, 3] (`saved_model.fixed_size_serving`), as the TFLite
conversion is: raw RGB in, "labels" (int32) and "probabilities" (float32) out.
The size must be fixed: at an unknown size tf2onnx writes a "same"-padded
dilated convolution as `auto_pad=SAME_UPPER`, which ONNX Runtime's CPU `Conv`
refuses when it runs (docs/deployment.md, ONNX); at a known size it writes
explicit pads.
"""

import os
import tempfile

import numpy as np

from deeplab_tf.errors import InputError
from deeplab_tf.export.fixed_size import check_input_size
from deeplab_tf.export.packages import require
from deeplab_tf.export.saved_model import INPUT_NAME, OUTPUT_NAMES, fixed_size_serving

# ONNX opset written: ONNX Runtime 1.32 and OpenVINO 2026.4 both read it.
OPSET = 17


def convert_onnx(saved_model_dir, input_size):
    """The serialized ONNX model of a SavedModel at a fixed (height, width)."""
    tf2onnx = require("tf2onnx")
    height, width = check_input_size(input_size)
    function, _loaded = fixed_size_serving(saved_model_dir, (height, width))
    model, _ = tf2onnx.convert.from_function(function, input_signature=function.input_signature, opset=OPSET)
    # tf2onnx declares the shapes its resize scales give (16 for 17, see `_resize_to_sizes`): declare
    # none inside the graph, and the outputs at the input size.
    del model.graph.value_info[:]
    for output in model.graph.output:
        dims = output.type.tensor_type.shape.dim
        dims[1].dim_value, dims[2].dim_value = height, width
    _resize_to_sizes(model, known_only=True)
    model = _fold_constants(model)
    del model.graph.value_info[:]
    _resize_to_sizes(model)
    return model.SerializeToString()


def _fold_constants(model):
    """`model` after ONNX Runtime's basic (hardware-independent) graph optimizations: constants folded.

    A SavedModel exported at a fixed size pads or shrinks each image in `tf.cond`s (`at_fixed_size`);
    at the ONNX model's one input size their conditions are constants, but tf2onnx keeps them as `If`
    nodes, which hide every shape after them. ONNX Runtime's constant folding picks the branch.
    """
    onnx, ort = require("onnx"), require("onnxruntime")
    with tempfile.TemporaryDirectory() as directory:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = os.path.join(directory, "folded.onnx")
        options.log_severity_level = 3
        ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return onnx.load(options.optimized_model_filepath)


def _resize_to_sizes(model, known_only=False):
    """Gives every `Resize` of constant scales its output size instead, in place.

    tf2onnx writes TensorFlow's resize to a known size as float32 scales (17/9 for 9 → 17), and ONNX
    takes floor(9 × 1.8888888) = 16: at odd sizes the decoder's concat and the final resize came out
    one pixel short. The sizes are what TensorFlow asked for: the input's size (ONNX shape inference,
    redone after each fix, since a fixed resize changes the shapes after it) times the scale, rounded.
    With `known_only`, a resize whose input size is unknown yet (after an `If`) is left for later.
    """
    onnx = require("onnx")
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    while True:
        inferred = onnx.shape_inference.infer_shapes(model).graph
        shapes = {value.name: [d.dim_value for d in value.type.tensor_type.shape.dim]
                  for value in (*inferred.input, *inferred.value_info)}
        resizes = [node for node in model.graph.node if node.op_type == "Resize" and len(node.input) == 3
                   and node.input[2] in initializers]
        known = [node for node in resizes if shapes.get(node.input[0]) and 0 not in shapes[node.input[0]]]
        if not known and (known_only or not resizes):
            break
        if not known:
            raise InputError(f"ONNX export: the input size of resize {resizes[0].name} is unknown")
        node, shape = known[0], shapes[known[0].input[0]]
        scales = onnx.numpy_helper.to_array(initializers[node.input[2]])
        sizes = onnx.numpy_helper.from_array(np.round(np.array(shape) * scales).astype(np.int64),
                                             f"{node.name}_sizes")
        model.graph.initializer.append(sizes)
        node.input[2] = ""  # no scales
        node.input.append(sizes.name)
    used = _inputs(model.graph, onnx)
    for tensor in [t for t in model.graph.initializer if t.name not in used]:
        model.graph.initializer.remove(tensor)


def _inputs(graph, onnx):
    """The names every node of `graph` reads, in the subgraphs of `If` nodes too."""
    names = set()
    for node in graph.node:
        names.update(node.input)
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                names |= _inputs(attribute.g, onnx)
    return names


class OnnxModel:
    """An ONNX segmentation model in ONNX Runtime (CPU): uint8 RGB [1, H, W, 3] → {"labels", "probabilities"}.

    Args:
        path: the .onnx file.
        num_threads: ONNX Runtime's intra-op threads.
    """

    def __init__(self, path, num_threads=2):
        ort = require("onnxruntime")
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except (RuntimeError, ValueError) as error:
            raise InputError(f"not a loadable ONNX model: {path}: {str(error)[:300]}") from None
        inputs = self.session.get_inputs()
        outputs = sorted(output.name for output in self.session.get_outputs())
        if [i.name for i in inputs] != [INPUT_NAME] or outputs != sorted(OUTPUT_NAMES):
            raise InputError(f"{path}: expected input {INPUT_NAME!r} and outputs {sorted(OUTPUT_NAMES)}, "
                             f"found {[i.name for i in inputs]} and {outputs}")
        self.input_shape = tuple(inputs[0].shape)
        self.runtime = f"onnxruntime {ort.__version__} CPUExecutionProvider, {num_threads} threads"

    def __call__(self, images):
        """Runs one uint8 image batch [1, H, W, 3] at the model's size; returns numpy outputs."""
        images = np.asarray(images)
        if images.shape != self.input_shape or images.dtype != np.uint8:
            raise InputError(f"onnx model takes uint8 {self.input_shape}, got {images.dtype} {images.shape}")
        names = [output.name for output in self.session.get_outputs()]
        return dict(zip(names, self.session.run(names, {INPUT_NAME: images})))
