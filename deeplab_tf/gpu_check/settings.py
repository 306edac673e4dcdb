"""What the GPU check checks and times: `CheckSettings`."""

import dataclasses

from deeplab_tf.config import ModelConfig


@dataclasses.dataclass(frozen=True)
class CheckSettings:
    """What tools.gpu_check checks and times; the tool builds it from its flags (`--smoke` a small one).

    Args:
        model_config: the network (the correctness sections set its dropout to 0,
            since two paths draw different masks).
        device: the device under test, e.g. "/GPU:0".
        reference_device: the device the plain path runs on.
        input_size: (height, width) of the correctness checks' images and crops.
        batch_size: images of the training-step checks.
        tolerance: float32 rows: the largest `difference` that passes.
        mixed_tolerance: mixed-precision rows (against float32): the same.
        min_agreement: the smallest argmax agreement that passes.
        speed_input_size: (height, width) of the speed sections.
        train_batch_sizes: the training speed's batches.
        speed_policies: the dtype policies timed.
        warmup, repeats, matmul_size: as `deeplab_tf.benchmarking.BenchmarkConfig`.
    """

    model_config: ModelConfig
    device: str
    reference_device: str = "/CPU:0"
    input_size: tuple = (129, 129)
    batch_size: int = 2
    tolerance: float = 1e-3
    mixed_tolerance: float = 0.1
    min_agreement: float = 0.999
    speed_input_size: tuple = (513, 513)
    train_batch_sizes: tuple = (8, 16)
    speed_policies: tuple = ("float32", "mixed_float16")
    warmup: int = 2
    repeats: int = 5
    matmul_size: int = 4096

    @property
    def on_gpu(self):
        return "GPU" in self.device.upper()

    def to_dict(self):
        values = dataclasses.asdict(self)
        values["model_config"] = self.model_config.to_dict()
        return values
