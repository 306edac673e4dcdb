"""One benchmark run: the machine's facts and matmul rates, a mode's timing, and its utilisation."""

from absl import logging

from deeplab_tf.benchmarking import crf, inference, input_pipeline, machine, runtimes, tflite, timing, training
from deeplab_tf.errors import ConfigError


def run_benchmark(mode, config):
    """One benchmark run: the JSON-ready dict tools.benchmark prints and writes.

    The machine's facts and its best float32 (and, for a bfloat16 run, bfloat16) matmul rates (of
    the matmuls timed alone and those paired with the mode's runs), the mode's
    own timing (a `MODES` function of `config`), and, for a mode that counts
    FLOPs, `timing.utilization`'s `flops_per_s` and `utilization` (against
    the best matmul of the run).
    """
    if mode == "tflite" and not config.tflite_models:  # before the matmuls, which take a while
        raise ConfigError("tflite_model", "required with --mode=tflite")
    result = {
        "mode": mode,
        "input_size": list(config.input_size),
        "batch_size": config.batch_size,
        "mixed_precision": config.dtype_policy,
        "jit_compile": config.jit_compile,
        "machine": machine.machine_facts(),
    }
    logging.info("measuring the machine's matmul rate")
    dtype = "bfloat16" if config.dtype_policy == "mixed_bfloat16" else "float32"
    # The run's precision only: a bfloat16 matmul is emulated, and slow, on a CPU without AVX512-BF16 or AMX.
    for name in sorted({"float32", dtype}):
        result[f"matmul_flops_per_s_{name}"], _ = timing.matmul_flops_per_second(name, size=config.matmul_size)

    logging.info("timing mode %s", mode)
    result.update(MODES[mode](config))
    if "matmul_s" in result:
        # The matmuls paired with the runs are the run's too: on a busy machine one of them may be the fastest.
        fastest = 2.0 * result["matmul_size"] ** 3 / min(result["matmul_s"])
        result[f"matmul_flops_per_s_{dtype}"] = max(result[f"matmul_flops_per_s_{dtype}"], fastest)
    result["matmul_flops_per_s"] = result[f"matmul_flops_per_s_{dtype}"]
    if result.get("flops"):
        result.update(timing.utilization(result["flops"], result, result["matmul_flops_per_s"]))
    return result


MODES = {"inference": inference.inference, "multiscale": inference.multiscale, "train": training.train,
         "data": input_pipeline.data, "crf": crf.crf, "tflite": tflite.tflite, "runtimes": runtimes.runtimes}
