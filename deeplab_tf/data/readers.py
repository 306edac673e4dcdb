"""`read_split`: one split of any supported dataset as a tf.data pipeline of decoded examples."""

from absl import logging

from deeplab_tf.data import info as info_lib, registry, validate
from deeplab_tf.errors import DataError


def _log_skipped(name, split, report):
    faults = {}
    for problem in report.problems:
        faults.setdefault(problem.filename, []).append(problem.fault)
    listing = "; ".join(f"{filename}: {', '.join(f)}" for filename, f in faults.items())
    logging.warning(
        "skip_bad_examples: skipping %d of %d examples of %s split %r: %s",
        len(report.bad_examples), report.num_examples, name, split, listing,
    )


def read_split(name, dataset_dir, split, *, num_classes=None, skip_bad_examples=False,
               shuffle_files=False, seed=None, val_fraction=None, input_context=None):
    """One split as a `tf.data.Dataset` of {"image", "label", "filename"}.

    Elements: "image" uint8 [H, W, 3] RGB (grayscale and RGBA converted),
    "label" [H, W] class indices of `DatasetInfo.label_dtype` (uint8; uint16 above 255
    classes) with the ignore label kept, "filename"
    the example id (a scalar string). Decoding runs in parallel; the order is
    the split's own (deterministic) unless `shuffle_files`.

    With `input_context`, the dataset is this input pipeline's share only,
    taken before anything is decoded: every n-th example of the split's list
    (VOC layout, synthetic, folder) or every n-th shard file (TFRecord, TFDS);
    with fewer files than pipelines, every n-th record of each file (TFRecord)
    or an even part of the examples (TFDS). So n workers together decode the
    split once (but `skip_bad_examples` first validates the whole split on
    each), and `shuffle_files` shuffles each pipeline's own share.

    Without `skip_bad_examples`, listed files that are missing raise here and
    an undecodable or inconsistent example raises when it is read; with it, the
    split is validated first and the bad examples are left out and logged.

    Args:
        name: a registered format's name (`registry.format_names()`).
        dataset_dir: the dataset's directory.
        split: e.g. `train`, `val`, `train_aug`, `trainval`.
        num_classes: required for `tfrecord` without metadata; else checked.
        skip_bad_examples: validate first and leave out what is unusable.
        shuffle_files: shuffle the file (or shard) order on every pass, before
            decoding, so training can shuffle a large dataset cheaply.
        seed: the shuffle seed.
        val_fraction: a folder dataset without split files: the share of
            names in `val` (default `folder.DEFAULT_VAL_FRACTION`).
        input_context: a `tf.distribute.InputContext` (as
            `distribute_datasets_from_function` gives it): read only this
            pipeline's share. Bad examples are left out before the split is
            shared (VOC layout, folder) or from each share (TFRecord, TFDS).

    Raises:
        ConfigError: unknown dataset name or wrong num_classes.
        DataError: missing directory, split file, listed files, an empty split,
            or fewer examples than input pipelines.
    """
    info = info_lib.dataset_info(name, dataset_dir, num_classes)
    exclude = ()
    if skip_bad_examples:
        report = validate.validate_split(name, dataset_dir, split, num_classes=num_classes,
                                         val_fraction=val_fraction)
        if report.bad_examples or report.problems:
            _log_skipped(name, split, report)
        exclude = set(report.bad_examples)
        if report.num_usable <= 0:
            raise DataError(f"{dataset_dir}: split {split!r} has no usable examples")

    return registry.get_format(name).read(dataset_dir, split, info, exclude=exclude, shuffle_files=shuffle_files,
                                          seed=seed, input_context=input_context, val_fraction=val_fraction)
