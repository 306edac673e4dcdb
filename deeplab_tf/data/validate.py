"""Finding every unusable example of a split before training starts.

`validate_split` runs the format's `validate` (`registry.DatasetFormat`); the
formats build theirs from `check_pair` (one encoded image and label) and the
helpers of "Checking a split".
"""

import collections
import concurrent.futures
import dataclasses
import io
import itertools
import os

import numpy as np
import tensorflow as tf
from absl import logging
from PIL import Image

from deeplab_tf.data import image_io, info as info_lib, registry
from deeplab_tf.errors import last_line


class Problem(collections.namedtuple("Problem", ["filename", "fault"])):
    """A file and what is wrong with it (a plain (filename, fault) pair)."""

    __slots__ = ()

    def __str__(self):
        return f"{self.filename}: {self.fault}"


@dataclasses.dataclass
class ValidationReport:
    """What `validate_split` found.

    Attributes:
        dataset, split: what was validated.
        info: the dataset's `DatasetInfo`.
        num_examples: examples listed in the split.
        problems: `Problem`s that make an example unusable (or the split itself).
        notes: `Problem`-shaped remarks on files that are used after conversion
            (grayscale or RGBA images) or listed twice.
        bad_examples: ids of the examples that `problems` rule out, in order.
        class_pixel_counts: int64 [num_classes], labelled pixels per class over
            the usable examples.
        class_image_counts: int64 [num_classes], usable examples in which each class occurs.
        class_image_pixels: int64 [num_classes], labelled pixels of the usable
            examples in which each class occurs (median-frequency balancing's
            denominator).
        ignore_pixel_count: pixels labelled with the ignore label.
        min_size, max_size: (height, width) extremes over the usable examples.
    """

    dataset: str
    split: str
    info: info_lib.DatasetInfo
    num_examples: int = 0
    problems: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)
    bad_examples: list = dataclasses.field(default_factory=list)
    class_pixel_counts: np.ndarray = None
    class_image_counts: np.ndarray = None
    class_image_pixels: np.ndarray = None
    ignore_pixel_count: int = 0
    min_size: tuple = None
    max_size: tuple = None
    checked: int = dataclasses.field(default=0, repr=False)

    def __post_init__(self):
        for field in ("class_pixel_counts", "class_image_counts", "class_image_pixels"):
            if getattr(self, field) is None:
                setattr(self, field, np.zeros(self.info.num_classes, np.int64))

    @property
    def ok(self):
        return not self.problems

    @property
    def num_usable(self):
        return self.num_examples - len(self.bad_examples)

    def summary_lines(self):
        """The human summary: counts and class pixel frequencies."""
        lines = [
            f"{self.dataset} split '{self.split}': {self.num_examples} examples, "
            f"{len(self.bad_examples)} unusable, {len(self.problems)} problem(s), "
            f"{len(self.notes)} note(s)"
        ]
        labelled = int(self.class_pixel_counts.sum())
        total = labelled + int(self.ignore_pixel_count)
        if total:
            lines.append(f"class pixel frequencies (of {labelled} labelled pixels):")
            width = max(len(n) for n in self.info.class_names)
            for index, (name, count) in enumerate(
                zip(self.info.class_names, self.class_pixel_counts)
            ):
                share = 100.0 * count / labelled if labelled else 0.0
                lines.append(f"  {index:3d} {name:<{width}} {share:7.3f}%  {int(count)}")
            lines.append(
                f"ignored ({self.info.ignore_label}): "
                f"{100.0 * self.ignore_pixel_count / total:.3f}% of all pixels"
            )
        return lines


# === One (image, label) pair ===

_GRAYSCALE_MODES = ("1", "L", "I", "I;16", "I;16B", "I;16L", "F")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def _open_fully(data):
    """(PIL image, None) after a full decode, or (None, reason)."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        return image, None
    except Exception as error:  # noqa: BLE001 - PIL raises many types for bad files
        return None, last_line(error)


def _decoded_label(label_bytes, label_name, info, problems):
    """The VOC-layout or TFRecord label as the readers decode it, or None (a `Problem` appended)."""
    label_image, reason = _open_fully(label_bytes)
    if label_image is None:
        problems.append(Problem(label_name, f"corrupt or truncated label PNG ({reason})"))
        return None
    if label_image.format != "PNG":
        problems.append(Problem(label_name, f"label is {label_image.format}; a PNG is expected"))
        return None
    wide = info.label_dtype == "uint16"
    if label_image.mode not in ("L", "P", "RGB", "RGBA") + (("I;16", "I;16B", "I;16L", "I") if wide else ()):
        expected = "an 8-bit index or VOC-palette PNG" + (" or a 16-bit gray PNG" if wide else "")
        problems.append(Problem(label_name, f"label PNG of mode {label_image.mode}; {expected} is expected"))
        return None
    try:
        label = image_io.decode_label(label_bytes, info.label_dtype).numpy()
    except tf.errors.OpError as error:
        problems.append(
            Problem(label_name, f"TensorFlow cannot decode this label ({last_line(error)})")
        )
        return None
    if label_image.mode == "P":
        if not np.array_equal(np.asarray(label_image), label):
            problems.append(
                Problem(label_name, "palette PNG whose palette is not the VOC palette")
            )
            return None
    elif label_image.mode in ("RGB", "RGBA"):
        colours = np.asarray(label_image)[..., :3]
        if not image_io.is_voc_colour(colours).numpy().all():
            problems.append(
                Problem(label_name, "colour label with colours outside the VOC palette")
            )
            return None
    return image_io.shift_zero_ignore(label) if info.zero_is_ignore else label


def check_pair(image_bytes, label_bytes, image_name, label_name, info, decode_mask=None):
    """Checks one example the way the readers will decode it.

    Args:
        decode_mask: label bytes → labels, raising `image_io.LabelError`;
            default: the VOC-layout and TFRecord label decoding.

    Returns:
        (problems, notes, label array or None): `Problem`s name `image_name` or
        `label_name`; the label is the decoded class map when it is usable.
    """
    problems, notes = [], []
    image_size = None

    image, reason = _open_fully(image_bytes)
    if image is None:
        problems.append(Problem(image_name, f"corrupt or truncated image ({reason})"))
    elif image.format not in ("JPEG", "PNG"):
        problems.append(Problem(image_name, f"{image.format} image; JPEG or PNG expected"))
    else:
        try:
            decoded = image_io.decode_image(image_bytes)
            image_size = tuple(int(d) for d in decoded.shape[:2])
        except tf.errors.OpError as error:
            problems.append(
                Problem(image_name, f"TensorFlow cannot decode this image ({last_line(error)})")
            )
        if image.mode in _GRAYSCALE_MODES:
            notes.append(Problem(image_name, f"grayscale image ({image.mode}), converted to RGB"))
        elif image.mode in _ALPHA_MODES or (
            image.mode == "P" and "transparency" in image.info
        ):
            notes.append(Problem(image_name, f"image with alpha ({image.mode}), alpha dropped"))
        elif image.mode == "CMYK":
            notes.append(Problem(image_name, "CMYK image, converted to RGB"))

    if decode_mask is not None:
        try:
            label = decode_mask(label_bytes)
        except image_io.LabelError as error:
            problems.append(Problem(label_name, str(error)))
            return problems, notes, None
    else:
        label = _decoded_label(label_bytes, label_name, info, problems)
        if label is None:
            return problems, notes, None

    if image_size is not None and image_size != label.shape:
        problems.append(
            Problem(
                label_name,
                f"label is {label.shape[1]}x{label.shape[0]} but its image "
                f"{image_name} is {image_size[1]}x{image_size[0]}",
            )
        )
    values = np.unique(label)
    bad = [int(v) for v in values if v >= info.num_classes and v != info.ignore_label]
    if bad:
        shown = ", ".join(str(v) for v in bad[:10])
        problems.append(
            Problem(
                label_name,
                f"label values {shown} are >= num_classes ({info.num_classes}) "
                f"and not the ignore label {info.ignore_label}",
            )
        )
    return problems, notes, (label if not problems else None)


# === Checking a split ===


def _pool_map(function, items, chunk=64):
    """`map` over a thread pool (PIL and TensorFlow decode without the GIL), in order."""
    workers = max(2, min(8, os.cpu_count() or 2))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        iterator = iter(items)
        while True:
            batch = list(itertools.islice(iterator, chunk))
            if not batch:
                return
            yield from pool.map(function, batch)


_LOG_EVERY = 1000


def add_example(report, example_id, problems, notes, label):
    """Counts one checked example in `report`: its problems and notes, or its label's pixels."""
    report.checked += 1
    if report.checked % _LOG_EVERY == 0:
        logging.info("validated %d examples of %s split %r", report.checked, report.dataset,
                     report.split)
    report.problems.extend(problems)
    report.notes.extend(notes)
    if problems:
        report.bad_examples.append(example_id)
    elif label is not None:
        counts = np.bincount(label.ravel(), minlength=report.info.ignore_label + 1)
        classes = counts[: report.info.num_classes]
        report.class_pixel_counts += classes
        present = classes > 0
        report.class_image_counts += present
        report.class_image_pixels += np.where(present, classes.sum(), 0)
        report.ignore_pixel_count += int(counts[report.info.ignore_label])
        size = label.shape
        report.min_size = size if report.min_size is None else tuple(np.minimum(report.min_size, size).tolist())
        report.max_size = size if report.max_size is None else tuple(np.maximum(report.max_size, size).tolist())


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def check_examples(report, examples, check):
    """Runs `check` on each item of `examples` in parallel and adds its result to `report`.

    Args:
        check: an item → (example id, problems, notes, label or None).
    """
    for example_id, problems, notes, label in _pool_map(check, examples):
        add_example(report, example_id, problems, notes, label)


def check_listed_examples(report, examples, source, empty_fault, check):
    """`check_examples` over a split's list of (id, ...) tuples, after counting it.

    Notes ids listed twice (naming `source`, the list's file); an empty list
    is a problem, `empty_fault`.
    """
    report.num_examples = len(examples)
    if not examples:
        report.problems.append(Problem(source, empty_fault))
        return
    for name, count in collections.Counter(example[0] for example in examples).items():
        if count > 1:
            report.notes.append(Problem(source, f"{name} listed {count} times"))
    check_examples(report, examples, check)


def validate_decoded(report, dataset, where):
    """Checks the decoded examples of a `tf.data.Dataset` (a format without a `validate` of its own).

    `where` names the split in problems: the read stopping part way, an image
    and label of different sizes, no examples at all.
    """
    count = 0
    try:
        for example in dataset.as_numpy_iterator():
            count += 1
            name = example["filename"].decode()
            label = example["label"]
            if example["image"].shape[:2] != label.shape:
                report.problems.append(Problem(name, "image and label sizes differ"))
                report.bad_examples.append(name)
                continue
            add_example(report, name, [], [], label)
    except tf.errors.OpError as error:
        report.problems.append(Problem(where, f"unreadable after {count} examples ({last_line(error)})"))
    report.num_examples = count
    if not count and not report.problems:
        report.problems.append(Problem(where, "split has no examples"))


def validate_split(name, dataset_dir, split, *, num_classes=None, val_fraction=None):
    """Decodes every example of a split and reports each one that cannot be used.

    Finds: missing, corrupt or truncated images and labels; images that
    TensorFlow cannot decode; image/label size mismatches; label values
    >= num_classes other than the ignore label; labels in another palette;
    empty splits. Grayscale and RGBA images are noted (they are converted).

    Args:
        name: a `--dataset` name; dataset_dir, split, num_classes, val_fraction:
            as for `read_split`.

    Returns:
        A `ValidationReport`.

    Raises:
        ConfigError: bad name or num_classes. DataError: no dataset or split there.
    """
    info = info_lib.dataset_info(name, dataset_dir, num_classes)
    report = ValidationReport(dataset=name, split=split, info=info)
    dataset_format = registry.get_format(name)
    if dataset_format.validate is not None:
        dataset_format.validate(report, dataset_dir, split, val_fraction)
    else:
        examples = dataset_format.read(dataset_dir, split, info, val_fraction=val_fraction)
        validate_decoded(report, examples, f"{dataset_dir} ({split})")
    return report
