"""The trainer's learning-rate schedule; defined in `deeplab_tf.schedules`."""

from deeplab_tf.schedules import PolyLearningRate  # noqa: F401  (this module's name)
