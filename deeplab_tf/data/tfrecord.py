"""The official DeepLab TFRecord format (also read by TF Model Garden): write, read and validate shards."""

import glob
import math
import os

import tensorflow as tf
from absl import logging

from deeplab_tf.data import image_io, info as info_lib, registry, sharding, validate
from deeplab_tf.errors import ConfigError, DataError, last_line

# The keys of `research/deeplab/datasets/build_data.py`.
IMAGE_ENCODED = "image/encoded"
IMAGE_FILENAME = "image/filename"
IMAGE_FORMAT = "image/format"
IMAGE_HEIGHT = "image/height"
IMAGE_WIDTH = "image/width"
IMAGE_CHANNELS = "image/channels"
LABEL_ENCODED = "image/segmentation/class/encoded"
LABEL_FORMAT = "image/segmentation/class/format"

_FEATURES = {
    IMAGE_ENCODED: tf.io.FixedLenFeature((), tf.string, default_value=""),
    IMAGE_FILENAME: tf.io.FixedLenFeature((), tf.string, default_value=""),
    IMAGE_FORMAT: tf.io.FixedLenFeature((), tf.string, default_value="jpeg"),
    IMAGE_HEIGHT: tf.io.FixedLenFeature((), tf.int64, default_value=0),
    IMAGE_WIDTH: tf.io.FixedLenFeature((), tf.int64, default_value=0),
    LABEL_ENCODED: tf.io.FixedLenFeature((), tf.string, default_value=""),
    LABEL_FORMAT: tf.io.FixedLenFeature((), tf.string, default_value="png"),
}


def shard_name(split, index, num_shards):
    """`<split>-%05d-of-%05d.tfrecord`, as the official converters name shards."""
    return "%s-%05d-of-%05d.tfrecord" % (split, index, num_shards)


def _bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int64(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def make_example(filename, image_bytes, image_format, height, width, label_png_bytes):
    """One `tf.train.Example` with the official keys (label: 8-bit index PNG, 16-bit above 255 classes)."""
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                IMAGE_ENCODED: _bytes(image_bytes),
                IMAGE_FILENAME: _bytes(filename.encode()),
                IMAGE_FORMAT: _bytes(image_format.encode()),
                IMAGE_HEIGHT: _int64(height),
                IMAGE_WIDTH: _int64(width),
                IMAGE_CHANNELS: _int64(3),
                LABEL_ENCODED: _bytes(label_png_bytes),
                LABEL_FORMAT: _bytes(b"png"),
            }
        )
    )


def file_example(filename, image_bytes, label):
    """`make_example` of an encoded image, as it is, and its [H, W] class ids, as an index PNG."""
    height, width = label.shape
    return make_example(filename, image_bytes, image_io.image_format(image_bytes), height, width,
                        image_io.encode_index_png(label))


def write_split(examples, output_dir, split, num_examples, num_shards, log_every=500):
    """Writes `examples` (an iterable of `tf.train.Example`) as sharded TFRecords.

    Shard i holds examples [i*ceil(n/num_shards), (i+1)*ceil(n/num_shards)), the
    official converters' layout.

    Returns:
        The shard paths written.
    """
    os.makedirs(output_dir, exist_ok=True)
    per_shard = max(1, int(math.ceil(num_examples / float(num_shards))))
    paths = [os.path.join(output_dir, shard_name(split, i, num_shards)) for i in range(num_shards)]
    writers = [None] * num_shards
    written = 0
    try:
        for index, example in enumerate(examples):
            shard = min(index // per_shard, num_shards - 1)
            if writers[shard] is None:
                writers[shard] = tf.io.TFRecordWriter(paths[shard])
            writers[shard].write(example.SerializeToString())
            written += 1
            if log_every and written % log_every == 0:
                logging.info("%s: %d/%d examples written", split, written, num_examples)
        for shard, writer in enumerate(writers):
            if writer is None:  # a shard with no examples is still written, empty
                writers[shard] = tf.io.TFRecordWriter(paths[shard])
    finally:
        for writer in writers:
            if writer is not None:
                writer.close()
    return paths


def find_shards(dataset_dir, split):
    """Sorted shard paths of `split` (`<split>-*-of-*`) in `dataset_dir`.

    Raises:
        DataError: no directory, or no shards of that split in it.
    """
    if not dataset_dir or not os.path.isdir(dataset_dir):
        raise DataError(f"{dataset_dir}: dataset directory not found")
    pattern = os.path.join(glob.escape(dataset_dir), f"{glob.escape(split)}-*-of-*")
    shards = sorted(glob.glob(pattern))
    if not shards:
        found = list_splits(dataset_dir)
        raise DataError(
            f"{os.path.join(dataset_dir, split)}-*-of-*: no TFRecord shards of split "
            f"{split!r} (splits here: {', '.join(found) or 'none'})"
        )
    return shards


def list_splits(dataset_dir):
    """Split names that have shards in `dataset_dir`."""
    names = set()
    for path in glob.glob(os.path.join(glob.escape(dataset_dir), "*-*-of-*")):
        names.add(os.path.basename(path).rsplit("-", 3)[0])
    return sorted(names)


def parse_example(serialized):
    """Parses one serialized record into its raw fields (TensorFlow, for tf.data)."""
    return tf.io.parse_single_example(serialized, _FEATURES)


def parse_example_numpy(serialized):
    """Parses one record in Python: {"filename", "image", "label", "height", "width"}.

    Raises:
        ValueError: not an Example, or a required key is missing.
    """
    try:
        example = tf.train.Example.FromString(serialized)
    except Exception as error:  # noqa: BLE001 - protobuf's DecodeError
        raise ValueError(f"not a tf.train.Example ({error})") from None
    feature = example.features.feature
    for key in (IMAGE_ENCODED, LABEL_ENCODED):
        if key not in feature or not feature[key].bytes_list.value:
            raise ValueError(f"record has no {key}")

    def first(key, kind, default):
        values = getattr(feature[key], kind).value if key in feature else ()
        return values[0] if values else default

    return {
        "filename": first(IMAGE_FILENAME, "bytes_list", b"").decode(errors="replace"),
        "image": first(IMAGE_ENCODED, "bytes_list", b""),
        "label": first(LABEL_ENCODED, "bytes_list", b""),
        "height": int(first(IMAGE_HEIGHT, "int64_list", 0)),
        "width": int(first(IMAGE_WIDTH, "int64_list", 0)),
    }


def _records_of_share(shards, split, dataset_dir, input_context, shuffle_files, seed):
    """This input pipeline's serialized records: its shard files, or every n-th record of each file.

    With at least as many shard files as pipelines the files are shared out;
    with fewer, each pipeline reads every file but keeps only records
    i, i + n, ... of each (before parsing, so it decodes only its own).
    """
    count, index = sharding.pipelines(input_context)
    by_file = len(shards) >= count
    files = sharding.share(shards, input_context, "shard files") if by_file else shards
    if count > 1:
        _check_share(files, by_file, f"{os.path.join(dataset_dir, split)}-*-of-*", split, input_context)
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if shuffle_files:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)

    def read(path):
        records = tf.data.TFRecordDataset(path)
        return records if by_file else records.shard(count, index)

    return dataset.interleave(read, cycle_length=min(len(files), 4), num_parallel_calls=tf.data.AUTOTUNE,
                              deterministic=True)


def _check_share(files, by_file, where, split, input_context):
    """Raises `DataError` when this pipeline's share of the records would be empty.

    By file, it reads at most one record. By record, pipeline n - 1 gets one
    only from a file of n records or more, so it reads at most n of each file.
    """
    count, index = sharding.pipelines(input_context)
    if by_file:
        if not any(True for _ in tf.data.TFRecordDataset(files).take(1)):
            raise DataError(f"{where}: the {len(files)} shard file(s) of input pipeline {index} (of {count}) "
                            f"of split {split!r} hold no examples; write the split in fewer shards")
        return
    counts = [sum(1 for _ in tf.data.TFRecordDataset(path).take(count)) for path in files]
    if max(counts) < count:
        sharding.check_enough(sum(counts), input_context, where, split)
        raise DataError(f"{where}: split {split!r} has {sum(counts)} examples in {len(files)} shard file(s), "
                        f"none with {count} or more, so one of the {count} input pipelines would read "
                        f"nothing; write the split in at least {count} shards")


def read_split(dataset_dir, split, info, *, exclude=(), shuffle_files=False, seed=None, input_context=None,
               val_fraction=None):
    """A `tf.data.Dataset` of decoded {"image", "label", "filename"} from the shards of `split`.

    Args:
        exclude: image/filename values to leave out (the bad examples found by
            validation); they are left out of each pipeline's share.
        shuffle_files: shuffle the order of the (pipeline's) shard files on
            every pass.
        input_context: a `tf.distribute.InputContext`: read this pipeline's
            share only (`_records_of_share`).
        val_fraction: unused (the shards are the splits).

    Raises:
        DataError: no shards, or a pipeline's share would be empty.
    """
    shards = find_shards(dataset_dir, split)
    records = _records_of_share(shards, split, dataset_dir, input_context, shuffle_files, seed)
    parsed = records.map(parse_example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if exclude:
        excluded = tf.constant(sorted(exclude), tf.string)
        parsed = parsed.filter(
            lambda fields: tf.logical_not(
                tf.reduce_any(tf.equal(fields[IMAGE_FILENAME], excluded))
            )
        )

    def decode(fields):
        return image_io.decode_example(
            fields[IMAGE_ENCODED],
            fields[LABEL_ENCODED],
            fields[IMAGE_FILENAME],
            info.num_classes,
            info.ignore_label,
            info.zero_is_ignore,
            label_dtype=info.label_dtype,
        )

    return parsed.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


# === The format ===


def _info(dataset_dir, num_classes):
    """The converter's metadata file, else `num_classes` classes."""
    info = info_lib.metadata_info("tfrecord", dataset_dir)
    if info is not None:
        return info
    if num_classes is None:
        raise ConfigError("num_classes",
                          f"required for dataset 'tfrecord' (no {info_lib.METADATA_FILE} in {dataset_dir})")
    return info_lib.DatasetInfo("tfrecord", int(num_classes))


def _validate(report, dataset_dir, split, val_fraction):
    del val_fraction  # the shards are the split
    shards = find_shards(dataset_dir, split)
    read = [0]

    def check(record):
        shard, index, serialized = record
        where = f"{shard}[{index}]"
        try:
            fields = parse_example_numpy(serialized)
        except ValueError as error:
            return where, [validate.Problem(where, str(error))], [], None
        name = fields["filename"] or where
        where = f"{where} {name}"
        problems, notes, label = validate.check_pair(
            fields["image"], fields["label"], f"{where} image", f"{where} label", report.info
        )
        height, width = fields["height"], fields["width"]
        if label is not None and height and width and (height, width) != label.shape:
            problems.append(
                validate.Problem(f"{where} image",
                                 f"image/height, image/width say {width}x{height} "
                                 f"but the image is {label.shape[1]}x{label.shape[0]}")
            )
            label = None
        return name, problems, notes, label

    def all_records():
        for shard in shards:
            index = 0
            try:
                for serialized in tf.data.TFRecordDataset(shard).as_numpy_iterator():
                    read[0] += 1
                    yield shard, index, serialized
                    index += 1
            except tf.errors.OpError as error:
                report.problems.append(
                    validate.Problem(shard, f"corrupt TFRecord file after record {index} ({last_line(error)})")
                )

    validate.check_examples(report, all_records(), check)
    report.num_examples = read[0]
    if not read[0] and not report.problems:
        report.problems.append(validate.Problem(shards[0], f"no records in split {split!r}"))


FORMAT = registry.DatasetFormat(
    name="tfrecord",
    description="official DeepLab shards",
    info=_info,
    list_splits=list_splits,
    read=read_split,
    validate=_validate,
    knows_num_classes=False,
)
