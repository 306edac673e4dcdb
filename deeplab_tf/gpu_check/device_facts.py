"""The `device` section: what TensorFlow and nvidia-smi say about the machine."""

import shutil
import subprocess

import tensorflow as tf

from deeplab_tf.benchmarking import machine_facts


def device(settings):
    """What TensorFlow (and nvidia-smi, where there is one) says about the machine and its GPUs."""
    build = tf.sysconfig.get_build_info()
    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capability = details.get("compute_capability")
        gpus.append({"device": gpu.name, "name": details.get("device_name", gpu.name),
                     "compute_capability": ".".join(map(str, capability)) if capability else None})
    yield {
        "device_under_test": settings.device,
        "reference_device": settings.reference_device,
        "gpus": gpus,
        "nvidia_smi": _nvidia_smi(),
        "cuda_build": bool(build.get("is_cuda_build")),
        "cuda_version": build.get("cuda_version"),
        "cudnn_version": build.get("cudnn_version"),
        "machine": machine_facts(),
        "note": None if gpus else "no GPU is visible to TensorFlow: every section ran on the CPU",
    }


def _nvidia_smi():
    """Name, memory and driver of each GPU from nvidia-smi (TensorFlow reports neither memory nor driver)."""
    if not shutil.which("nvidia-smi"):
        return None
    query = ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]
    try:
        lines = subprocess.run(query, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as error:
        return {"error": str(error)}
    fields = ("name", "memory_total", "driver_version")
    return [dict(zip(fields, (v.strip() for v in line.split(",")))) for line in lines.strip().splitlines()]
