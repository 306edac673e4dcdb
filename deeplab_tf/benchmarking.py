"""Timing helpers for benchmarks: repeated timed runs and the machine's matmul rate."""

import platform
import statistics
import time

import tensorflow as tf


def time_runs(run, *, warmup=2, repeats=5):
    """Times `run()` (which must block until its work is done) after warm-up runs.

    Returns:
        dict with `median_s`, `min_s`, `max_s` and the list `times_s`.
    """
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "times_s": times,
    }


def matmul_flops_per_second(dtype="float32", size=4096, repeats=5):
    """The machine's own dense matmul rate (FLOP/s) for a size³ `tf.matmul`.

    Measured in the same run as the model so that a busy, shared machine
    slows both alike and their ratio (the model FLOP utilisation) stays meaningful.
    """
    a = tf.cast(tf.random.stateless_normal((size, size), seed=(1, 2)), dtype)
    b = tf.cast(tf.random.stateless_normal((size, size), seed=(3, 4)), dtype)
    matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    timing = time_runs(lambda: matmul().numpy(), warmup=2, repeats=repeats)
    # The best run is the closest to what the hardware can do when nothing else runs.
    return 2.0 * size**3 / timing["min_s"], 2.0 * size**3 / timing["median_s"]


def machine_facts():
    """What a benchmark JSON records about where it ran."""
    cpus = tf.config.list_physical_devices("CPU")
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "cpu_devices": len(cpus),
        "gpus": [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus],
        "cpu_threads": tf.config.threading.get_intra_op_parallelism_threads() or None,
    }
