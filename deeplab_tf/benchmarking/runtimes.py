"""The runtimes mode: one network's serving graph at a fixed size in TensorFlow, ONNX Runtime and OpenVINO.

Each runtime runs the same export (`export_saved_model` at the input size, BN
folded, single scale): the SavedModel's `serving_default` in TensorFlow, its
ONNX conversion in ONNX Runtime and its OpenVINO IR, all on `num_threads`
threads, timed in the same turns (with the float32 matmul, for utilisation).
"""

import os
import tempfile

import numpy as np
import tensorflow as tf

from deeplab_tf.batch_norm_folding import fold_batch_norms
from deeplab_tf.benchmarking import inference, machine, timing
from deeplab_tf.export import load_serving_signature, serving_function
from deeplab_tf.export.formats import check_formats
from deeplab_tf.export.onnx import OnnxModel, convert_onnx
from deeplab_tf.export.openvino import OpenVINOModel, convert_openvino, save_openvino
from deeplab_tf.export.parity import label_agreement
from deeplab_tf.export.saved_model import export_saved_model
from deeplab_tf.models import rebuild

# CPU features with bfloat16 arithmetic in hardware; elsewhere bfloat16 is emulated (~40x slower).
NATIVE_BFLOAT16 = ("avx512_bf16", "amx_bf16")


def limit_tensorflow_threads(num_threads):
    """TensorFlow's op threads, before TensorFlow runs its first op (as the other runtimes are told)."""
    tf.config.threading.set_intra_op_parallelism_threads(num_threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def runtimes(config):
    """Latency of the serving graph per runtime, and each one's speed-up over TensorFlow float32.

    `speedup_over_tensorflow` is the median over turns of (TensorFlow's time ÷
    the runtime's time); `argmax_agreement_with_tensorflow` is measured on the
    timed random input. bfloat16 (TensorFlow mixed_bfloat16, OpenVINO bf16)
    runs only where the CPU has it natively.
    """
    check_formats(["onnx", "openvino"], config.input_size, None)
    network, model_config = inference.float32_network(config)
    network = fold_batch_norms(network)
    native_bf16 = sorted(set(NATIVE_BFLOAT16) & set(machine.machine_facts()["cpu_features"]))
    threads = config.num_threads
    with tempfile.TemporaryDirectory() as directory:
        saved_model = os.path.join(directory, "saved_model")
        export_saved_model(network, saved_model, input_size=config.input_size)
        onnx_path = os.path.join(directory, "model.onnx")
        with open(onnx_path, "wb") as file:
            file.write(convert_onnx(saved_model, config.input_size))
        xml = os.path.join(directory, "model.xml")
        save_openvino(convert_openvino(saved_model, config.input_size), xml)
        signature, _loaded = load_serving_signature(saved_model)
        runners = {
            "tensorflow_float32": lambda images: {k: v.numpy() for k, v in signature(images=images).items()},
            "onnxruntime": OnnxModel(onnx_path, threads),
            "openvino_f32": OpenVINOModel(xml, threads),
        }
        if native_bf16:
            bf16 = tf.function(serving_function(rebuild(network, dtype_policy="mixed_bfloat16")))
            runners["tensorflow_bfloat16"] = lambda images: {k: v.numpy() for k, v in bf16(images).items()}
            runners["openvino_bf16"] = OpenVINOModel(xml, threads, precision="bf16")
        images = np.random.default_rng(0).integers(0, 256, (1, *config.input_size, 3), dtype=np.uint8)
        reference = runners["tensorflow_float32"](images)["labels"]
        tensor = tf.constant(images)
        calls = {name: (lambda run=run, x=(tensor if name.startswith("tensorflow") else images): run(x))
                 for name, run in runners.items()}
        runs = config.paired_timing(calls["tensorflow_float32"],
                                    beside={name: call for name, call in calls.items() if name != "tensorflow_float32"})
        results = {"tensorflow_float32": {k: v for k, v in runs.items() if k != "beside"}, **runs["beside"]}
        for name, result in results.items():
            result["runtime"] = getattr(runners[name], "runtime", f"tensorflow {tf.__version__}, {threads} threads")
            result["speedup_over_tensorflow"] = timing.paired_ratio(runs["times_s"], result["times_s"])
            same, pixels = label_agreement(reference, runners[name](images)["labels"])
            result["argmax_agreement_with_tensorflow"] = same / pixels
    return {
        **inference.inference_facts(config, model_config),
        **inference.flop_facts(network, config.input_size, 1),
        "num_threads": threads,
        "bfloat16": ("native: " + ", ".join(native_bf16)) if native_bf16 else
                    "not timed: the CPU has no native bfloat16 (avx512_bf16 or amx_bf16)",
        "weights": "trained (--model_dir)" if config.model_dir else "random (latency only)",
        "runtimes": results,
        **runs,
    }
