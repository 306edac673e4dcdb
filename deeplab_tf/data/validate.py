"""Finding every unusable example of a split before training starts."""

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

from deeplab_tf.data import classes_file, folder, image_io, info as info_lib, tfds_sets, tfrecord, voc


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


def _first_line(error):
    text = getattr(error, "message", None) or str(error)
    return text.strip().splitlines()[-1][:200] if text.strip() else type(error).__name__


def _open_fully(data):
    """(PIL image, None) after a full decode, or (None, reason)."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        return image, None
    except Exception as error:  # noqa: BLE001 - PIL raises many types for bad files
        return None, _first_line(error)


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
            Problem(label_name, f"TensorFlow cannot decode this label ({_first_line(error)})")
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
        decode_mask: label bytes → labels, raising `folder.MaskError`;
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
                Problem(image_name, f"TensorFlow cannot decode this image ({_first_line(error)})")
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
        except folder.MaskError as error:
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


def _add(report, example_id, problems, notes, label):
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


# === Per format ===


def _read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def _check_listing(report, examples, source, empty_fault):
    """Counts a split's examples and notes names listed twice; False if it lists none."""
    report.num_examples = len(examples)
    if not examples:
        report.problems.append(Problem(source, empty_fault))
        return False
    for name, count in collections.Counter(n for n, _, _ in examples).items():
        if count > 1:
            report.notes.append(Problem(source, f"{name} listed {count} times"))
    return True


def _validate_voc(report, dataset_dir, split):
    examples = voc.list_examples(dataset_dir, split)
    split_path = voc.split_file(voc.find_root(dataset_dir), split)
    if not _check_listing(report, examples, split_path, "split lists no examples"):
        return

    def check(example):
        name, image_path, label_path = example
        missing = [
            Problem(path, f"listed in {split}.txt but missing")
            for path in (image_path, label_path) if not os.path.isfile(path)
        ]
        if missing:
            return name, missing, [], None
        problems, notes, label = check_pair(
            _read_bytes(image_path), _read_bytes(label_path), image_path, label_path, report.info
        )
        return name, problems, notes, label

    for name, problems, notes, label in _pool_map(check, examples):
        _add(report, name, problems, notes, label)


def _validate_tfrecord(report, dataset_dir, split):
    shards = tfrecord.find_shards(dataset_dir, split)
    read = [0]

    def check(record):
        shard, index, serialized = record
        where = f"{shard}[{index}]"
        try:
            fields = tfrecord.parse_example_numpy(serialized)
        except ValueError as error:
            return where, [Problem(where, str(error))], [], None
        name = fields["filename"] or where
        where = f"{where} {name}"
        problems, notes, label = check_pair(
            fields["image"], fields["label"], f"{where} image", f"{where} label", report.info
        )
        height, width = fields["height"], fields["width"]
        if label is not None and height and width and (height, width) != label.shape:
            problems.append(
                Problem(f"{where} image",
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
                    Problem(shard, f"corrupt TFRecord file after record {index} "
                                   f"({_first_line(error)})")
                )

    for name, problems, notes, label in _pool_map(check, all_records()):
        _add(report, name, problems, notes, label)
    report.num_examples = read[0]
    if not read[0] and not report.problems:
        report.problems.append(Problem(shards[0], f"no records in split {split!r}"))


def _validate_tfds(report, dataset_dir, split):
    dataset = tfds_sets.read_split(report.dataset, dataset_dir, split, report.info)
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
            _add(report, name, [], [], label)
    except tf.errors.OpError as error:
        report.problems.append(
            Problem(f"{dataset_dir} ({split})",
                    f"unreadable after {count} examples ({_first_line(error)})")
        )
    report.num_examples = count
    if not count and not report.problems:
        report.problems.append(Problem(f"{dataset_dir} ({split})", "split has no examples"))


def _validate_folder(report, dataset_dir, split, val_fraction):
    examples, layout_problems = folder.list_examples(dataset_dir, split, val_fraction)
    classes = classes_file.read_classes(dataset_dir)
    lookup = folder.value_lookup(classes)
    report.notes.extend(Problem(path, fault) for path, fault in layout_problems)
    source = folder.split_source(dataset_dir, split)
    if not _check_listing(report, examples, source, f"split {split!r} has no examples"):
        return

    def check(example):
        name, image_path, mask_path = example
        missing = folder.missing_file_problems(dataset_dir, example)
        if missing:
            return name, [Problem(path, fault) for path, fault in missing], [], None
        mask_bytes = _read_bytes(mask_path)
        problems, notes, label = check_pair(
            _read_bytes(image_path), mask_bytes, image_path, mask_path, report.info,
            decode_mask=lambda data: folder.mask_labels(data, classes, lookup),
        )
        if not problems:
            notes += [Problem(mask_path, note) for note in folder.palette_notes(mask_bytes, classes)]
        return name, problems, notes, label

    for name, problems, notes, label in _pool_map(check, examples):
        _add(report, name, problems, notes, label)


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
    if name == "folder":
        _validate_folder(report, dataset_dir, split, val_fraction)
    elif name in ("voc2012", "synthetic"):
        _validate_voc(report, dataset_dir, split)
    elif name == "tfrecord":
        _validate_tfrecord(report, dataset_dir, split)
    else:
        _validate_tfds(report, dataset_dir, split)
    return report
