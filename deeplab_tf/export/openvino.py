"""OpenVINO export of a SavedModel at a fixed input size, run with OpenVINO's CPU plugin.

`openvino.convert_model` reads the SavedModel's `serving_default` as
tools.export writes it (no ONNX step), with the input shape fixed to
uint8 [1, height, width, 3]; the IR (.xml graph, .bin weights) keeps float32
weights. Inference is pinned to float32: OpenVINO would otherwise run bfloat16
on a CPU that has it (docs/deployment.md, OpenVINO).
"""

import numpy as np
import tensorflow as tf

from deeplab_tf.errors import InputError
from deeplab_tf.export.fixed_size import check_input_size
from deeplab_tf.export.packages import require
from deeplab_tf.export.saved_model import INPUT_NAME, LABELS, OUTPUT_NAMES, PROBABILITIES


def convert_openvino(saved_model_dir, input_size):
    """The `openvino.Model` of a SavedModel at a fixed (height, width)."""
    ov = require("openvino")
    height, width = check_input_size(input_size)
    if not tf.saved_model.contains_saved_model(saved_model_dir):
        raise InputError(f"saved_model_dir: {saved_model_dir} is not a SavedModel directory")
    model = ov.convert_model(saved_model_dir, input=[1, height, width, 3])
    # The converter can leave the probabilities unnamed (they also feed the argmax): name the outputs by rank.
    for output in model.outputs:
        if not output.get_names():
            output.get_tensor().set_names({LABELS if output.get_partial_shape().rank.get_length() == 3
                                           else PROBABILITIES})
    return model


def save_openvino(model, xml_path):
    """Writes the IR: `xml_path` and the .bin beside it, weights kept float32."""
    require("openvino").save_model(model, xml_path, compress_to_fp16=False)


class OpenVINOModel:
    """An OpenVINO IR on the CPU plugin: uint8 RGB [1, H, W, 3] → {"labels", "probabilities"}.

    Args:
        model: the .xml file (or an `openvino.Model`).
        num_threads: inference threads.
        precision: "f32", or "bf16" (a CPU with native bfloat16 only).
    """

    def __init__(self, model, num_threads=2, precision="f32"):
        ov = require("openvino")
        config = {"INFERENCE_NUM_THREADS": num_threads, "INFERENCE_PRECISION_HINT": precision,
                  "PERFORMANCE_HINT": "LATENCY"}
        try:
            self.compiled = ov.Core().compile_model(model, "CPU", config)
        except RuntimeError as error:
            raise InputError(f"not a loadable OpenVINO model: {model}: {str(error).strip()[:300]}") from None
        names = {name for output in self.compiled.outputs for name in output.get_names()}
        if not set(OUTPUT_NAMES) <= names:
            raise InputError(f"{model}: expected outputs {sorted(OUTPUT_NAMES)}, found {sorted(names)}")
        self.input_shape = tuple(self.compiled.input(INPUT_NAME).get_shape())
        self.runtime = f"openvino {ov.__version__} CPU plugin, {precision}, {num_threads} threads"
        self.request = self.compiled.create_infer_request()

    def __call__(self, images):
        """Runs one uint8 image batch [1, H, W, 3] at the model's size; returns numpy outputs."""
        images = np.asarray(images)
        if images.shape != self.input_shape or images.dtype != np.uint8:
            raise InputError(f"openvino model takes uint8 {self.input_shape}, got {images.dtype} {images.shape}")
        results = self.request.infer({INPUT_NAME: images})
        return {name: np.array(results[self.compiled.output(name)]) for name in OUTPUT_NAMES}
