"""Whether LiteRT's GPU accelerator takes a .tflite model whole, asked of the accelerator itself.

LiteRT's `CompiledModel` compiled for the GPU alone fails if the GPU delegate
refuses any operator ("Some ops are not accelerated"), and the delegate names
each refused operator and why on stderr. This module compiles a model that way
in a child process (`litert_gpu_worker.py`), parses that message, and, where it
compiles, runs images on the GPU to compare with the CPU interpreter.

The GPU here is LiteRT's WebGPU accelerator (ai-edge-litert 2.3) on a software
Vulkan device: SwiftShader, which Debian's `chromium` package ships. Mesa's
lavapipe is refused by Dawn. Without chromium the check reports itself as
unavailable rather than failing. (TensorFlow's own
`tf.lite.experimental.Analyzer(gpu_compatibility=True)` passes graphs that the
accelerator refuses, so it is no substitute.)
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

from deeplab_tf.export.litert import LiteRTModel
from deeplab_tf.export.parity import label_agreement

CHROMIUM_DIR = "/usr/lib/chromium"
SWIFTSHADER_ICD = os.path.join(CHROMIUM_DIR, "vk_swiftshader_icd.json")
VULKAN_LOADER = os.path.join(CHROMIUM_DIR, "libvulkan.so.1")
MISSING = (
    f"SwiftShader (a software Vulkan GPU) is not installed: {SWIFTSHADER_ICD} is missing; "
    "install Debian's chromium package (apt-get install chromium) to run LiteRT's GPU accelerator"
)
ACCELERATOR = "LiteRT CompiledModel, GPU only (WebGPU accelerator on SwiftShader Vulkan)"

_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "litert_gpu_worker.py")
_REFUSED_HEADER = "Following operations are not supported by GPU delegate:"
_REFUSED_LINE = re.compile(r"^([A-Z][A-Z0-9_]*): (.+)$")
_SPLIT = re.compile(r"(\d+) operations will run on the GPU, and the remaining (\d+) operations will run on the CPU")
_NONE_ON_GPU = re.compile(r"No operations will run on the GPU, and all (\d+) operations will run on the CPU")


def swiftshader_missing():
    """None where LiteRT's GPU accelerator can run here, else the reason it cannot (a sentence)."""
    if os.path.isfile(SWIFTSHADER_ICD) and os.path.isfile(VULKAN_LOADER):
        return None
    return MISSING


def parse_refusals(log):
    """What LiteRT's GPU delegate says it refuses, from its log.

    Returns:
        {"refused_operators": {operator: [reasons]}, "operations_on_gpu": n or None,
         "operations_on_cpu": n or None}: the counts where the log gives them.
    """
    refused, on_gpu, on_cpu = {}, None, None
    lines = iter(log.splitlines())
    for line in lines:
        if line.strip().endswith(_REFUSED_HEADER):
            for entry in lines:
                match = _REFUSED_LINE.match(entry.strip())
                if not match:
                    break
                reasons = refused.setdefault(match.group(1), [])
                if match.group(2) not in reasons:
                    reasons.append(match.group(2))
    split = _SPLIT.search(log)
    if split:
        on_gpu, on_cpu = int(split.group(1)), int(split.group(2))
    elif _NONE_ON_GPU.search(log):
        on_gpu, on_cpu = 0, int(_NONE_ON_GPU.search(log).group(1))
    return {"refused_operators": refused, "operations_on_gpu": on_gpu, "operations_on_cpu": on_cpu}


def check_gpu(model_path, examples=(), timeout_s=1800):
    """Compiles `model_path` GPU-only in LiteRT's CompiledModel; where it compiles, runs `examples` on it.

    Args:
        model_path: a .tflite file.
        examples: `parity.Example`s at the model's input size, run on the GPU
            and on the CPU interpreter (LiteRT with XNNPACK) to compare.
        timeout_s: the most seconds the child process may take.

    Returns:
        A JSON-ready dict: "accelerator", "available" (False, with "reason",
        where SwiftShader is missing), "compiles" (GPU-only compilation
        succeeded), "refused_operators" ({operator: [LiteRT's reasons]}),
        "operations_on_gpu" and "operations_on_cpu" (where LiteRT gave them),
        "error" (LiteRT's message where it did not compile), and with examples
        "num_images", "pixel_agreement" (argmax agreement with the CPU over
        each image's part of the canvas) and "max_probability_difference".
    """
    missing = swiftshader_missing()
    if missing:
        return {"accelerator": ACCELERATOR, "available": False, "reason": missing}
    env = {**os.environ, "VK_ICD_FILENAMES": SWIFTSHADER_ICD, "DEEPLAB_VULKAN_LOADER": VULKAN_LOADER}
    with tempfile.TemporaryDirectory() as directory:
        command = [sys.executable, _WORKER, os.path.abspath(model_path)]
        if examples:
            images_path = os.path.join(directory, "images.npy")
            outputs_path = os.path.join(directory, "outputs.npz")
            np.save(images_path, np.stack([example.image for example in examples]))
            command += [images_path, outputs_path]
        try:
            process = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"accelerator": ACCELERATOR, "available": True, "compiles": False, "refused_operators": {},
                    "error": f"the GPU process took more than {timeout_s} s"}
        verdict = _verdict(process)
        report = {
            "accelerator": ACCELERATOR,
            "available": True,
            "compiles": verdict["compiled"] and verdict["fully_accelerated"],
            **parse_refusals(process.stderr),
            "error": verdict["error"],
        }
        if report["compiles"] and examples:
            with np.load(outputs_path) as outputs:
                report.update(_agreement(model_path, examples, dict(outputs)))
    return report


def _verdict(process):
    lines = process.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        # The child died before its verdict (a fault of the Vulkan device): its last words say why.
        tail = " | ".join(process.stderr.strip().splitlines()[-3:])
        return {"compiled": False, "fully_accelerated": False,
                "error": f"the GPU process ended with status {process.returncode}: {tail}"}


def _agreement(model_path, examples, gpu_outputs):
    cpu = LiteRTModel(model_path)
    agreeing = total = 0
    max_difference = 0.0
    for index, example in enumerate(examples):
        h, w = example.valid_size or example.image.shape[:2]
        ours = cpu(example.image[None])
        same, pixels = label_agreement(ours["labels"][0, :h, :w], gpu_outputs["labels"][index, :h, :w])
        agreeing, total = agreeing + same, total + pixels
        difference = np.abs(ours["probabilities"][0, :h, :w] - gpu_outputs["probabilities"][index, :h, :w])
        max_difference = max(max_difference, float(difference.max()))
    return {"num_images": len(examples), "pixel_agreement": agreeing / total,
            "max_probability_difference": max_difference}


def describe(report):
    """One line of a `check_gpu` report, for a tool's summary."""
    if not report["available"]:
        return "GPU-only check not run (SwiftShader missing: apt-get install chromium)"
    if not report["compiles"]:
        refused = "; ".join(f"{name} ({' '.join(reasons)})" for name, reasons in report["refused_operators"].items())
        return f"GPU-only compilation fails: {refused or report['error']}"
    agreement = ""
    if "pixel_agreement" in report:
        agreement = (f", argmax agreement with the CPU {100 * report['pixel_agreement']:.3f}% "
                     f"on {report['num_images']} images")
    return f"compiles GPU-only{agreement}"
