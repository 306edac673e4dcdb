"""Benchmarks: timed runs of DeepLab's parts beside the machine's matmul, one module per mode.

`run_benchmark(mode, config)` is the whole of one `tools.benchmark` run
(machine facts, matmul rates, the mode's timing, utilisation) without flags,
so a test or a notebook runs it in-process on a tiny model with a small matmul:

```python
from deeplab_tf import ModelConfig
from deeplab_tf.benchmarking import BenchmarkConfig, run_benchmark

config = BenchmarkConfig(input_size=(129, 129), model_config=ModelConfig(backbone="resnet18", num_classes=21))
report = run_benchmark("inference", config)  # "images_per_s", "utilization", ...
```
"""

from deeplab_tf.benchmarking.config import BenchmarkConfig
from deeplab_tf.benchmarking.machine import machine_facts
from deeplab_tf.benchmarking.run import MODES, run_benchmark
from deeplab_tf.benchmarking.timing import (
    matmul_flops_per_second,
    paired_ratio,
    time_against_matmul,
    time_runs,
    utilization,
)
from deeplab_tf.benchmarking.training import random_batch

__all__ = [
    "BenchmarkConfig",
    "MODES",
    "machine_facts",
    "matmul_flops_per_second",
    "paired_ratio",
    "random_batch",
    "run_benchmark",
    "time_against_matmul",
    "time_runs",
    "utilization",
]
