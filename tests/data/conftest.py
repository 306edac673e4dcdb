"""Shared helpers for the data tests: tiny datasets written in the real formats.

Helpers are reached through the `data_helpers` fixture (conftest modules are
not importable by name when several test folders have one).
"""

import io
import os
import sys

import numpy as np
import pytest
from PIL import Image

from deeplab_tf.data.image_io import voc_colormap as voc_palette  # tests/test_visualize.py checks its colours
from tests import tool_runner


def make_image(height, width, seed=0):
    """A smooth random RGB image (JPEG keeps it close)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = rng.uniform(40, 200, 3)
    image = base + 40 * np.sin(x[..., None] / (3 + seed % 5) + rng.uniform(0, 6, 3)) \
        + 30 * np.cos(y[..., None] / 7.0)
    return np.clip(image, 0, 255).astype(np.uint8)


def make_label(height, width, num_classes=21, seed=0, band=True):
    """Blocks of classes 0..num_classes-1 with a 255 boundary between them."""
    rng = np.random.default_rng(seed)
    label = np.zeros((height, width), np.uint8)
    for _ in range(3):
        y0, x0 = rng.integers(0, height // 2), rng.integers(0, width // 2)
        y1, x1 = y0 + rng.integers(3, height // 2 + 1), x0 + rng.integers(3, width // 2 + 1)
        label[y0:y1, x0:x1] = rng.integers(1, num_classes)
    if band:
        edge = np.zeros_like(label, bool)
        edge[:, 1:] |= label[:, 1:] != label[:, :-1]
        edge[1:, :] |= label[1:, :] != label[:-1, :]
        label[edge] = 255
    return label


def encode(array, fmt, mode=None, palette=False):
    image = Image.fromarray(np.asarray(array), mode=mode) if mode else Image.fromarray(array)
    if palette:
        image = Image.fromarray(np.asarray(array, np.uint8), mode="P")
        image.putpalette(voc_palette().ravel().tolist())
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def jpeg(array):
    return encode(array, "JPEG")


def palette_png(label):
    return encode(label, "PNG", palette=True)


def index_png(label):
    return encode(np.asarray(label, np.uint8), "PNG", mode="L")


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_voc(root, examples, splits, label_dir="SegmentationClass"):
    """A VOC-layout tree.

    Args:
        examples: {id: (image bytes or None, label bytes or None, image extension)};
            None leaves the file out.
        splits: {split: [ids]}.
    """
    for name, (image_bytes, label_bytes, *ext) in examples.items():
        if image_bytes is not None:
            write(os.path.join(root, "JPEGImages", name + (ext[0] if ext else ".jpg")), image_bytes)
        if label_bytes is not None:
            write(os.path.join(root, label_dir, name + ".png"), label_bytes)
    os.makedirs(os.path.join(root, "ImageSets", "Segmentation"), exist_ok=True)
    for split, names in splits.items():
        with open(os.path.join(root, "ImageSets", "Segmentation", split + ".txt"), "w") as f:
            f.write("".join(n + "\n" for n in names))
    return str(root)


def simple_voc(root, num=4, size=(24, 32), num_classes=21, splits=None):
    """A clean VOC tree of `num` JPEG/palette-PNG examples; returns (root, {id: (image, label)})."""
    arrays, examples = {}, {}
    for i in range(num):
        name = f"2007_{i:06d}"
        image = make_image(*size, seed=i)
        label = make_label(*size, num_classes=num_classes, seed=i)
        arrays[name] = (image, label)
        examples[name] = (jpeg(image), palette_png(label))
    names = sorted(arrays)
    splits = splits or {"train": names[: num // 2 + 1], "val": names[num // 2 + 1:]}
    return write_voc(root, examples, splits), arrays


def run_tool(name, *args, timeout=180):
    """Runs `python -m tools.<name> args...` from the repository root."""
    return tool_runner.run_tool(name, *args, timeout=timeout)


# Taken at import: pytest re-imports each folder's conftest under the same name.
_THIS_MODULE = sys.modules[__name__]


@pytest.fixture(scope="session")
def data_helpers():
    return _THIS_MODULE
