"""The PASCAL VOC 2012 format: its layout and classes; listing, reading, validating and converting a split.

The generated dataset (`synthetic`) has the same layout and reads the same way.
"""

import os

import tensorflow as tf

from deeplab_tf.data import image_io, info as info_lib, registry, sharding, tfrecord, validate
from deeplab_tf.errors import DataError

CLASS_NAMES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
    "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
    "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)

IMAGE_DIR = "JPEGImages"
LABEL_DIR = "SegmentationClass"
AUG_LABEL_DIR = "SegmentationClassAug"
SPLIT_DIR = os.path.join("ImageSets", "Segmentation")
IMAGE_EXT = ".jpg"
LABEL_EXT = ".png"


def find_root(dataset_dir):
    """The VOC2012 folder in or at `dataset_dir` (which may be it, or VOCdevkit, or above).

    Raises:
        DataError: none of them holds `ImageSets/Segmentation/` or `JPEGImages/`.
    """
    return find_release_root(dataset_dir, ("", "VOC2012", os.path.join("VOCdevkit", "VOC2012")),
                             (SPLIT_DIR, IMAGE_DIR), "a VOC-layout dataset")


def find_release_root(directory, candidates, markers, kind):
    """The first of `directory`/`candidates` that holds one of the `markers` folders (VOC, SBD releases).

    Raises:
        DataError: `directory` is missing, or none of them holds a marker.
    """
    if not directory or not os.path.isdir(directory):
        raise DataError(f"{directory}: dataset directory not found")
    for candidate in candidates:
        root = os.path.join(directory, candidate)
        if any(os.path.isdir(os.path.join(root, marker)) for marker in markers):
            return root if candidate else directory
    raise DataError(f"{directory}: not {kind} (no {' or '.join(m + '/' for m in markers)} in it)")


def split_file(root, split):
    return os.path.join(root, SPLIT_DIR, f"{split}.txt")


def list_splits(root):
    """Names of the splits listed in `ImageSets/Segmentation/` of the VOC2012 folder `root`, sorted."""
    directory = os.path.join(root, SPLIT_DIR)
    if not os.path.isdir(directory):
        return []
    return sorted(name[:-4] for name in os.listdir(directory) if name.endswith(".txt"))


def read_split_file(path):
    """The example ids listed in a split file, in file order.

    Raises:
        DataError: the file is missing or unreadable.
    """
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as error:
        raise DataError(f"{path}: split file cannot be read ({error.strerror})") from None
    return [line.split()[0] for line in lines if line.strip()]


def label_dir_for(split):
    """`train_aug` labels live in `SegmentationClassAug/`, the others in `SegmentationClass/`."""
    return AUG_LABEL_DIR if split == "train_aug" else LABEL_DIR


def image_path(root, name):
    """`JPEGImages/<name>.jpg`, or `.png` when only that exists."""
    jpg = os.path.join(root, IMAGE_DIR, name + IMAGE_EXT)
    if not os.path.isfile(jpg):
        png = os.path.join(root, IMAGE_DIR, name + ".png")
        if os.path.isfile(png):
            return png
    return jpg


def list_examples(dataset_dir, split):
    """[(id, image path, label path)] of a split, in split-file order.

    Raises:
        DataError: no VOC layout or no such split file.
    """
    root = find_root(dataset_dir)
    path = split_file(root, split)
    if not os.path.isfile(path):
        available = ", ".join(list_splits(root)) or "none"
        raise DataError(f"{path}: split file not found (splits here: {available})")
    label_dir = label_dir_for(split)
    return [
        (name, image_path(root, name), os.path.join(root, label_dir, name + LABEL_EXT))
        for name in read_split_file(path)
    ]


def check_files_exist(examples, split_path):
    """Raises `DataError` naming every listed file that is missing."""
    missing = [
        path for _, image, label in examples for path in (image, label)
        if not os.path.isfile(path)
    ]
    if missing:
        shown = "; ".join(missing[:20])
        more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise DataError(
            f"{split_path}: {len(missing)} listed file(s) missing: {shown}{more}"
        )


def read_examples(examples, info, *, shuffle_files=False, seed=None):
    """A `tf.data.Dataset` of decoded {"image", "label", "filename"} for `examples`."""
    names, images, labels = (list(column) for column in zip(*examples))
    files = tf.data.Dataset.from_tensor_slices((names, images, labels))
    if shuffle_files:
        files = files.shuffle(len(names), seed=seed, reshuffle_each_iteration=True)

    def load(name, image_file, label_file):
        return image_io.decode_example(
            tf.io.read_file(image_file),
            tf.io.read_file(label_file),
            name,
            info.num_classes,
            info.ignore_label,
        )

    return files.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


# === The format (shared by the generated dataset) ===


def read_layout(dataset_dir, split, info, *, exclude=(), shuffle_files=False, seed=None, input_context=None,
                val_fraction=None):
    """`DatasetFormat.read` of the VOC layout (`val_fraction` unused: the split files list the examples)."""
    examples = list_examples(dataset_dir, split)
    split_path = split_file(find_root(dataset_dir), split)
    if not examples:
        raise DataError(f"{split_path}: split lists no examples")
    examples = [e for e in examples if e[0] not in exclude]
    check_files_exist(examples, split_path)
    sharding.check_enough(len(examples), input_context, split_path, split)
    return read_examples(sharding.share(examples, input_context), info, shuffle_files=shuffle_files, seed=seed)


def validate_layout(report, dataset_dir, split, val_fraction):
    """`DatasetFormat.validate` of the VOC layout."""
    del val_fraction  # the split files list the examples
    examples = list_examples(dataset_dir, split)

    def check(example):
        name, image_path, label_path = example
        missing = [
            validate.Problem(path, f"listed in {split}.txt but missing")
            for path in (image_path, label_path) if not os.path.isfile(path)
        ]
        if missing:
            return name, missing, [], None
        problems, notes, label = validate.check_pair(
            validate.read_bytes(image_path), validate.read_bytes(label_path), image_path, label_path, report.info
        )
        return name, problems, notes, label

    validate.check_listed_examples(report, examples, split_file(find_root(dataset_dir), split),
                                   "split lists no examples", check)


def layout_records(dataset_dir, split, info, exclude, val_fraction):
    """`DatasetFormat.records` of the VOC layout: the images' own bytes, labels as class-id PNGs."""
    del info, val_fraction
    for example_id, image_path, label_path in list_examples(dataset_dir, split):
        if example_id not in exclude:
            label = image_io.decode_label(validate.read_bytes(label_path)).numpy()
            yield tfrecord.file_example(example_id, validate.read_bytes(image_path), label)


def list_layout_splits(dataset_dir):
    """The split files of the VOC2012 folder in or at `dataset_dir`."""
    return list_splits(find_root(dataset_dir))


FORMAT = registry.DatasetFormat(
    name="voc2012",
    description="PASCAL VOC 2012: JPEGImages/, SegmentationClass/, ImageSets/Segmentation/",
    info=info_lib.fixed_info("voc2012", CLASS_NAMES),
    list_splits=list_layout_splits,
    read=read_layout,
    validate=validate_layout,
    records=layout_records,
)
