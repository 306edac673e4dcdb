"""What a benchmark records about the machine it ran on."""

import os
import platform
import time

import tensorflow as tf


def machine_facts():
    """What a benchmark JSON records about where it ran."""
    cpus = tf.config.list_physical_devices("CPU")
    gpus = tf.config.list_physical_devices("GPU")
    cpuinfo = _cpuinfo()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "platform": platform.platform(),
        "processor": _cpu_model(cpuinfo) or platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_features": _cpu_features(cpuinfo),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "cpu_devices": len(cpus),
        "gpus": [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus],
        "cpu_threads": tf.config.threading.get_intra_op_parallelism_threads() or None,
    }


def _cpuinfo():
    try:
        with open("/proc/cpuinfo") as file:
            return file.read()
    except OSError:
        return ""


def _cpu_model(cpuinfo):
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return None


def _cpu_features(cpuinfo):
    """The CPU features that decide convolution speed here (AVX-512, AMX), as /proc/cpuinfo lists them."""
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            present = set(line.split(":", 1)[1].split())
            return [name for name in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8") if name in present]
    return []
