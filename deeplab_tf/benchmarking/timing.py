"""Timing for benchmarks: repeated timed runs, the machine's matmul rate, and FLOP utilisation against it."""

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
    a matmul timed just before it lets `utilization` compare the two
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


def utilization(flops, timing, matmul_flops_per_s):
    """The utilisation facts of a timed run of `flops` FLOPs, the one way every tool computes them.

    The reference is the best matmul rate of the run (the matmuls timed alone
    and those paired with the runs): the fastest the machine was seen to do
    dense work. A run's median against the best moment keeps the ratio at or
    below 1 on a shared machine; the median over (run, matmul) pairs did not
    (docs/performance.md, The benchmark tool).

    Args:
        flops: the FLOPs of one timed run.
        timing: `time_runs`' or `time_against_matmul`'s dict.
        matmul_flops_per_s: the run's best matmul rate.

    Returns:
        `flops_per_s` and `utilization`.
    """
    flops_per_s = flops / timing["median_s"]
    return {"flops_per_s": flops_per_s, "utilization": flops_per_s / matmul_flops_per_s}


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
