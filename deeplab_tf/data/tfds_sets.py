"""Formats read through TensorFlow Datasets, built from manual downloads (`cityscapes`, `ade20k`).

`dataset_dir` is the TFDS data directory. The archives go in its
`downloads/manual/` folder (or in `dataset_dir` itself); the first read
prepares the dataset there, once. Each format's module describes its build
in a `TfdsSource`; `tfds_format` makes the `DatasetFormat` that reads it.
"""

import dataclasses
import functools
import os
import typing

import numpy as np
import tensorflow as tf
from absl import logging

from deeplab_tf.data import info as info_lib, palettes, registry, sharding
from deeplab_tf.errors import DataError

IGNORE = 255


@dataclasses.dataclass(frozen=True)
class TfdsSource:
    """What a TFDS-built format reads.

    Attributes:
        name: the format's name.
        make_builder: dataset_dir → its TFDS builder there.
        archives: the manual downloads the build needs.
        unpacked: a folder that may stand in for the archives, or None.
        split_aliases: split names people type → the TFDS split names.
        image_key, label_key: the TFDS features of the image and the label map.
        to_train_ids: stored labels → class ids and 255 (arrays or tensors).
    """

    name: str
    make_builder: typing.Callable
    archives: tuple
    split_aliases: dict
    image_key: str
    label_key: str
    to_train_ids: typing.Callable
    unpacked: typing.Optional[str] = None


def lookup(table, label):
    """`table[label]` for a NumPy array or a tensor of labels."""
    if isinstance(label, np.ndarray):
        return table[label.astype(np.intp)]
    return tf.gather(tf.constant(table), tf.cast(label, tf.int32))


def _manual_dir(source, dataset_dir):
    """The folder holding the archives the builder needs, or DataError saying where to put them."""
    candidates = [os.path.join(dataset_dir, "downloads", "manual"), dataset_dir]
    for candidate in candidates:
        if source.unpacked and os.path.isdir(os.path.join(candidate, source.unpacked)):
            return candidate
        if all(os.path.isfile(os.path.join(candidate, f)) for f in source.archives):
            return candidate
    raise DataError(
        f"{candidates[0]}: the {source.name} archives {', '.join(source.archives)} are not there "
        f"(nor in {dataset_dir}); download them by hand and place them there"
    )


def builder(source, dataset_dir):
    """The prepared TFDS builder of `source` in `dataset_dir`, preparing it on first use."""
    import tensorflow_datasets as tfds

    if not dataset_dir or not os.path.isdir(dataset_dir):
        raise DataError(f"{dataset_dir}: dataset directory not found")
    result = source.make_builder(dataset_dir)
    if not result.is_prepared():
        manual_dir = _manual_dir(source, dataset_dir)
        logging.info("preparing %s in %s from %s (once; this takes a while)",
                     source.name, dataset_dir, manual_dir)
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
        logging.info("prepared %s in %s", source.name, result.data_dir)
    return result


def tfds_split(source, split):
    """The TFDS split name for a split name as users type it (`val` → `validation`)."""
    aliases = source.split_aliases
    if split not in aliases:
        raise DataError(
            f"{source.name}: no split {split!r} (expected one of {', '.join(sorted(aliases))})"
        )
    return aliases[split]


def read_split(source, dataset_dir, split, info, *, exclude=(), shuffle_files=False, seed=None,
               input_context=None, val_fraction=None):
    """A `tf.data.Dataset` of {"image", "label" (train ids), "filename"} from TFDS.

    With `input_context`, this input pipeline's share only, before TFDS decodes:
    its shard files (TFDS's own `ReadConfig(input_context=...)`) when the split
    has at least as many files as pipelines, else its part of
    `tfds.even_splits` (a range of examples). `exclude` applies to each share.
    `val_fraction` is unused (TFDS has the splits).

    Raises:
        DataError: the split has fewer examples than input pipelines.
    """
    import tensorflow_datasets as tfds

    prepared = builder(source, dataset_dir)
    split_name = tfds_split(source, split)
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
    if exclude:
        excluded = tf.constant(sorted(exclude), tf.string)
        raw = raw.filter(
            lambda e: tf.logical_not(tf.reduce_any(tf.equal(e["image_id"], excluded)))
        )

    def convert(example):
        return {
            "image": example[source.image_key],
            "label": source.to_train_ids(example[source.label_key][..., 0]),
            "filename": example["image_id"],
        }

    del info  # the label space is fixed by the mapping
    return raw.map(convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def tfds_format(source, class_names, colors, description):
    """The `DatasetFormat` of a TFDS build with fixed classes and official colours.

    It is validated by decoding (`DatasetFormat.validate` None) and converted
    by re-encoding what it decodes.
    """
    return registry.DatasetFormat(
        name=source.name,
        description=description,
        info=info_lib.fixed_info(source.name, class_names),
        list_splits=lambda dataset_dir: ["train", "val"],
        read=functools.partial(read_split, source),
        class_colors=palettes.official_colors(colors),
    )
