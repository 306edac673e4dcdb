"""Cityscapes and ADE20K through TensorFlow Datasets, built from manual downloads.

`dataset_dir` is the TFDS data directory. The archives go in its
`downloads/manual/` folder (or in `dataset_dir` itself); the first read
prepares the dataset there, once.

- cityscapes: TFDS `cityscapes/semantic_segmentation`, from
  `leftImg8bit_trainvaltest.zip` and `gtFine_trainvaltest.zip`. Its labels are
  Cityscapes label ids; they are mapped to the 19 train ids, all else to 255.
- ade20k: SceneParse150 (150 classes) from `ADEChallengeData2016.zip` (or the
  folder it unpacks to), through the builder below. TFDS's own `scene_parse150`
  is not used: it reads the 2017 *instance* annotations (R = one of 100 instance
  categories, G = instance id), not the 150-class semantic maps. Label 0
  ("other") becomes 255 and 1..150 become 0..149.
"""

import functools
import os

import numpy as np
import tensorflow as tf
from absl import logging

from deeplab_tf.data import sharding
from deeplab_tf.errors import DataError

IGNORE = 255

# cityscapesScripts `labels.py`: label id → train id, for the 19 evaluated classes.
_CITYSCAPES_ID_TO_TRAIN_ID = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}

CITYSCAPES_TRAIN_ID_TABLE = np.full(256, IGNORE, np.uint8)
for _label_id, _train_id in _CITYSCAPES_ID_TO_TRAIN_ID.items():
    CITYSCAPES_TRAIN_ID_TABLE[_label_id] = _train_id

ADE20K_TRAIN_ID_TABLE = np.full(256, IGNORE, np.uint8)
ADE20K_TRAIN_ID_TABLE[1:151] = np.arange(150, dtype=np.uint8)

_CITYSCAPES_ARCHIVES = ("leftImg8bit_trainvaltest.zip", "gtFine_trainvaltest.zip")
_ADE20K_ARCHIVE = "ADEChallengeData2016.zip"
_ADE20K_FOLDER = "ADEChallengeData2016"

# Split names people type → the TFDS split names.
_SPLIT_ALIASES = {
    "cityscapes": {"train": "train", "val": "validation", "validation": "validation",
                   "test": "test"},
    "ade20k": {"train": "train", "training": "train", "val": "validation",
               "validation": "validation"},
}


def _lookup(table, label):
    if isinstance(label, np.ndarray):
        return table[label.astype(np.intp)]
    return tf.gather(tf.constant(table), tf.cast(label, tf.int32))


def cityscapes_to_train_ids(label):
    """Cityscapes label ids → the 19 train ids (0..18), everything else 255.

    Works on NumPy arrays and on tensors, of any shape and integer type.
    """
    return _lookup(CITYSCAPES_TRAIN_ID_TABLE, label)


def ade20k_to_train_ids(label):
    """SceneParse150 labels 1..150 → 0..149; 0 ("other") and anything else → 255."""
    return _lookup(ADE20K_TRAIN_ID_TABLE, label)


# === Builders ===


@functools.lru_cache(maxsize=None)
def _ade20k_builder_class():
    import tensorflow_datasets as tfds

    class SceneParse150Semantic(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        """SceneParse150 (ADE20K, 150 classes) from ADEChallengeData2016."""

        VERSION = tfds.core.Version("1.0.0")
        MANUAL_DOWNLOAD_INSTRUCTIONS = (
            f"Download {_ADE20K_ARCHIVE} from http://sceneparsing.csail.mit.edu/ "
            "and place it (or the folder it unpacks to) in the manual directory."
        )

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                description="SceneParse150 semantic maps: 0 = other, 1..150 = classes.",
                features=tfds.features.FeaturesDict({
                    "image_id": tfds.features.Text(),
                    "image": tfds.features.Image(encoding_format="jpeg"),
                    "annotation": tfds.features.Image(
                        shape=(None, None, 1), encoding_format="png"
                    ),
                }),
                homepage="http://sceneparsing.csail.mit.edu/",
            )

        def _split_generators(self, dl_manager):
            manual = os.fspath(dl_manager.manual_dir)
            root = os.path.join(manual, _ADE20K_FOLDER)
            if not os.path.isdir(root):
                root = os.path.join(
                    os.fspath(dl_manager.extract(os.path.join(manual, _ADE20K_ARCHIVE))),
                    _ADE20K_FOLDER,
                )
            return {
                "train": self._generate_examples(root, "training"),
                "validation": self._generate_examples(root, "validation"),
            }

        def _generate_examples(self, root, folder):
            image_dir = os.path.join(root, "images", folder)
            label_dir = os.path.join(root, "annotations", folder)
            for name in sorted(tf.io.gfile.listdir(image_dir)):
                if not name.endswith(".jpg"):
                    continue
                image_id = name[: -len(".jpg")]
                yield image_id, {
                    "image_id": image_id,
                    "image": os.path.join(image_dir, name),
                    "annotation": os.path.join(label_dir, image_id + ".png"),
                }

    return SceneParse150Semantic


def _manual_dir(name, dataset_dir):
    """The folder holding the archives the builder needs, or DataError saying where to put them."""
    needed = _CITYSCAPES_ARCHIVES if name == "cityscapes" else (_ADE20K_ARCHIVE,)
    candidates = [os.path.join(dataset_dir, "downloads", "manual"), dataset_dir]
    for candidate in candidates:
        if name == "ade20k" and os.path.isdir(os.path.join(candidate, _ADE20K_FOLDER)):
            return candidate
        if all(os.path.isfile(os.path.join(candidate, f)) for f in needed):
            return candidate
    raise DataError(
        f"{candidates[0]}: the {name} archives {', '.join(needed)} are not there "
        f"(nor in {dataset_dir}); download them by hand and place them there"
    )


def builder(name, dataset_dir):
    """The prepared TFDS builder of `name` in `dataset_dir`, preparing it on first use."""
    import tensorflow_datasets as tfds

    if not dataset_dir or not os.path.isdir(dataset_dir):
        raise DataError(f"{dataset_dir}: dataset directory not found")
    if name == "cityscapes":
        result = tfds.builder("cityscapes/semantic_segmentation", data_dir=dataset_dir)
    elif name == "ade20k":
        result = _ade20k_builder_class()(data_dir=dataset_dir)
    else:
        raise ValueError(f"not a TFDS dataset: {name!r}")
    if not result.is_prepared():
        manual_dir = _manual_dir(name, dataset_dir)
        logging.info("preparing %s in %s from %s (once; this takes a while)",
                     name, dataset_dir, manual_dir)
        # TFDS draws progress bars on stderr; the library only logs.
        from tensorflow_datasets.core.utils import tqdm_utils

        was_shown = getattr(tqdm_utils, "_active", True)
        tfds.display_progress_bar(False)
        try:
            result.download_and_prepare(
                download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
            )
        finally:
            tfds.display_progress_bar(was_shown)
        logging.info("prepared %s in %s", name, result.data_dir)
    return result


def tfds_split(name, split):
    """The TFDS split name for a split name as users type it (`val` → `validation`)."""
    aliases = _SPLIT_ALIASES[name]
    if split not in aliases:
        raise DataError(
            f"{name}: no split {split!r} (expected one of {', '.join(sorted(aliases))})"
        )
    return aliases[split]


def read_split(name, dataset_dir, split, info, *, exclude=(), shuffle_files=False, seed=None,
               input_context=None):
    """A `tf.data.Dataset` of {"image", "label" (train ids), "filename"} from TFDS.

    With `input_context`, this input pipeline's share only, before TFDS decodes:
    its shard files (TFDS's own `ReadConfig(input_context=...)`) when the split
    has at least as many files as pipelines, else its part of
    `tfds.even_splits` (a range of examples). `exclude` applies to each share.

    Raises:
        DataError: the split has fewer examples than input pipelines.
    """
    import tensorflow_datasets as tfds

    prepared = builder(name, dataset_dir)
    split_name = tfds_split(name, split)
    count, index = sharding.pipelines(input_context)
    by_file = False
    if count > 1:
        split_info = prepared.info.splits[split_name]
        sharding.check_enough(split_info.num_examples, input_context, os.fspath(prepared.data_dir), split)
        by_file = split_info.num_shards >= count
        if not by_file:
            split_name = tfds.even_splits(split_name, n=count)[index]
    read_config = tfds.ReadConfig(shuffle_seed=seed if shuffle_files else None,
                                  input_context=input_context if by_file else None)
    raw = prepared.as_dataset(split=split_name, shuffle_files=shuffle_files, read_config=read_config)
    if name == "cityscapes":
        image_key, label_key = "image_left", "segmentation_label"
        to_train_ids = cityscapes_to_train_ids
    else:
        image_key, label_key, to_train_ids = "image", "annotation", ade20k_to_train_ids
    if exclude:
        excluded = tf.constant(sorted(exclude), tf.string)
        raw = raw.filter(
            lambda e: tf.logical_not(tf.reduce_any(tf.equal(e["image_id"], excluded)))
        )

    def convert(example):
        return {
            "image": example[image_key],
            "label": to_train_ids(example[label_key][..., 0]),
            "filename": example["image_id"],
        }

    del info  # the label space is fixed by the mapping
    return raw.map(convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
