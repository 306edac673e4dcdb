"""Converting any readable dataset to the official TFRecord format."""

import io
import os

from absl import logging
from PIL import Image

from deeplab_tf.data import classes_file, folder, image_io, info as info_lib, readers, tfrecord, validate, voc
from deeplab_tf.errors import ConfigError, DataError

_VOC_LAYOUT = ("voc2012", "synthetic")


def default_splits(name, dataset_dir):
    """The splits a dataset has: its split files, its shards, or TFDS's train and val."""
    if name in _VOC_LAYOUT:
        return voc.list_splits(voc.find_root(dataset_dir))
    if name == "tfrecord":
        return tfrecord.list_splits(dataset_dir)
    if name == "folder":
        return folder.list_splits(dataset_dir)
    return ["train", "val"]


def _voc_records(dataset_dir, split, exclude):
    for example_id, image_path, label_path in voc.list_examples(dataset_dir, split):
        if example_id in exclude:
            continue
        with open(image_path, "rb") as f:
            image_bytes = f.read()
        with open(label_path, "rb") as f:
            label = image_io.decode_label(f.read()).numpy()
        width, height = Image.open(io.BytesIO(image_bytes)).size
        yield tfrecord.make_example(
            example_id, image_bytes, image_io.image_format(image_bytes), height, width,
            image_io.encode_index_png(label),
        )


def _folder_records(dataset_dir, split, exclude, val_fraction):
    classes = classes_file.read_classes(dataset_dir)
    lookup = folder.value_lookup(classes)
    examples, _ = folder.list_examples(dataset_dir, split, val_fraction)
    for example_id, image_path, mask_path in examples:
        if example_id in exclude:
            continue
        with open(image_path, "rb") as f:
            image_bytes = f.read()
        with open(mask_path, "rb") as f:
            label = folder.mask_labels(f.read(), classes, lookup)
        height, width = label.shape
        yield tfrecord.make_example(
            example_id, image_bytes, image_io.image_format(image_bytes), height, width,
            image_io.encode_index_png(label),
        )


def _decoded_records(dataset):
    for example in dataset.as_numpy_iterator():
        buffer = io.BytesIO()
        Image.fromarray(example["image"]).save(buffer, format="PNG")
        height, width = example["label"].shape
        yield tfrecord.make_example(
            example["filename"].decode(), buffer.getvalue(), "png", height, width,
            image_io.encode_index_png(example["label"]),
        )


def write_tfrecords(name, dataset_dir, output_dir, num_shards, *, splits=None,
                    num_classes=None, skip_bad_examples=False, log_every=500, val_fraction=None):
    """Writes `<split>-%05d-of-%05d.tfrecord` shards of each split, and `dataset.json`.

    VOC-layout and folder images keep their original bytes; labels become
    8-bit index PNGs of the classes (what the official readers decode with one
    channel), with 255 for ignored pixels whatever the source stored; above
    255 classes, 16-bit gray PNGs with 65535 for ignored pixels (`label_space`).
    `val_fraction`: a folder dataset's split by name, as for `read_split`. Each split is
    validated first; its problems raise unless `skip_bad_examples`, which
    leaves the bad examples out and logs them.

    Returns:
        {split: number of examples written}.

    Raises:
        ConfigError: bad name, num_classes or num_shards. DataError: a split has
        problems (the message lists them) or cannot be found.
    """
    if int(num_shards) < 1:
        raise ConfigError("num_shards", f"must be at least 1, got {num_shards}")
    info = info_lib.dataset_info(name, dataset_dir, num_classes)
    if name == "tfrecord" and os.path.realpath(output_dir) == os.path.realpath(dataset_dir):
        raise ConfigError("output_dir", "must differ from the TFRecord dataset_dir it reads")
    splits = list(splits) if splits else default_splits(name, dataset_dir)
    if not splits:
        raise DataError(f"{dataset_dir}: no splits found to convert")
    os.makedirs(output_dir, exist_ok=True)
    written = {}
    for split in splits:
        report = validate.validate_split(name, dataset_dir, split, num_classes=num_classes,
                                         val_fraction=val_fraction)
        if report.problems and not skip_bad_examples:
            shown = "; ".join(str(p) for p in report.problems[:10])
            more = f" (and {len(report.problems) - 10} more)" if len(report.problems) > 10 else ""
            raise DataError(
                f"split {split!r} of {dataset_dir} has {len(report.problems)} problem(s): "
                f"{shown}{more}; fix them or pass --skip_bad_examples"
            )
        if report.problems:
            logging.warning("%s: skipping %d bad example(s): %s", split,
                            len(report.bad_examples), "; ".join(str(p) for p in report.problems))
        exclude = set(report.bad_examples)
        count = report.num_examples - len(exclude)
        if count <= 0:
            raise DataError(f"split {split!r} of {dataset_dir} has no usable examples")
        if name in _VOC_LAYOUT:
            records = _voc_records(dataset_dir, split, exclude)
        elif name == "folder":
            records = _folder_records(dataset_dir, split, exclude, val_fraction)
        else:
            dataset = readers.read_split(name, dataset_dir, split, num_classes=num_classes)
            if exclude:
                dataset = dataset.filter(lambda e: _keep(e["filename"], exclude))
            records = _decoded_records(dataset)
        tfrecord.write_split(records, output_dir, split, count, int(num_shards), log_every)
        written[split] = count
        logging.info("%s: %d examples in %d shard(s)", split, count, num_shards)
    info_lib.write_metadata(output_dir, info_lib.DatasetInfo(
        "tfrecord", info.num_classes, info.ignore_label, info.class_names, palette=info.palette),
        source_dataset=name)
    return written


def _keep(filename, exclude):
    import tensorflow as tf

    return tf.logical_not(tf.reduce_any(tf.equal(filename, sorted(exclude))))
