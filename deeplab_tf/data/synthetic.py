"""A generated segmentation dataset in the VOC layout, for runs without real data.

Each image is a textured background with two to four objects drawn from five
shape classes. What makes it a fair small stand-in for VOC:

- Classes are told apart by shape and texture, never by colour: every object's
  colours are drawn from the same distribution, whatever its class. Textures:
  disc shaded, square striped, triangle dotted, ring plain, cross checked, all
  scaled with the object so they stay visible on small ones.
- Object sizes span 30× (log-uniform area, 1.5%–45% of the image), and large
  and small objects share images and overlap: the multi-scale problem.
  Version 2 draws 2–4 objects where version 1 drew 1–3 of up to 65%: more
  shapes per crop, which sped learning (docs/performance.md, How the bundled recipe was chosen).
- Backgrounds are textured (smooth gradients, blotches and grain), so "not
  background" is not just "not flat".
- Objects are rendered with 4×4 supersampling and their colour contrasts with
  what lies under them, so label edges follow colour edges (what a CRF uses).
- Pixels with a 4-neighbour of another class are labelled 255: a thin ignore
  band on every object boundary, like VOC's.

Everything derives from `seed`: example i of a split uses the random stream
`SeedSequence([seed, split, i])`, so the same arguments give identical files.
"""

import dataclasses
import multiprocessing
import os

import numpy as np
from absl import logging
from PIL import Image

from deeplab_tf import label_space
from deeplab_tf.data import image_io, info as info_lib, voc
from deeplab_tf.errors import ConfigError, DataError

CLASS_NAMES = ("background", "disc", "square", "triangle", "ring", "cross")
GENERATOR_VERSION = 2

_MIN_AREA, _MAX_AREA = 0.015, 0.45
_SUPERSAMPLE = 4
_CROSS_HALF_WIDTH, _CROSS_ARM = 0.3, 0.95
_RING_HOLE = 0.5
# Area of each shape at circumradius 1, to size it from an area fraction.
_UNIT_AREA = {
    "disc": np.pi,
    "square": 2.0,
    "triangle": 3.0 * np.sqrt(3.0) / 4.0,
    "ring": np.pi * (1.0 - _RING_HOLE**2),
    "cross": 2 * (2 * _CROSS_HALF_WIDTH) * (2 * _CROSS_ARM) - (2 * _CROSS_HALF_WIDTH) ** 2,
}


def _inside(kind, u, v):
    """Membership in a shape of circumradius 1 centred at the origin."""
    r2 = u * u + v * v
    if kind == "disc":
        return r2 <= 1.0
    if kind == "ring":
        return (r2 <= 1.0) & (r2 >= _RING_HOLE**2)
    if kind == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= np.sqrt(0.5)
    if kind == "triangle":
        root3 = np.sqrt(3.0)
        return (v >= -0.5) & (root3 * u + v <= 1.0) & (-root3 * u + v <= 1.0)
    if kind == "cross":
        au, av = np.abs(u), np.abs(v)
        w, arm = _CROSS_HALF_WIDTH, _CROSS_ARM
        return ((au <= w) & (av <= arm)) | ((av <= w) & (au <= arm))
    raise ValueError(kind)


def _fill(kind, u, v, colour, second):
    """The object's pixel colours: its class texture in two random colours."""
    shape = u.shape + (3,)
    if kind == "disc":  # shaded like a lit sphere
        light = np.clip(1.0 - (u + 0.35) ** 2 - (v + 0.35) ** 2, 0.0, 1.0)[..., None]
        return colour * (0.7 + 0.3 * light) + 40.0 * light
    if kind == "square":  # stripes, about five across
        stripe = (np.floor(u * 3.5) % 2 == 0)[..., None]
        return np.where(stripe, colour, second)
    if kind == "triangle":  # dots
        du, dv = (u * 4.0) % 1.0 - 0.5, (v * 4.0) % 1.0 - 0.5
        dot = (du * du + dv * dv < 0.09)[..., None]
        return np.where(dot, second, colour)
    if kind == "ring":
        return np.broadcast_to(colour, shape)
    if kind == "cross":  # checks
        check = ((np.floor(u * 3.0) + np.floor(v * 3.0)) % 2 == 0)[..., None]
        return np.where(check, colour, 0.6 * colour + 0.4 * second)
    raise ValueError(kind)


def _smooth_noise(rng, size, cells, amplitude):
    coarse = rng.normal(0.0, 1.0, (cells, cells, 3)).astype(np.float32)
    channels = [
        np.asarray(Image.fromarray(coarse[..., c], mode="F").resize((size, size), Image.BICUBIC))
        for c in range(3)
    ]
    return amplitude * np.stack(channels, axis=-1)


def _background(rng, size):
    """A textured background: base colour, a smooth gradient, blotches and grain."""
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size
    y, x = np.meshgrid(grid, grid, indexing="ij")
    image = np.broadcast_to(rng.uniform(40, 215, 3), (size, size, 3)).astype(np.float32)
    for _ in range(2):
        angle = rng.uniform(0, 2 * np.pi)
        frequency = rng.uniform(0.3, 1.5)
        wave = np.cos(2 * np.pi * frequency * (x * np.cos(angle) + y * np.sin(angle))
                      + rng.uniform(0, 2 * np.pi))
        image = image + wave[..., None] * rng.uniform(-30, 30, 3)
    image = image + _smooth_noise(rng, size, int(rng.integers(4, 12)), rng.uniform(4, 16))
    image = image + rng.normal(0.0, rng.uniform(2, 7), (size, size, 3))
    return image


def _coverage(kind, size, centre, radius, angle):
    """(y0, x0, fraction of each pixel inside the shape [h, w], u, v at pixel centres)."""
    cx, cy = centre
    x0, x1 = max(0, int(np.floor(cx - radius - 1))), min(size, int(np.ceil(cx + radius + 1)))
    y0, y1 = max(0, int(np.floor(cy - radius - 1))), min(size, int(np.ceil(cy + radius + 1)))
    offsets = (np.arange(_SUPERSAMPLE) + 0.5) / _SUPERSAMPLE
    xs = (np.arange(x0, x1)[:, None] + offsets[None, :]).ravel()
    ys = (np.arange(y0, y1)[:, None] + offsets[None, :]).ravel()
    cos, sin = np.cos(angle), np.sin(angle)

    def frame(px, py):
        # The products on the 1-D axes, then one broadcast sum per coordinate: the same
        # arithmetic per pixel as on meshgrids, at a fraction of the work.
        dx, dy = px - cx, py - cy
        return ((dx * cos)[None, :] + (dy * sin)[:, None]) / radius, \
            ((-dx * sin)[None, :] + (dy * cos)[:, None]) / radius

    inside = _inside(kind, *frame(xs, ys))
    h, w = y1 - y0, x1 - x0
    coverage = inside.reshape(h, _SUPERSAMPLE, w, _SUPERSAMPLE).mean(axis=(1, 3))
    u, v = frame(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5)
    return y0, x0, coverage, u, v


def _contrasting_colour(rng, under):
    """A random colour far from `under` (the mean colour it is drawn on)."""
    best, best_distance = None, -1.0
    for _ in range(24):
        colour = rng.uniform(0, 255, 3)
        distance = float(np.linalg.norm(colour - under))
        if distance > best_distance:
            best, best_distance = colour, distance
        if distance >= 110:
            break
    return best


def render_example(rng, size):
    """One generated example.

    Args:
        rng: a `numpy.random.Generator`.
        size: image height and width.

    Returns:
        (image uint8 [size, size, 3], label uint8 [size, size] with 255 on
        boundaries, objects: [(class index, visible area fraction)]).
    """
    kinds = CLASS_NAMES[1:]
    image = _background(rng, size)
    label = np.zeros((size, size), np.uint8)
    owner = np.full((size, size), -1, np.int32)
    num_objects = int(rng.choice([2, 3, 4], p=[0.3, 0.4, 0.3]))
    areas = np.sort(np.exp(rng.uniform(np.log(_MIN_AREA), np.log(_MAX_AREA), num_objects)))[::-1]
    full_areas = []
    for number, area in enumerate(areas):
        class_index = int(rng.integers(1, len(CLASS_NAMES)))
        kind = kinds[class_index - 1]
        radius = size * np.sqrt(area / _UNIT_AREA[kind])
        angle = rng.uniform(0, 2 * np.pi)
        for _ in range(12):  # a place that leaves earlier objects at least half visible
            margin = min(radius * 0.85, size / 2)
            centre = rng.uniform(margin, size - margin, 2)
            y0, x0, coverage, u, v = _coverage(kind, size, centre, radius, angle)
            covered = np.zeros_like(owner, bool)
            covered[y0:y0 + coverage.shape[0], x0:x0 + coverage.shape[1]] = coverage >= 0.5
            left = [np.sum((owner == k) & ~covered) for k in range(number)]
            if all(l >= 0.5 * a for l, a in zip(left, full_areas)):
                break
        window = (slice(y0, y0 + coverage.shape[0]), slice(x0, x0 + coverage.shape[1]))
        alpha = coverage[..., None]
        under = (image[window] * alpha).sum(axis=(0, 1)) / max(alpha.sum(), 1e-6)
        colour = _contrasting_colour(rng, under)
        second = _contrasting_colour(rng, colour)
        fill = _fill(kind, u, v, colour, second)
        image[window] = image[window] * (1.0 - alpha) + fill * alpha
        mask = coverage >= 0.5
        label[window][mask] = class_index
        owner[window][mask] = number
        full_areas.append(int(mask.sum()))

    image = image + rng.normal(0.0, 2.0, image.shape)
    boundary = np.zeros_like(label, bool)
    horizontal = label[:, 1:] != label[:, :-1]
    vertical = label[1:, :] != label[:-1, :]
    boundary[:, 1:] |= horizontal
    boundary[:, :-1] |= horizontal
    boundary[1:, :] |= vertical
    boundary[:-1, :] |= vertical
    objects = [
        (int(label[owner == k][0]) if np.any(owner == k) else 0,
         float(np.sum(owner == k)) / (size * size))
        for k in range(num_objects)
    ]
    label[boundary] = label_space.IGNORE_LABEL
    return np.clip(np.round(image), 0, 255).astype(np.uint8), label, objects


def dataset_info():
    """The `DatasetInfo` of the generated dataset."""
    return info_lib.DatasetInfo("synthetic", len(CLASS_NAMES), label_space.IGNORE_LABEL, CLASS_NAMES)


def _render_files(task):
    """(seed, split index, example index, size) → (JPEG bytes, palette PNG bytes)."""
    seed, split_index, index, size = task
    rng = np.random.default_rng(np.random.SeedSequence([seed, split_index, index]))
    image, label, _ = render_example(rng, size)
    return image_io.encode_jpeg(image), image_io.encode_palette_png(label)


def generate_dataset(output_dir, num_train, num_val, image_size=128, seed=0, log_every=200,
                     processes=1):
    """Writes the generated dataset in the VOC layout, with `dataset.json` beside it.

    Layout: `JPEGImages/<id>.jpg`, `SegmentationClass/<id>.png` (VOC palette),
    `ImageSets/Segmentation/{train,val,trainval}.txt`, `dataset.json`; ids are
    `train_00000`, ..., `val_00000`, ....

    Args:
        output_dir: created if needed; files of the same names are replaced.
        num_train, num_val: examples per split (num_train may be 0: a set
            to score a trained model on, such as the demo's fresh-seed set).
        image_size: height and width in pixels (>= 32).
        seed: every byte written depends only on the arguments, whatever
            `processes` is: each example has its own random stream.
        processes: worker processes rendering examples (1: render in this
            process). Workers are forked, so call this before TensorFlow has
            run anything in the process (as `tools.make_synthetic_data` does).

    Returns:
        The dataset's `DatasetInfo`.
    """
    for field, value, least in (("num_train", num_train, 0), ("num_val", num_val, 1),
                                ("image_size", image_size, 32)):
        if int(value) < least:
            raise ConfigError(field, f"must be at least {least}, got {value}")
    for folder in (voc.IMAGE_DIR, voc.LABEL_DIR, voc.SPLIT_DIR):
        os.makedirs(os.path.join(output_dir, folder), exist_ok=True)

    splits = {"train": [f"train_{i:05d}" for i in range(num_train)],
              "val": [f"val_{i:05d}" for i in range(num_val)]}
    tasks = [(int(seed), split_index, i, int(image_size))
             for split_index, count in enumerate((num_train, num_val)) for i in range(count)]
    names = splits["train"] + splits["val"]
    # Rendering is numpy and PIL only; "fork" starts workers without re-importing TensorFlow.
    pool = multiprocessing.get_context("fork").Pool(processes) if processes > 1 else None
    try:
        files = pool.imap(_render_files, tasks, chunksize=8) if pool else map(_render_files, tasks)
        for done, (name, (jpeg, png)) in enumerate(zip(names, files), start=1):
            with open(os.path.join(output_dir, voc.IMAGE_DIR, name + voc.IMAGE_EXT), "wb") as f:
                f.write(jpeg)
            with open(os.path.join(output_dir, voc.LABEL_DIR, name + voc.LABEL_EXT), "wb") as f:
                f.write(png)
            if log_every and done % log_every == 0:
                logging.info("generated %d/%d images", done, len(tasks))
    finally:
        if pool:
            pool.close()
            pool.join()
    splits["trainval"] = splits["train"] + splits["val"]
    for split, names in splits.items():
        with open(voc.split_file(output_dir, split), "w") as f:
            f.write("".join(n + "\n" for n in names))

    info = dataset_info()
    info_lib.write_metadata(
        output_dir, info,
        image_size=int(image_size), num_train=int(num_train), num_val=int(num_val),
        seed=int(seed), generator_version=GENERATOR_VERSION,
    )
    return info


def _info(dataset_dir, num_classes):
    """What the generator wrote beside the dataset."""
    del num_classes  # `dataset_info` checks a given count against the metadata
    info = info_lib.metadata_info("synthetic", dataset_dir)
    if info is None:
        path = os.path.join(dataset_dir or "", info_lib.METADATA_FILE)
        raise DataError(f"{path}: missing; a synthetic dataset is made by `python -m tools.make_synthetic_data`")
    return info


FORMAT = dataclasses.replace(voc.FORMAT, name="synthetic", info=_info,
                             description="generated by tools.make_synthetic_data, in the VOC layout")
