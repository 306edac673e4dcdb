"""The trainer's loss functions; they are defined in `deeplab_tf.losses`, beside the Keras `SegmentationLoss`."""

from deeplab_tf.losses import (  # noqa: F401  (this module's names)
    decayed_kernels,
    downsample_labels,
    pixel_cross_entropy_sum,
    segmentation_loss,
    valid_pixel_count,
    weight_decay_loss,
)
