"""The dataset formats, by `--dataset` name: the one place a name is looked up.

A format is one module that makes a `DatasetFormat`: its label space, how to
list, read, validate and convert a split, and its class colours.
`dataset_info`, `read_split`, `validate_split`, `write_tfrecords`,
`palettes.class_colors` and the tools' `--dataset` flag find it here and never
branch on its name. The built-in formats are listed in `_built_in`; a library
user adds one with `register_format`.
"""

import dataclasses
import typing

from deeplab_tf.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class DatasetFormat:
    """One on-disk dataset format.

    Attributes:
        name: the `--dataset` value.
        description: a few words for the flag's help.
        info: (dataset_dir, num_classes) → the dataset's `DatasetInfo`.
            `num_classes` is None unless the user gave it; `dataset_info`
            checks that it agrees with the result.
        list_splits: dataset_dir → the names of the splits there (what
            `write_tfrecords` converts by default).
        read: (dataset_dir, split, info, *, exclude, shuffle_files, seed,
            input_context, val_fraction) → a `tf.data.Dataset` of decoded
            {"image", "label", "filename"} as `read_split` documents it,
            without the example ids in `exclude`.
        validate: (report, dataset_dir, split, val_fraction) → None: fills a
            `validate.ValidationReport` with each example's problems
            (`validate.check_pair` checks one encoded pair). None: decode the
            split with `read` and check what comes out.
        records: (dataset_dir, split, info, exclude, val_fraction) → the
            `tf.train.Example`s `write_tfrecords` writes. None: re-encode what
            `read` decodes.
        class_colors: num_classes → (r, g, b) per class, or None (the
            default) for VOC's palette; used when the dataset lists no
            colours of its own.
        knows_num_classes: False when a dataset may not say how many classes
            it has (plain TFRecord shards); the tools then pass the model's.
    """

    name: str
    description: str
    info: typing.Callable
    list_splits: typing.Callable
    read: typing.Callable
    validate: typing.Optional[typing.Callable] = None
    records: typing.Optional[typing.Callable] = None
    class_colors: typing.Callable = lambda num_classes: None
    knows_num_classes: bool = True


_formats = {}


def _built_in():
    """The formats this library ships, in the order `--help` lists them."""
    # Imported here: each format's module imports this one for `DatasetFormat`.
    from deeplab_tf.data import ade20k, cityscapes, folder, synthetic, tfrecord, voc

    return (voc.FORMAT, synthetic.FORMAT, tfrecord.FORMAT, cityscapes.FORMAT, ade20k.FORMAT, folder.FORMAT)


def _registered():
    if not _formats:
        _formats.update((dataset_format.name, dataset_format) for dataset_format in _built_in())
    return _formats


def register_format(dataset_format):
    """Makes `dataset_format` readable by its name everywhere a dataset name is taken; returns it.

    Raises:
        ValueError: another format has that name.
    """
    formats = _registered()
    if formats.get(dataset_format.name, dataset_format) is not dataset_format:
        raise ValueError(f"a dataset format named {dataset_format.name!r} is already registered")
    formats[dataset_format.name] = dataset_format
    return dataset_format


def format_names():
    """The names of the registered formats: the built-in ones first."""
    return tuple(_registered())


def find_format(name):
    """The `DatasetFormat` called `name`, or None."""
    return _registered().get(name)


def get_format(name):
    """The `DatasetFormat` called `name`.

    Raises:
        ConfigError: on field "dataset", when no format has that name.
    """
    dataset_format = find_format(name)
    if dataset_format is None:
        raise ConfigError("dataset", f"unknown dataset {name!r}; expected one of {', '.join(format_names())}")
    return dataset_format
