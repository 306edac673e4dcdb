"""Converting any readable dataset to the official TFRecord format."""

import io
import os

from absl import logging
from PIL import Image

from deeplab_tf.data import info as info_lib, readers, registry, tfrecord, validate
from deeplab_tf.errors import ConfigError, DataError


def _decoded_records(name, dataset_dir, split, num_classes, exclude):
    """The examples `read_split` decodes, re-encoded: images as PNG, labels as class-id PNGs."""
    dataset = readers.read_split(name, dataset_dir, split, num_classes=num_classes)
    if exclude:
        dataset = dataset.filter(lambda e: _keep(e["filename"], exclude))
    for example in dataset.as_numpy_iterator():
        buffer = io.BytesIO()
        Image.fromarray(example["image"]).save(buffer, format="PNG")
        yield tfrecord.file_example(example["filename"].decode(), buffer.getvalue(), example["label"])


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
    if os.path.realpath(output_dir) == os.path.realpath(dataset_dir):
        raise ConfigError("output_dir", "must differ from the dataset_dir it reads")
    dataset_format = registry.get_format(name)
    splits = list(splits) if splits else dataset_format.list_splits(dataset_dir)
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
        if dataset_format.records is not None:
            records = dataset_format.records(dataset_dir, split, info, exclude, val_fraction)
        else:
            records = _decoded_records(name, dataset_dir, split, num_classes, exclude)
        tfrecord.write_split(records, output_dir, split, count, int(num_shards), log_every)
        written[split] = count
        logging.info("%s: %d examples in %d shard(s)", split, count, num_shards)
    info_lib.write_metadata(output_dir, info_lib.DatasetInfo(
        tfrecord.FORMAT.name, info.num_classes, info.ignore_label, info.class_names, palette=info.palette),
        source_dataset=name)
    return written


def _keep(filename, exclude):
    import tensorflow as tf

    return tf.logical_not(tf.reduce_any(tf.equal(filename, sorted(exclude))))
