"""Cityscapes: its 19 train ids, their colours, and the TFDS build it is read from.

`dataset_dir` is a TFDS data directory; TFDS's `cityscapes/semantic_segmentation`
builds there from `leftImg8bit_trainvaltest.zip` and `gtFine_trainvaltest.zip`
(`tfds_sets`). Its labels are Cityscapes label ids; they are mapped to the 19
train ids, all else to 255.
"""

import numpy as np

from deeplab_tf.data import tfds_sets

CLASS_NAMES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
    "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
    "truck", "bus", "train", "motorcycle", "bicycle",
)

# The 19 Cityscapes train ids, in `CLASS_NAMES` order (Cordts et al., CVPR 2016).
COLORS = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70),
    (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
)

# cityscapesScripts `labels.py`: label id → train id, for the 19 evaluated classes.
_ID_TO_TRAIN_ID = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}

TRAIN_ID_TABLE = np.full(256, tfds_sets.IGNORE, np.uint8)
for _label_id, _train_id in _ID_TO_TRAIN_ID.items():
    TRAIN_ID_TABLE[_label_id] = _train_id


def to_train_ids(label):
    """Cityscapes label ids → the 19 train ids (0..18), everything else 255.

    Works on NumPy arrays and on tensors, of any shape and integer type.
    """
    return tfds_sets.lookup(TRAIN_ID_TABLE, label)


def _builder(dataset_dir):
    import tensorflow_datasets as tfds

    return tfds.builder("cityscapes/semantic_segmentation", data_dir=dataset_dir)


SOURCE = tfds_sets.TfdsSource(
    name="cityscapes",
    make_builder=_builder,
    archives=("leftImg8bit_trainvaltest.zip", "gtFine_trainvaltest.zip"),
    split_aliases={"train": "train", "val": "validation", "validation": "validation", "test": "test"},
    image_key="image_left",
    label_key="segmentation_label",
    to_train_ids=to_train_ids,
)

FORMAT = tfds_sets.tfds_format(SOURCE, CLASS_NAMES, COLORS, "a TFDS data directory with the manual downloads")
