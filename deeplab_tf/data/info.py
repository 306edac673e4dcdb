"""What a dataset is: its format's name, number of classes, ignore label, class names and colours."""

import dataclasses
import json
import os

from deeplab_tf import label_space
from deeplab_tf.data import registry
from deeplab_tf.errors import ConfigError, DataError

# The ImageNet mean pixel (RGB) that DeepLab pads images with, so padding is zero
# after the model subtracts it.
MEAN_RGB = (123.68, 116.779, 103.939)

# The metadata file written beside a generated or converted dataset.
METADATA_FILE = "dataset.json"


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """A dataset's label space.

    Args:
        name: the `--dataset` name it was read as.
        num_classes: number of classes the model predicts (labels 0..num_classes-1).
        ignore_label: the label of pixels left out of the loss and the metrics
            (default 255; 65535 above 255 classes, see `label_space`).
        class_names: one name per class, in label order.
        zero_is_ignore: the files store the ignore label as 0 and class k as
            k + 1 (official ADE20K TFRecords, folder datasets with
            `"ignore_label": 0`); the readers shift them to k and
            `ignore_label`, so everything after reading sees one convention.
        palette: (r, g, b) per class for pictures, or () for the dataset's
            default (`deeplab_tf.data.palettes.palette_for`).
    """

    name: str
    num_classes: int
    ignore_label: int = None  # None: `label_space.ignore_label_for(num_classes)`
    class_names: tuple = ()
    zero_is_ignore: bool = False
    palette: tuple = ()

    def __post_init__(self):
        if self.ignore_label is None:
            object.__setattr__(self, "ignore_label", label_space.ignore_label_for(self.num_classes))
        object.__setattr__(self, "palette", tuple(tuple(int(c) for c in colour) for colour in self.palette))
        if self.palette and len(self.palette) != self.num_classes:
            raise ConfigError(
                "num_classes", f"{self.num_classes} classes but {len(self.palette)} palette colours"
            )
        if not self.class_names:
            names = tuple(f"class_{i}" for i in range(self.num_classes))
            object.__setattr__(self, "class_names", names)
        else:
            object.__setattr__(self, "class_names", tuple(self.class_names))
        if len(self.class_names) != self.num_classes:
            raise ConfigError(
                "num_classes",
                f"{self.num_classes} classes but {len(self.class_names)} class names",
            )

    @property
    def label_dtype(self):
        """"uint8" or "uint16": the type the readers hand labels on in (`label_space.label_dtype`)."""
        return label_space.label_dtype(self.num_classes, self.ignore_label)


def read_metadata(directory):
    """The parsed metadata JSON beside a dataset, or None if there is none."""
    path = os.path.join(directory, METADATA_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            meta = json.load(f)
        int(meta["num_classes"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"{path}: not a valid dataset metadata file ({error})") from None
    return meta


def write_metadata(directory, info, **extra):
    """Writes `info` (and `extra` keys) as the metadata JSON in `directory`."""
    meta = {
        "name": info.name,
        "num_classes": info.num_classes,
        "ignore_label": info.ignore_label,
        "class_names": list(info.class_names),
    }
    if info.palette:
        meta["palette"] = [list(colour) for colour in info.palette]
    meta.update(extra)
    with open(os.path.join(directory, METADATA_FILE), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")


def _info_from_metadata(name, meta, path):
    """The `DatasetInfo` a metadata file describes.

    With `"ignore_label": 0` (official ADE20K shards: 151 values, 0 = "other"),
    `num_classes` and `class_names` count the stored values, 0 included, as
    the official converters write them; the model predicts the others.
    """
    num_classes = int(meta["num_classes"])
    ignore_label = int(meta.get("ignore_label", label_space.ignore_label_for(num_classes)))
    names = tuple(meta.get("class_names", ()))
    palette = tuple(tuple(colour) for colour in meta.get("palette", ()))
    if ignore_label != 0:
        if not num_classes <= ignore_label <= label_space.MAX_LABEL_VALUE:
            raise DataError(f"{path}: \"ignore_label\" {ignore_label} collides with the {num_classes} classes; "
                            f"use 0 (stored 0 is then ignored) or a value from {num_classes} to "
                            f"{label_space.MAX_LABEL_VALUE}")
        return DatasetInfo(name, num_classes, ignore_label, names, palette=palette)
    if (names and len(names) != num_classes) or (palette and len(palette) != num_classes):
        raise DataError(f"{path}: {num_classes} classes (0 included) but {len(names)} class names "
                        f"and {len(palette)} palette colours")
    # Stored 0 - 1 wraps to the label type's maximum: 255, or 65535 (`image_io.shift_zero_ignore`).
    return DatasetInfo(name, num_classes - 1, class_names=names[1:], zero_is_ignore=True, palette=palette[1:])


def fixed_info(name, class_names):
    """A `DatasetFormat.info` for a format whose classes are always `class_names`."""
    info = DatasetInfo(name, len(class_names), class_names=class_names)
    return lambda dataset_dir, num_classes: info


def metadata_info(name, dataset_dir):
    """The `DatasetInfo` the metadata file in `dataset_dir` describes, or None if there is none."""
    meta = read_metadata(dataset_dir) if dataset_dir else None
    return None if meta is None else _info_from_metadata(name, meta, os.path.join(dataset_dir, METADATA_FILE))


def dataset_info(name, dataset_dir, num_classes=None):
    """The `DatasetInfo` of dataset `name` stored in `dataset_dir`.

    Args:
        name: a registered format's name (`registry.format_names()`).
        dataset_dir: where the dataset is (read by the formats whose label
            space is stored with the data: synthetic, tfrecord, folder).
        num_classes: required for `tfrecord` without a metadata file; for the
            others, when given, it must agree with the dataset.

    Raises:
        ConfigError: unknown name, or `num_classes` missing or inconsistent.
        DataError: the synthetic dataset's metadata file or a folder
            dataset's `classes.json` is missing or invalid.
    """
    info = registry.get_format(name).info(dataset_dir, num_classes)
    if num_classes is not None and int(num_classes) != info.num_classes:
        raise ConfigError(
            "num_classes",
            f"{num_classes} given but dataset {name!r} has {info.num_classes} classes",
        )
    # The ignore labels are checked where they are read (`_info_from_metadata`, `classes_file`).
    if not 1 <= info.num_classes <= label_space.MAX_CLASSES:
        raise ConfigError(
            "num_classes", f"{info.num_classes} classes: a dataset has 1 to {label_space.MAX_CLASSES} classes"
        )
    return info
