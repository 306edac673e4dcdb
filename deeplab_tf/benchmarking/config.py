"""What one benchmark run times: `BenchmarkConfig`."""

import dataclasses

from deeplab_tf.benchmarking import timing
from deeplab_tf.config import ModelConfig
from deeplab_tf.inference import PAPER_EVAL_SCALES, InferenceSettings
from deeplab_tf.training.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
    """What one benchmark run times; tools.benchmark builds it from its flags, a test builds it directly.

    Args:
        input_size: (height, width) of the input (or training crop).
        batch_size: images per step.
        dtype_policy: Keras dtype policy of the timed network.
        jit_compile: XLA-compile the timed function.
        warmup, repeats: untimed runs, then timed runs.
        matmul_size: the size³ matmul every timed run is paired with, and whose
            rate `run_benchmark` measures.
        model_config: the network (random weights) when `model_dir` is None.
        model_dir: inference modes: a trained model directory instead.
        fold_batch_norm: inference modes: BN folded into the convolutions, as tools.evaluate.
        agreement_images: inference mode: a glob of images for the argmax agreement with float32.
        settings: multiscale mode: the test-time passes.
        train_config: train mode: the step's settings (`batch_size`, `crop_size`,
            `mixed_precision` and `jit_compile` are this config's).
        dataset_dir: data mode: a generated dataset (None: generate one).
        tflite_models: tflite mode: the .tflite files, timed in the same turns.
        num_threads: runtimes mode: the CPU threads of every runtime.
    """

    input_size: tuple = (513, 513)
    batch_size: int = 1
    dtype_policy: str = "float32"
    jit_compile: bool = False
    warmup: int = 2
    repeats: int = 5
    matmul_size: int = 4096
    model_config: ModelConfig = None
    model_dir: str = None
    fold_batch_norm: bool = True
    agreement_images: str = None
    settings: InferenceSettings = InferenceSettings(scales=PAPER_EVAL_SCALES, flip=True)
    train_config: TrainConfig = None
    dataset_dir: str = None
    tflite_models: tuple = ()
    num_threads: int = 2

    def paired_timing(self, run, beside=None):
        """`run` timed in turns with the matmul of the run's precision (see `timing.utilization`)."""
        dtype = "bfloat16" if self.dtype_policy == "mixed_bfloat16" else "float32"
        return timing.time_against_matmul(run, dtype=dtype, warmup=self.warmup, repeats=self.repeats,
                                          size=self.matmul_size, beside=beside)
