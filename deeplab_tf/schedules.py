"""DeepLab's "poly" learning-rate schedule, with an optional linear warm-up."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="deeplab_tf")
class PolyLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """base · (1 − t/T)^power, times a linear warm-up factor over the first steps.

    The v2 and v3 papers' schedule (v2 §4.1: "poly", power 0.9). It reaches 0
    at t = T and stays there. With `warmup_steps` = W > 0 the rate at step
    t < W is multiplied by (t + 1)/W, so it rises linearly to the poly value.

    Args:
        base_learning_rate: the rate at step 0 (without warm-up).
        decay_steps: T, the run's `train_steps`.
        power: 0.9 in both papers.
        warmup_steps: W; 0 for none.

    Example:
    ```python
    schedule = PolyLearningRate(0.007, decay_steps=30000)
    schedule(15000)  # 0.007 * 0.5 ** 0.9
    ```
    """

    def __init__(self, base_learning_rate, decay_steps, power=0.9, warmup_steps=0):
        self.base_learning_rate = float(base_learning_rate)
        self.decay_steps = int(decay_steps)
        self.power = float(power)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        progress = tf.minimum(step / float(self.decay_steps), 1.0)
        rate = self.base_learning_rate * tf.pow(1.0 - progress, self.power)
        if self.warmup_steps > 0:
            rate *= tf.minimum((step + 1.0) / float(self.warmup_steps), 1.0)
        return rate

    def get_config(self):
        return {
            "base_learning_rate": self.base_learning_rate,
            "decay_steps": self.decay_steps,
            "power": self.power,
            "warmup_steps": self.warmup_steps,
        }
