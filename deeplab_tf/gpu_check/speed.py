"""The speed sections: `tools.benchmark`'s modes on the device, with its peak memory."""

import tensorflow as tf

from deeplab_tf.benchmarking import BenchmarkConfig, run_benchmark
from deeplab_tf.postprocess import CRFParams


def _benchmark_row(settings, what, mode, config):
    """`tools.benchmark`'s run of `mode` on the device, with the device's peak memory; an OOM is a row too."""
    memory_device = settings.device.lstrip("/").replace("device:", "")
    if settings.on_gpu:
        tf.config.experimental.reset_memory_stats(memory_device)
    try:
        with tf.device(settings.device):
            result = run_benchmark(mode, config)
    except tf.errors.ResourceExhaustedError as error:
        return {"what": what, "error": f"out of memory: {str(error).splitlines()[0]}"}
    peak = tf.config.experimental.get_memory_info(memory_device)["peak"] if settings.on_gpu else None
    return {"what": what, "images_per_s": result.get("images_per_s"), "median_s": result["median_s"],
            "utilization": result.get("utilization"), "peak_memory_bytes": peak,
            "argmax_agreement_with_float32": result.get("argmax_agreement_with_float32"), "benchmark": result}


def _benchmark_config(settings, **changes):
    values = dict(input_size=settings.speed_input_size, warmup=settings.warmup, repeats=settings.repeats,
                  matmul_size=settings.matmul_size, model_config=settings.model_config)
    return BenchmarkConfig(**{**values, **changes})


def speed_inference(settings):
    """Inference images/s at OS16 and OS8 for each policy, as tools.evaluate runs it (BN folded, no XLA)."""
    for output_stride in (16, 8):
        model_config = settings.model_config.with_output_stride(output_stride)
        for policy in settings.speed_policies:
            what = f"inference OS{output_stride}, {policy}, batch 1"
            config = _benchmark_config(settings, dtype_policy=policy, model_config=model_config)
            yield _benchmark_row(settings, what, "inference", config)


def speed_train(settings):
    """Training images/s for each batch and policy, XLA on a GPU (as tools.train --jit_compile=auto)."""
    for batch_size in settings.train_batch_sizes:
        for policy in settings.speed_policies:
            what = f"train, {policy}, batch {batch_size}" + (", XLA" if settings.on_gpu else "")
            config = _benchmark_config(settings, batch_size=batch_size, dtype_policy=policy,
                                       jit_compile=settings.on_gpu)
            yield _benchmark_row(settings, what, "train", config)


def speed_crf(settings):
    """The dense CRF's time per image (TF ops on the device; pydensecrf beside it on the CPU), alone and in a
    batch of 4 (`batch_over_single`: what `--crf_batch_size=4` would gain)."""
    size = "×".join(map(str, settings.speed_input_size))
    what = f"dense CRF, {size}, {settings.model_config.num_classes} classes, {CRFParams().iterations} iterations"
    row = _benchmark_row(settings, what, "crf", _benchmark_config(settings, batch_size=4))
    if "benchmark" in row:
        row["pydensecrf_median_s"] = row["benchmark"]["pydensecrf"]["median_s"]
        row["batch_over_single"] = row["benchmark"]["batch_over_single"]
    yield row
