"""Label values: the integer type labels are carried in and the ignore label that goes with it.

Up to 255 classes, labels are uint8 and ignored pixels 255 (VOC's convention,
and the official TFRecords' 8-bit PNGs). With more classes (up to
`MAX_CLASSES`), labels are uint16, ignored pixels 65535, and label PNGs are
16-bit gray. Every reader hands on labels of `label_dtype(...)`; augmentation
turns them into int32 for the loss and the metrics.
"""

import numpy as np

IGNORE_LABEL = 255
WIDE_IGNORE_LABEL = 65535
MAX_UINT8_CLASSES = 255
MAX_CLASSES = 1000
MAX_LABEL_VALUE = 65535


def ignore_label_for(num_classes):
    """The ignore label of a dataset with `num_classes` classes: 255, or 65535 above 255 classes."""
    return IGNORE_LABEL if num_classes <= MAX_UINT8_CLASSES else WIDE_IGNORE_LABEL


def label_dtype(num_classes, ignore_label):
    """"uint8" when the classes 0..num_classes-1 and `ignore_label` fit in 8 bits, else "uint16"."""
    return "uint8" if max(num_classes - 1, ignore_label) <= 255 else "uint16"


def prediction_dtype(num_classes):
    """The NumPy dtype of predicted class ids 0..num_classes-1: uint8, or uint16 above 256 classes."""
    return np.uint8 if num_classes <= 256 else np.uint16
