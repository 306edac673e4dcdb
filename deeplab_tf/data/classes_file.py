"""`classes.json`: the label space of a folder dataset (class names, mask colours, ignore label)."""

import dataclasses
import json
import os

from deeplab_tf.label_space import IGNORE_LABEL, MAX_CLASSES, MAX_LABEL_VALUE, ignore_label_for
from deeplab_tf.errors import DataError

CLASSES_FILE = "classes.json"


@dataclasses.dataclass(frozen=True)
class FolderClasses:
    """What `classes.json` says, indexed by the value a mask stores.

    Attributes:
        path: the file it was read from.
        names: one name per mask value 0..len(names)-1. With `ignore_label` 0,
            names[0] is the ignored value's name ("other") and the model
            predicts names[1:].
        colors: (r, g, b) per name, or () when masks hold class ids only.
        ignore_label: the mask value left out of the loss: 0, or any value
            in len(names)..65535 (default 255, or 65535 with more than 255 names).
        ignore_color: the (r, g, b) of ignored pixels in colour masks (with
            `ignore_label` 0 it is colors[0]), or None.
    """

    path: str
    names: tuple
    colors: tuple = ()
    ignore_label: int = IGNORE_LABEL
    ignore_color: tuple = None

    @property
    def zero_is_ignore(self):
        return self.ignore_label == 0

    @property
    def class_names(self):
        """The names of the classes the model predicts."""
        return self.names[1:] if self.zero_is_ignore else self.names

    @property
    def class_colors(self):
        """The colours of the classes the model predicts, or ()."""
        return self.colors[1:] if self.zero_is_ignore and self.colors else self.colors


def _color(value, where, path):
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or any(isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= 255 for c in value)):
        raise DataError(f"{path}: {where} must be [r, g, b] with integers 0..255, got {value!r}")
    return tuple(value)


def read_classes(dataset_dir):
    """The parsed `classes.json` of the folder dataset in `dataset_dir`.

    Raises:
        DataError: the directory or file is missing, is not JSON, or its
            names, colours or ignore label are malformed (the message names
            the file and the key).
    """
    if not dataset_dir or not os.path.isdir(dataset_dir):
        raise DataError(f"{dataset_dir}: dataset directory not found")
    path = os.path.join(dataset_dir, CLASSES_FILE)
    try:
        with open(path) as file:
            meta = json.load(file)
    except FileNotFoundError:
        raise DataError(
            f"{path}: missing; a folder dataset needs {CLASSES_FILE} with "
            '{"names": [...], "colors": [[r, g, b], ...] (optional), "ignore_label": 255 (optional)}'
        ) from None
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{path}: expected a JSON object with a \"names\" list")
    unknown = sorted(set(meta) - {"names", "colors", "ignore_label", "ignore_color"})
    if unknown:
        raise DataError(f"{path}: unknown key(s) {', '.join(unknown)} "
                        "(known: names, colors, ignore_label, ignore_color)")
    names = meta.get("names")
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise DataError(f"{path}: \"names\" must be a list of non-empty strings")
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"{path}: \"names\" lists {', '.join(twice)} more than once")

    ignore_label = meta.get("ignore_label", ignore_label_for(len(names)))
    if isinstance(ignore_label, bool) or not isinstance(ignore_label, int) \
            or not 0 <= ignore_label <= MAX_LABEL_VALUE:
        raise DataError(f"{path}: \"ignore_label\" must be an integer 0..{MAX_LABEL_VALUE}, got {ignore_label!r}")
    num_classes = len(names) - 1 if ignore_label == 0 else len(names)
    if not 2 <= num_classes <= MAX_CLASSES:
        raise DataError(f"{path}: {num_classes} classes; a folder dataset has 2 to {MAX_CLASSES}"
                        + (" (with ignore_label 0, names[0] is the ignored value)" if ignore_label == 0 else ""))
    if 0 < ignore_label < len(names):
        raise DataError(f"{path}: \"ignore_label\" {ignore_label} is a class ({names[ignore_label]!r}); "
                        f"use 0 (names[0] is then ignored) or a value from {len(names)} to {MAX_LABEL_VALUE}")

    colors = meta.get("colors", [])
    if not isinstance(colors, list):
        raise DataError(f"{path}: \"colors\" must be a list of [r, g, b]")
    if colors and len(colors) != len(names):
        raise DataError(f"{path}: {len(names)} names but {len(colors)} colors; give one colour per name")
    colors = tuple(_color(c, f"colors[{i}]", path) for i, c in enumerate(colors))
    if len(set(colors)) != len(colors):
        raise DataError(f"{path}: \"colors\" lists a colour twice, so a colour mask could not be read")

    ignore_color = meta.get("ignore_color")
    if ignore_color is not None:
        if ignore_label == 0:
            raise DataError(f"{path}: with ignore_label 0 the ignored colour is colors[0]; drop \"ignore_color\"")
        ignore_color = _color(ignore_color, "ignore_color", path)
        if ignore_color in colors:
            raise DataError(f"{path}: \"ignore_color\" {list(ignore_color)} is also a class colour")
    elif ignore_label == 0 and colors:
        ignore_color = colors[0]
    return FolderClasses(path, tuple(names), colors, ignore_label, ignore_color)
