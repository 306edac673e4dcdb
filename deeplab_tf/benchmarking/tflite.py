"""The tflite mode: LiteRT latency, size and operators of converted models, timed in turns."""

from deeplab_tf.benchmarking import timing
from deeplab_tf.export import graph_summary, measure_latencies


def tflite(config):
    """LiteRT latency (XNNPACK, 2 threads), file size and operators of converted models, timed in turns.

    With several models, each model's `speedup` is the median over turns of
    (the reference's time ÷ its time), the reference being the first model listed
    at the same input size: list float32 R-101 first, then int8 MobileNetV2, to
    read how many times faster the mobile model runs. The top level holds the
    first model's timing, so one model gives what it always gave.
    """
    results = measure_latencies(config.tflite_models, num_threads=2, warmup_runs=config.warmup,
                                timed_runs=max(config.repeats, 10))
    references = {}
    for result in results:
        reference = references.setdefault(tuple(result["input_size"]), result)
        result["speedup_reference"] = reference["tflite"]
        result["speedup"] = timing.paired_ratio(reference["times_s"], result["times_s"])
        with open(result["tflite"], "rb") as file:
            graph = graph_summary(file.read())
        result["operators"] = graph["operators"]
    return {**results[0], "models": results} if len(results) > 1 else results[0]
