"""The `folder` format, a user's own dataset: `images/`, `masks/`, `classes.json` and optional split files.

    my_data/
      images/<name>.jpg|.jpeg|.png
      masks/<name>.png          class ids (palette or gray PNG), or colours listed in classes.json
      classes.json              see `classes_file`
      train.txt, val.txt        optional; without them a split by name (`val_fraction`)
"""

import hashlib
import io
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from deeplab_tf import label_space
from deeplab_tf.data import classes_file, image_io, info as info_lib, palettes, registry, sharding, tfrecord, validate
from deeplab_tf.errors import ConfigError, DataError, last_line

IMAGE_DIR = "images"
MASK_DIR = "masks"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
MASK_EXTENSION = ".png"
DEFAULT_VAL_FRACTION = 0.1
SPLITS_BY_NAME = ("train", "val")

_BAD = -1  # a stored mask value that is neither a class nor the ignore label


# === The layout ===


def _stems(directory, extensions):
    """{stem: [file names]} of the files in `directory` whose extension is in `extensions`."""
    found = {}
    if os.path.isdir(directory):
        for filename in sorted(os.listdir(directory)):
            stem, extension = os.path.splitext(filename)
            if extension.lower() in extensions and os.path.isfile(os.path.join(directory, filename)):
                found.setdefault(stem, []).append(filename)
    return found


def _check_layout(dataset_dir):
    if not dataset_dir or not os.path.isdir(dataset_dir):
        raise DataError(f"{dataset_dir}: dataset directory not found")
    for folder in (IMAGE_DIR, MASK_DIR):
        if not os.path.isdir(os.path.join(dataset_dir, folder)):
            raise DataError(f"{os.path.join(dataset_dir, folder)}: missing; a folder dataset has "
                            f"{IMAGE_DIR}/<name>.jpg|.png and {MASK_DIR}/<name>.png")


def split_files(dataset_dir):
    """{split: path} of the `<split>.txt` files beside `images/`; none unless train.txt or val.txt is there.

    (So a stray notes.txt does not turn off the split by name.)
    """
    files = {
        name[:-4]: os.path.join(dataset_dir, name)
        for name in sorted(os.listdir(dataset_dir))
        if name.endswith(".txt") and os.path.isfile(os.path.join(dataset_dir, name))
    }
    return files if set(files) & set(SPLITS_BY_NAME) else {}


def list_splits(dataset_dir):
    """The split files' names, or train and val (the split by name) when there are none."""
    _check_layout(dataset_dir)
    return list(split_files(dataset_dir)) or list(SPLITS_BY_NAME)


def split_by_name(names, val_fraction):
    """(train, val) names: val is the `val_fraction` of names with the smallest hash.

    A name's hash depends on the name alone, so the split is the same on every
    machine and run, and adding images moves few names from one side to the other.
    With at least two names and a fraction above 0, each side gets one or more.
    """
    names = sorted(set(names))
    order = sorted(names, key=lambda n: hashlib.sha256(n.encode()).hexdigest())
    count = int(round(len(names) * val_fraction))
    if val_fraction > 0 and len(names) >= 2:
        count = min(max(count, 1), len(names) - 1)
    val = set(order[:count])
    return [n for n in names if n not in val], [n for n in names if n in val]


def check_val_fraction(val_fraction):
    if not 0 <= val_fraction < 1:
        raise ConfigError("val_fraction", f"must be in [0, 1), got {val_fraction}")


def _read_split_file(path):
    try:
        with open(path) as file:
            lines = file.read().splitlines()
    except OSError as error:
        raise DataError(f"{path}: split file cannot be read ({error.strerror})") from None
    names = []
    for line in lines:
        name = line.strip()
        if name:
            stem, extension = os.path.splitext(name)
            names.append(stem if extension.lower() in IMAGE_EXTENSIONS else name)
    return names


def split_source(dataset_dir, split):
    """The file a split is listed in, or a description of the split by name (for messages)."""
    files = split_files(dataset_dir)
    if split in files:
        return files[split]
    return os.path.join(dataset_dir, f"{IMAGE_DIR} ({split} split by name)")


def list_examples(dataset_dir, split, val_fraction=None):
    """[(name, image path or None, mask path or None)] of a split, plus the layout's problems.

    Returns:
        (examples, problems): `problems` are (path, fault) pairs that are no
        example's own: two images with one name, a mask that is not a PNG.
        An example whose image or mask is missing has None in its place.

    Raises:
        DataError: no such directory, folder or split.
    """
    val_fraction = DEFAULT_VAL_FRACTION if val_fraction is None else val_fraction
    check_val_fraction(val_fraction)
    _check_layout(dataset_dir)
    images = _stems(os.path.join(dataset_dir, IMAGE_DIR), IMAGE_EXTENSIONS)
    masks = _stems(os.path.join(dataset_dir, MASK_DIR), IMAGE_EXTENSIONS)
    problems = []
    for stem, filenames in images.items():
        if len(filenames) > 1:
            problems.append((os.path.join(dataset_dir, IMAGE_DIR, filenames[0]),
                             f"{len(filenames)} images named {stem} ({', '.join(filenames)}); "
                             f"using {filenames[0]}"))
    for stem, filenames in masks.items():
        for filename in filenames:
            if not filename.lower().endswith(MASK_EXTENSION):
                problems.append((os.path.join(dataset_dir, MASK_DIR, filename),
                                 "mask is not a PNG (JPEG compression changes class ids); save it as PNG"))
    png_masks = {stem for stem, filenames in masks.items()
                 if any(f.lower().endswith(MASK_EXTENSION) for f in filenames)}

    files = split_files(dataset_dir)
    if files:
        if split not in files:
            raise DataError(f"{os.path.join(dataset_dir, split)}.txt: split file not found "
                            f"(splits here: {', '.join(files)})")
        names = _read_split_file(files[split])
    elif split in SPLITS_BY_NAME:
        train, val = split_by_name(set(images) | png_masks, val_fraction)
        names = train if split == "train" else val
    else:
        raise DataError(f"{os.path.join(dataset_dir, split)}.txt: split file not found; without "
                        f"split files a folder dataset has the splits {' and '.join(SPLITS_BY_NAME)}")

    examples = []
    for name in names:
        image = os.path.join(dataset_dir, IMAGE_DIR, images[name][0]) if name in images else None
        mask = os.path.join(dataset_dir, MASK_DIR, name + MASK_EXTENSION) if name in png_masks else None
        examples.append((name, image, mask))
    return examples, problems


def missing_file_problems(dataset_dir, example):
    """(path, fault) pairs for an example whose image or mask is missing."""
    name, image, mask = example
    if image is None and mask is None:
        return [(os.path.join(dataset_dir, IMAGE_DIR, name), "listed but has no image and no mask")]
    if image is None:
        return [(mask, f"mask without an image (no {IMAGE_DIR}/{name}.jpg, .jpeg or .png)")]
    if mask is None:
        return [(image, f"image without a mask (no {MASK_DIR}/{name}{MASK_EXTENSION})")]
    return []


# === Masks → labels ===


def value_lookup(classes):
    """int32 [65536]: stored mask value → label (class k, or the ignore label); -1 for values that are neither.

    The ignore label is `label_space.ignore_label_for` the number of classes:
    255 up to 255 classes, else 65535.
    """
    lookup = np.full(label_space.MAX_LABEL_VALUE + 1, _BAD, np.int32)
    count = len(classes.class_names)
    ignore = label_space.ignore_label_for(count)
    if classes.zero_is_ignore:
        lookup[0] = ignore
        lookup[1:count + 1] = np.arange(count)
    else:
        lookup[:count] = np.arange(count)
        lookup[classes.ignore_label] = ignore
    return lookup


def label_dtype(classes):
    """The NumPy dtype of a folder dataset's labels: uint8 up to 255 classes, else uint16."""
    count = len(classes.class_names)
    return np.dtype(label_space.label_dtype(count, label_space.ignore_label_for(count)))


def _voc_colour_hint(colour):
    palette = image_io.voc_colormap()
    matches = np.flatnonzero((palette == np.asarray(colour, np.uint8)).all(axis=1))
    if matches.size:
        return (f"; it is VOC's palette colour of index {int(matches[0])}: if the masks are VOC-palette "
                "images saved as RGB, list those colours in \"colors\" or save palette PNGs")
    return ""


def _colour_values(rgb, classes):
    """uint8 [H, W, 3] colours → int32 stored values (the index of each colour in `colors`)."""
    if not classes.colors:
        raise image_io.LabelError(f"colour (RGB) mask, but {classes.path} lists no \"colors\" to map colours to "
                        "classes; add \"colors\" or save masks as palette or gray PNGs of class ids")
    keys = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    table = {(r << 16) | (g << 8) | b: index for index, (r, g, b) in enumerate(classes.colors)}
    if classes.ignore_color is not None and not classes.zero_is_ignore:
        r, g, b = classes.ignore_color
        table[(r << 16) | (g << 8) | b] = classes.ignore_label
    known = np.array(sorted(table), np.int32)
    values = np.array([table[k] for k in known], np.int32)
    position = np.clip(np.searchsorted(known, keys), 0, len(known) - 1)
    found = known[position] == keys
    if not found.all():
        y, x = (int(v) for v in np.argwhere(~found)[0])
        colour = tuple(int(c) for c in rgb[y, x])
        keys_named = '"colors" or "ignore_color"' if classes.ignore_color else '"colors"'
        raise image_io.LabelError(
            f"colour {list(colour)} at pixel (x={x}, y={y}) is not listed in {classes.path} "
            f"({keys_named}); "
            f"{int((~found).sum())} pixel(s) have unlisted colours{_voc_colour_hint(colour)}"
        )
    return values[position]


def _stored_values(picture, classes):
    """The stored value of every pixel: a palette index, a gray level, or a colour's index."""
    if picture.mode in ("RGB", "RGBA"):
        return _colour_values(np.asarray(picture.convert("RGB")), classes)
    if picture.mode in ("P", "L"):
        return np.asarray(picture, np.uint8)
    if picture.mode == "1":
        return np.asarray(picture).astype(np.uint8)
    if picture.mode == "LA":
        return np.asarray(picture)[..., 0]
    if picture.mode.startswith("I"):
        values = np.asarray(picture).astype(np.int64)
        if values.size and (values.max() > label_space.MAX_LABEL_VALUE or values.min() < 0):
            raise image_io.LabelError(f"mask values {int(values.min())}..{int(values.max())}; "
                            f"a 16-bit gray PNG holds 0..{label_space.MAX_LABEL_VALUE}")
        return values
    raise image_io.LabelError(f"mask of mode {picture.mode}; a palette, gray or RGB PNG is expected")


def mask_labels(data, classes, lookup=None):
    """Mask PNG bytes → [H, W] labels of `label_dtype(classes)` (classes 0..n-1, ignored 255 or 65535).

    Masks are palette or 8-bit gray PNGs (up to 256 values), 16-bit gray
    PNGs (any number of classes), or RGB with the colours of `colors`.

    Raises:
        image_io.LabelError: not a readable PNG, an unlisted colour (naming it and one
            pixel), or values that are neither a class nor the ignore label.
    """
    lookup = value_lookup(classes) if lookup is None else lookup
    try:
        picture = Image.open(io.BytesIO(data))
        picture.load()
    except Exception as error:  # noqa: BLE001 - PIL raises many types for bad files
        raise image_io.LabelError(f"unreadable mask ({last_line(error)})") from None
    if picture.format != "PNG":
        raise image_io.LabelError(f"mask is {picture.format}; a PNG is expected")
    values = _stored_values(picture, classes)
    labels = lookup[values]
    if (labels == _BAD).any():
        bad = np.unique(values[labels == _BAD])
        shown = ", ".join(str(int(v)) for v in bad[:10])
        valid = (f"1..{len(classes.class_names)} (0 is ignored)" if classes.zero_is_ignore
                 else f"0..{len(classes.class_names) - 1} or the ignore label {classes.ignore_label}")
        raise image_io.LabelError(f"mask values {shown} are not classes: expected {valid}{_gray_hint(bad)}")
    return labels.astype(label_dtype(classes))


def _gray_hint(values):
    """A hint when out-of-range gray levels are VOC colours converted to grayscale."""
    palette = image_io.voc_colormap().astype(np.float64)
    luma = np.round(palette @ np.array([0.299, 0.587, 0.114]))
    if len(values) and np.isin(values, luma[1:]).all():
        return ("; these gray levels are VOC palette colours converted to grayscale: save the masks "
                "as palette PNGs (or gray PNGs of class ids)")
    return ""


def palette_notes(data, classes):
    """Remarks on a palette mask whose colours disagree with `colors` (its indices may be another palette's)."""
    if not classes.colors:
        return []
    picture = Image.open(io.BytesIO(data))
    if picture.mode != "P" or picture.palette is None:
        return []
    palette = np.asarray(picture.getpalette() or [], np.int64).reshape(-1, 3)
    used = np.unique(np.asarray(picture))
    for index in used:
        if index < len(classes.colors) and index < len(palette) \
                and tuple(int(c) for c in palette[index]) != classes.colors[index]:
            return [f"palette mask: index {int(index)} is {palette[index].tolist()} in its palette but "
                    f"{classes.names[index]!r} is {list(classes.colors[index])} in classes.json; the "
                    "indices are read as class ids (do they come from another palette?)"]
    return []


# === Reading a split ===


def read_examples(examples, info, classes, *, shuffle_files=False, seed=None):
    """A `tf.data.Dataset` of decoded {"image", "label", "filename"} for complete `examples`."""
    names, images, masks = (list(column) for column in zip(*examples))
    files = tf.data.Dataset.from_tensor_slices((names, images, masks))
    if shuffle_files:
        files = files.shuffle(len(names), seed=seed, reshuffle_each_iteration=True)
    lookup = value_lookup(classes)

    def labels_of(data, path):
        try:
            return mask_labels(data, classes, lookup)
        except image_io.LabelError as error:
            raise DataError(f"{path.decode()}: {error}") from None

    def load(name, image_file, mask_file):
        image = image_io.decode_image(tf.io.read_file(image_file))
        label = tf.numpy_function(labels_of, [tf.io.read_file(mask_file), mask_file], info.label_dtype,
                                  stateful=False)
        label.set_shape([None, None])
        return image_io.checked_example(image, label, name, info.num_classes, info.ignore_label, where=mask_file)

    return files.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


# === The format ===


def _info(dataset_dir, num_classes):
    del num_classes  # classes.json says; `dataset_info` checks a given count against it
    classes = classes_file.read_classes(dataset_dir)
    return info_lib.DatasetInfo("folder", len(classes.class_names), class_names=classes.class_names,
                                zero_is_ignore=classes.zero_is_ignore, palette=classes.class_colors)


def _read(dataset_dir, split, info, *, exclude=(), shuffle_files=False, seed=None, input_context=None,
          val_fraction=None):
    examples, _ = list_examples(dataset_dir, split, val_fraction)
    source = split_source(dataset_dir, split)
    if not examples:
        raise DataError(f"{source}: split {split!r} has no examples")
    examples = [e for e in examples if e[0] not in exclude]
    missing = [f"{path}: {fault}" for e in examples for path, fault in missing_file_problems(dataset_dir, e)]
    if missing:
        shown = "; ".join(missing[:10])
        more = f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""
        raise DataError(f"split {split!r} of {dataset_dir}: {shown}{more}; fix them or pass --skip_bad_examples")
    sharding.check_enough(len(examples), input_context, source, split)
    classes = classes_file.read_classes(dataset_dir)
    return read_examples(sharding.share(examples, input_context), info, classes,
                         shuffle_files=shuffle_files, seed=seed)


def _validate(report, dataset_dir, split, val_fraction):
    examples, layout_problems = list_examples(dataset_dir, split, val_fraction)
    classes = classes_file.read_classes(dataset_dir)
    lookup = value_lookup(classes)
    report.notes.extend(validate.Problem(path, fault) for path, fault in layout_problems)

    def check(example):
        name, image_path, mask_path = example
        missing = missing_file_problems(dataset_dir, example)
        if missing:
            return name, [validate.Problem(path, fault) for path, fault in missing], [], None
        mask_bytes = validate.read_bytes(mask_path)
        problems, notes, label = validate.check_pair(
            validate.read_bytes(image_path), mask_bytes, image_path, mask_path, report.info,
            decode_mask=lambda data: mask_labels(data, classes, lookup),
        )
        if not problems:
            notes += [validate.Problem(mask_path, note) for note in palette_notes(mask_bytes, classes)]
        return name, problems, notes, label

    validate.check_listed_examples(report, examples, split_source(dataset_dir, split),
                                   f"split {split!r} has no examples", check)


def _records(dataset_dir, split, info, exclude, val_fraction):
    """The split's examples with their original image bytes and masks as class-id PNGs."""
    del info  # the labels are `classes.json`'s
    classes = classes_file.read_classes(dataset_dir)
    lookup = value_lookup(classes)
    examples, _ = list_examples(dataset_dir, split, val_fraction)
    for example_id, image_path, mask_path in examples:
        if example_id not in exclude:
            label = mask_labels(validate.read_bytes(mask_path), classes, lookup)
            yield tfrecord.file_example(example_id, validate.read_bytes(image_path), label)


FORMAT = registry.DatasetFormat(
    name="folder",
    description="your own data: images/, masks/, classes.json (docs/own_data.md)",
    info=_info,
    list_splits=list_splits,
    read=_read,
    validate=_validate,
    records=_records,
    class_colors=palettes.distinct_colors,
)
