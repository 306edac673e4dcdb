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
    return _summary(times)


def _summary(times):
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "times_s": times,
    }


def time_against_matmul(run, *, dtype="float32", warmup=2, repeats=5, size=4096):
    """Times `run()` in turns with a size³ `tf.matmul`, each run beside its own matmul.

    The machines are shared: other jobs and the host's clock change how fast
    everything runs from one second to the next. Pairing every timed run with
    a matmul timed just before it lets `paired_utilization` compare the two
    under the same conditions, run by run.

    Returns:
        `time_runs`' dict for `run`, plus `matmul_s` (the matmul time paired
        with each run), `matmul_size` and `matmul_dtype`.
    """
    matmul = _matmul(dtype, size)
    for _ in range(warmup):
        matmul()
        run()
    runs, matmuls = [], []
    for _ in range(repeats):
        matmuls.append(time_runs(matmul, warmup=0, repeats=1)["median_s"])
        runs.append(time_runs(run, warmup=0, repeats=1)["median_s"])
    return {**_summary(runs), "matmul_s": matmuls, "matmul_size": size, "matmul_dtype": dtype}


def paired_utilization(flops, timing):
    """Median over a `time_against_matmul` timing's pairs of (flops / run time) ÷ matmul FLOP/s."""
    matmul_flops = 2.0 * timing["matmul_size"] ** 3
    ratios = [(flops / run) / (matmul_flops / matmul) for run, matmul in zip(timing["times_s"], timing["matmul_s"])]
    return statistics.median(ratios)


def matmul_flops_per_second(dtype="float32", size=4096, repeats=5):
    """The machine's own dense matmul rate (FLOP/s) for a size³ `tf.matmul`.

    Measured in the same run as the model so that a busy, shared machine
    slows both alike and their ratio (the model FLOP utilisation) stays meaningful.
    """
    timing = time_runs(_matmul(dtype, size), warmup=2, repeats=repeats)
    # The best run is the closest to what the hardware can do when nothing else runs.
    return 2.0 * size**3 / timing["min_s"], 2.0 * size**3 / timing["median_s"]


def _matmul(dtype, size):
    a = tf.cast(tf.random.stateless_normal((size, size), seed=(1, 2)), dtype)
    b = tf.cast(tf.random.stateless_normal((size, size), seed=(3, 4)), dtype)
    matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    return lambda: matmul().numpy()


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
