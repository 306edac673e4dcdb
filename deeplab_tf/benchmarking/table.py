"""Benchmark results (`run_benchmark`'s dicts) as Markdown: the tables of docs/performance.md."""

import statistics


def describe(result):
    """What was timed, in a few words: network, stride, size, batch, precision, options."""
    mode = result["mode"]
    size = "×".join(str(v) for v in result["input_size"])
    if mode in ("data", "crf", "tflite"):
        return f"{mode} {size}, batch {result['batch_size']}"
    config = result["model_config"]
    network = f"{config['variant']} {config['backbone'].replace('resnet', 'R-')} OS{config['output_stride']}"
    # Older results say "none" for float32.
    precision = {"none": "float32", "float32": "float32", "mixed_bfloat16": "bfloat16",
                 "mixed_float16": "float16"}[result["mixed_precision"]]
    words = [f"{mode}: {network}", f"{size}, batch {result['batch_size']}", precision]
    if mode in ("inference", "multiscale"):
        if not result.get("fold_batch_norm"):
            words.append("BN not folded")
        if not result.get("assume_frozen_weights"):
            words.append("weights reordered every call")
        if result.get("model_dir"):
            words.append(f"trained ({result['model_dir']})")
    if mode == "multiscale":
        words.append(f"{len(result['eval_scales'])} scales{' + flip' if result['flip'] else ''}: "
                     f"{result['cost_over_single_pass']:.1f}× the time of one pass for "
                     f"{result['flops_over_single_pass']:.1f}× its FLOPs")
    if result.get("jit_compile"):
        words.append("XLA")
    return ", ".join(words)


def row(result):
    giga = 1e9
    matmul = (2 * result["matmul_size"] ** 3 / statistics.median(result["matmul_s"]) / giga
              if "matmul_s" in result else None)
    cells = [
        describe(result),
        f"{result['flops'] / giga:.1f} G" if result.get("flops") else "",
        f"{result['median_s']:.3f} s",
        f"{result['images_per_s']:.2f}" if "images_per_s" in result else "",
        f"{matmul:.0f} ({result['matmul_dtype']})" if matmul else "",
        f"**{100 * result['utilization']:.0f}%**" if "utilization" in result else "",
        f"{result['speedup_over_float32']:.2f}×" if "speedup_over_float32" in result else "",
        f"{100 * result['argmax_agreement_with_float32']:.2f}%" if "argmax_agreement_with_float32" in result else "",
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| what | FLOPs | median | images/s | matmul beside it, GFLOP/s | utilisation "
    "| speed-up over float32 | argmax agreement with float32 |\n"
    "|---|---|---|---|---|---|---|---|"
)


def markdown(results):
    """The header, one row a result, and where and when they were measured; ends with a newline."""
    dates = sorted(result["machine"]["date"] for result in results)
    machine = results[0]["machine"]
    cpus = f"{machine['cpu_count']} CPUs ({', '.join(machine['cpu_features'])})" if "cpu_count" in machine else ""
    lines = [HEADER, *(row(result) for result in results),
             f"\nMeasured {dates[0]} to {dates[-1]} on {machine['processor']} {cpus}, "
             f"TensorFlow {machine['tensorflow']}."]
    return "\n".join(lines) + "\n"
