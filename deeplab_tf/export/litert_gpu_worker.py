"""Compiles a .tflite model GPU-only in LiteRT's CompiledModel and runs it: the child process of `litert_gpu`.

    python litert_gpu_worker.py MODEL.tflite [IMAGES.npy OUTPUTS.npz]

Run as a file, not as a module of the package, so that it imports LiteRT and
NumPy only (no TensorFlow), and in a process of its own: LiteRT writes the
operators it refuses to the process's stderr, which the parent reads, and a
fault of the software Vulkan device cannot take the caller down. Prints one
JSON line: {"compiled", "fully_accelerated", "error"}. With IMAGES.npy
([N, H, W, 3] of the model's input type), it runs each image through the
`serving_default` signature and writes every output, stacked, to OUTPUTS.npz.
"""

import ctypes
import json
import os
import sys

import numpy as np


def main(argv):
    # Dawn opens the Vulkan loader by name; chromium ships one beside SwiftShader, not on the library path.
    loader = os.environ.get("DEEPLAB_VULKAN_LOADER")
    if loader:
        ctypes.CDLL(loader, mode=ctypes.RTLD_GLOBAL)
    from ai_edge_litert.compiled_model import CompiledModel, HardwareAccelerator

    try:
        model = CompiledModel.from_file(argv[1], hardware_accel=HardwareAccelerator.GPU)
    except RuntimeError as error:
        print(json.dumps({"compiled": False, "fully_accelerated": False, "error": str(error)}))
        return
    result = {"compiled": True, "fully_accelerated": bool(model.is_fully_accelerated()), "error": None}
    if len(argv) > 2:
        _run(model, np.load(argv[2]), argv[3])
    print(json.dumps(result))


def _run(model, images, outputs_path):
    key = "serving_default"
    index = model.get_signature_index(key)
    details = model.get_output_tensor_details(key)
    outputs = {name: [] for name in details}
    inputs = model.create_input_buffers(index)
    results = model.create_output_buffers(index)
    names = model.get_signature_list()[key]["outputs"]
    for image in images:
        inputs[0].write(np.ascontiguousarray(image[None]))
        model.run_by_index(index, inputs, results)
        for name, buffer in zip(names, results):
            shape = tuple(details[name]["shape"])
            outputs[name].append(buffer.read(int(np.prod(shape)), details[name]["dtype"]).reshape(shape)[0])
    np.savez(outputs_path, **{name: np.stack(values) for name, values in outputs.items()})


if __name__ == "__main__":
    main(sys.argv)
