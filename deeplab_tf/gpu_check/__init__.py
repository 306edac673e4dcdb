"""The GPU check's sections: the device, correctness against a reference device, and speed.

Each section is a generator of rows (JSON-ready dicts) from a `CheckSettings`.
tools.gpu_check runs each section in a process of its own and writes the rows as
they come, so a section cut short by its timeout keeps the rows it finished.

A correctness row runs one path of the project on `settings.device` and the plain
path on `settings.reference_device` (the CPU), on the same weights and inputs in
the same process, and has `passed`. Its `difference` is max |candidate − reference|
÷ max |reference| over the compared tensor (logits, probabilities, one step's
weight update), and `agreement` the fraction of pixels with the same argmax class.
On the CPU (`--smoke`) the device and the reference are the same, so only rows
whose path differs from the plain one (XLA, BN folded, mixed precision, the
SavedModel, pydensecrf) compare two computations; on a GPU every row does.

The correctness sections turn TensorFloat-32 off: with it (TensorFlow's default
on Ampere and later GPUs) float32 convolutions round their inputs to 10 mantissa
bits, and no 1e-3 check survives 101 layers of that. The speed sections leave
TensorFlow's default, which is what training and evaluation run with.
"""

from deeplab_tf.gpu_check.correctness import crf, forward, saved_model
from deeplab_tf.gpu_check.device_facts import device
from deeplab_tf.gpu_check.settings import CheckSettings
from deeplab_tf.gpu_check.speed import speed_crf, speed_inference, speed_train
from deeplab_tf.gpu_check.training import train_step

# In the order they run: the cheap facts first, the speed (the least needed) last.
CORRECTNESS = {"forward": forward, "train_step": train_step, "crf": crf, "saved_model": saved_model}
SPEED = {"speed_inference": speed_inference, "speed_crf": speed_crf, "speed_train": speed_train}
SECTIONS = {"device": device, **CORRECTNESS, **SPEED}
# Seconds each section may take on a GPU machine (tools.gpu_check --section_timeouts overrides them).
TIMEOUTS = {"device": 60, "forward": 120, "train_step": 240, "crf": 60, "saved_model": 120,
            "speed_inference": 120, "speed_crf": 90, "speed_train": 240}

__all__ = ["CORRECTNESS", "CheckSettings", "SECTIONS", "SPEED", "TIMEOUTS"]
