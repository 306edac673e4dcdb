"""Timing helpers for benchmarks: repeated timed runs and the machine's matmul rate."""

import os
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


def time_against_matmul(run, *, dtype="float32", warmup=2, repeats=5, size=4096, beside=None):
    """Times `run()` in turns with a size³ `tf.matmul`, each run beside its own matmul.

    The machines are shared: other jobs and the host's clock change how fast
    everything runs from one second to the next. Pairing every timed run with
    a matmul timed just before it lets `paired_utilization` compare the two
    under the same conditions, run by run.

    Args:
        run: the callable to time; it must block until its work is done.
        dtype: the matmul's dtype, the precision `run` computes in.
        warmup: untimed turns first.
        repeats: timed turns.
        size: the matmul's size.
        beside: optional {name: callable} timed in the same turns, for
            comparisons run by run (e.g. the float32 network beside the
            bfloat16 one).

    Returns:
        `time_runs`' dict for `run`, plus `matmul_s` (the matmul time paired
        with each run), `matmul_size`, `matmul_dtype` and, with `beside`,
        `beside`: {name: `time_runs`' dict}.
    """
    runs = {"matmul": _matmul(dtype, size), "run": run, **(beside or {})}
    for _ in range(warmup):
        for function in runs.values():
            function()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, function in runs.items():
            times[name].append(time_runs(function, warmup=0, repeats=1)["median_s"])
    result = {**_summary(times.pop("run")), "matmul_s": times.pop("matmul"), "matmul_size": size,
              "matmul_dtype": dtype}
    if beside:
        result["beside"] = {name: _summary(values) for name, values in times.items()}
    return result


def paired_ratio(numerators, denominators):
    """Median over turns of numerator time ÷ denominator time (e.g. float32 ÷ bfloat16: the speed-up)."""
    return statistics.median(a / b for a, b in zip(numerators, denominators))


def paired_utilization(flops, timing):
    """Median over a `time_against_matmul` timing's pairs of (flops / run time) ÷ matmul FLOP/s."""
    matmul_flops = 2.0 * timing["matmul_size"] ** 3
    return paired_ratio(timing["matmul_s"], timing["times_s"]) * flops / matmul_flops


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
