"""Pictures of segmentations: the VOC palette, overlays, confusion matrix, IoU bars, training curves.

Plots draw on `matplotlib.figure.Figure` (Agg) directly, so pyplot's global
backend and state are never touched.
"""

import glob
import io
import os

import numpy as np
from PIL import Image

from deeplab_tf.data import image_io

def voc_palette():
    """The PASCAL VOC palette: uint8 [256, 3], the colour of each label index."""
    return image_io.voc_colormap()


def colorize(label, palette=None):
    """int [H, W] labels → uint8 [H, W, 3] colours (the ignore label in VOC's cream, see `palette_array`)."""
    palette = voc_palette() if palette is None else np.asarray(palette, np.uint8)
    return palette[np.asarray(label).astype(np.int64) % len(palette)]


def overlay(image, label, alpha=0.5, transparent=(0,), palette=None):
    """The image with each labelled pixel tinted by its class colour.

    Args:
        image: uint8 [H, W, 3] RGB.
        label: int [H, W].
        alpha: weight of the class colour.
        transparent: labels left untinted (the background, usually 0).
    """
    image = np.asarray(image, np.float32)
    label = np.asarray(label)
    colours = colorize(label, palette).astype(np.float32)
    tint = ~np.isin(label, list(transparent or ()))[..., None]
    blended = np.where(tint, (1 - alpha) * image + alpha * colours, image)
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def label_png(label, palette=None):
    """[H, W] labels → PNG bytes: a palette PNG (default the VOC palette, as VOC's SegmentationClass) for uint8.

    A palette PNG holds 256 values, so uint16 labels (more than 256 classes)
    are written as a 16-bit gray PNG of the class ids, without colours.
    """
    label = np.asarray(label)
    if label.dtype == np.uint16:
        return image_io.encode_index_png(label)
    palette = voc_palette() if palette is None else np.asarray(palette, np.uint8)
    picture = Image.fromarray(np.asarray(label, np.uint8), mode="P")
    picture.putpalette(palette[:256].ravel().tolist())
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def rgb_png(image):
    """uint8 [H, W, 3] → PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8), mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _figure(width, height):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def sample_figure(panels, path, legend=None, palette=None):
    """One row of pictures, e.g. image | truth | prediction | with CRF, saved as a PNG.

    Args:
        panels: list of (title, uint8 [H, W, 3] image or int [H, W] labels).
        path: the PNG to write.
        legend: optional list of (class name, label) drawn under the row.
        palette: uint8 [N, 3] class colours (`palettes.palette_array`) (default VOC's).
    """
    palette = voc_palette() if palette is None else np.asarray(palette, np.uint8)
    height, width = np.asarray(panels[0][1]).shape[:2]
    scale = 2.4 / max(height, width)
    figure = _figure(len(panels) * width * scale + 0.2, height * scale + (0.9 if legend else 0.4))
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for axis, (title, picture) in zip(axes, panels):
        picture = np.asarray(picture)
        axis.imshow(picture if picture.ndim == 3 else colorize(picture, palette), interpolation="nearest")
        axis.set_title(title, fontsize=9)
        axis.axis("off")
    if legend:
        from matplotlib.patches import Patch

        handles = [Patch(color=palette[index] / 255.0, label=name) for name, index in legend]
        figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), fontsize=7)
    figure.savefig(path)


# Above this many classes a plot's axis shows every k-th class index instead of each name,
# and the figure stops growing (a 300-class matrix at 0.32 inch per class took 30 s to draw).
_NAMED_CLASSES = 60
_MAX_INCHES = 24.0


def _class_ticks(class_names):
    """(positions, labels) of a class axis: every name, or every k-th index with many classes."""
    count = len(class_names)
    if count <= _NAMED_CLASSES:
        return np.arange(count), list(class_names)
    positions = np.arange(0, count, int(np.ceil(count / 40)))
    return positions, [str(p) for p in positions]


def plot_confusion_matrix(confusion, class_names, path):
    """The row-normalised confusion matrix (rows: ground truth) as a PNG heat map."""
    confusion = np.asarray(confusion, np.float64)
    rows = confusion.sum(axis=1, keepdims=True)
    normalised = np.divide(confusion, rows, out=np.zeros_like(confusion), where=rows > 0)
    size = min(max(3.5, 0.32 * len(class_names) + 2), _MAX_INCHES)
    figure = _figure(size + 1, size)
    axis = figure.subplots()
    shown = axis.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ticks, labels = _class_ticks(class_names)
    axis.set_xticks(ticks, labels, rotation=90, fontsize=7)
    axis.set_yticks(ticks, labels, fontsize=7)
    axis.set_xlabel("predicted")
    axis.set_ylabel("ground truth")
    if len(class_names) <= 25:  # numbers stay readable up to VOC's 21 classes
        for (row, column), value in np.ndenumerate(normalised):
            if value >= 0.005:
                colour = "white" if value > 0.5 else "black"
                axis.text(column, row, f"{100 * value:.0f}", ha="center", va="center", fontsize=6, color=colour)
    figure.colorbar(shown, ax=axis, fraction=0.046, label="fraction of the row")
    figure.savefig(path)


def plot_class_iou(series, class_names, path):
    """Per-class IoU bars, one bar per series (e.g. {"network": [...], "with CRF": [...]}).

    A class without an IoU (absent from labels and predictions) has no bar.
    """
    names = list(series)
    width = 0.8 / len(names)
    figure = _figure(min(max(4.0, 0.35 * len(class_names) * len(names) + 1.5), _MAX_INCHES), 3.2)
    axis = figure.subplots()
    positions = np.arange(len(class_names))
    for index, name in enumerate(names):
        values = [np.nan if v is None else 100 * v for v in series[name]]
        axis.bar(positions + (index - (len(names) - 1) / 2) * width, values, width, label=name)
    ticks, labels = _class_ticks(class_names)
    axis.set_xticks(ticks, labels, rotation=60, ha="right", fontsize=7)
    axis.set_ylabel("IoU (%)")
    axis.set_ylim(0, 100)
    axis.grid(axis="y", alpha=0.3)
    if len(names) > 1:
        axis.legend(fontsize=7)
    figure.savefig(path)


def plot_class_frequencies(stats, path, palette=None):
    """Two bar charts of a split's `stats.json` document: each class's pixel share and its image count.

    Bars take the class colours of `palette` (default VOC's); a class that
    never occurs is marked with an "x" on the axis, so it cannot be missed.
    """
    classes = stats["classes"]
    names = [c["name"] for c in classes]
    palette = voc_palette() if palette is None else np.asarray(palette, np.uint8)
    colours = [palette[i % len(palette)] / 255.0 for i in range(len(classes))]
    edges = [(0.2, 0.2, 0.2)] * len(classes)
    figure = _figure(min(40.0, max(5.0, 0.3 * len(classes) + 2)), 5.2)
    top, bottom = figure.subplots(2, 1, sharex=True)
    positions = np.arange(len(classes))
    top.bar(positions, [100 * c["pixel_share"] for c in classes], color=colours, edgecolor=edges, linewidth=0.5)
    top.set_ylabel("labelled pixels (%)")
    top.set_yscale("symlog", linthresh=1.0)
    ignored = 100 * stats["ignored_share"]
    top.set_title(f"{stats['dataset']} {stats['split']}: {stats['num_usable']} images, "
                  f"{ignored:.1f}% of pixels ignored", fontsize=9)
    bottom.bar(positions, [c["images"] for c in classes], color=colours, edgecolor=edges, linewidth=0.5)
    bottom.set_ylabel("images with the class")
    absent = [i for i, c in enumerate(classes) if c["pixels"] == 0]
    bottom.plot(absent, [0] * len(absent), "x", color="red", markersize=8, label="never occurs")
    if absent:
        bottom.legend(fontsize=7)
    bottom.set_xticks(positions, names, rotation=60 if len(names) > 8 else 0, ha="right" if len(names) > 8 else "center",
                      fontsize=7)
    for axis in (top, bottom):
        axis.grid(axis="y", alpha=0.3)
    figure.savefig(path)


def read_scalars(log_dir):
    """Every scalar in the TensorBoard event files under `log_dir`, by run and tag.

    Returns:
        {"<run>/<tag>": [(step, value), ...]} sorted by step, where <run> is the
        event file's folder relative to `log_dir` ("." for `log_dir` itself).
        Later points replace earlier ones at the same step (a resumed run).
    """
    import tensorflow as tf

    scalars = {}
    pattern = os.path.join(glob.escape(log_dir), "**", "events.out.tfevents.*")
    for path in sorted(glob.glob(pattern, recursive=True)):
        run = os.path.relpath(os.path.dirname(path), log_dir)
        try:
            for event in tf.compat.v1.train.summary_iterator(path):
                for value in event.summary.value:
                    number = _scalar(value, tf)
                    if number is not None:
                        scalars.setdefault(f"{run}/{value.tag}", {})[int(event.step)] = number
        except tf.errors.DataLossError:
            pass  # a file still being written ends in a partial record
    return {tag: sorted(points.items()) for tag, points in sorted(scalars.items())}


def _scalar(value, tf):
    if value.HasField("simple_value"):
        return float(value.simple_value)
    if value.HasField("tensor") and not value.tensor.tensor_shape.dim:
        try:
            number = tf.make_ndarray(value.tensor)
        except (TypeError, ValueError):
            return None
        if number.dtype.kind in "fiu":
            return float(number)
    return None


# Plot titles of the trainer's scalars, in the order the plots are drawn (val mIoU early, so it is never cut).
CURVE_TITLES = {
    "loss/total": "Total loss",
    "eval/miou": "Val mIoU",
    "train/miou": "Train mIoU (crops)",
    "loss/cross_entropy": "Cross-entropy",
    "loss/weight_decay": "Weight decay",
    "learning_rate": "Learning rate",
    "train/pixel_accuracy": "Train pixel accuracy (crops)",
    "steps_per_second": "Steps per second",
}


def _known_tag(tag):
    """The `CURVE_TITLES` key `tag` ends with (after its run folder), or None."""
    for key in CURVE_TITLES:
        if tag == key or tag.endswith("/" + key):
            return key
    return None


def curve_title(tag):
    """A plot title in words for a `read_scalars` tag: "./loss/total" → "Total loss", "./eval/miou" → "Val mIoU"."""
    key = _known_tag(tag)
    if key is not None:
        return CURVE_TITLES[key]
    words = " ".join(part for part in tag.split("/") if part not in (".", "")).replace("_", " ")
    words = words.replace("miou", "mIoU")
    return words[:1].upper() + words[1:]


def plotted_tags(scalars, max_plots=12):
    """The tags `plot_training_curves` draws, in order: the trainer's (`CURVE_TITLES` order), then the rest."""
    order = list(CURVE_TITLES)
    tags = [tag for tag, points in scalars.items() if points]
    tags.sort(key=lambda tag: (order.index(_known_tag(tag)) if _known_tag(tag) else len(order), tag))
    return tags[:max_plots]


def plot_training_curves(scalars, path, max_plots=12):
    """One small plot per scalar (loss, learning rate, mIoU, ...) in a grid, as a PNG.

    The trainer's scalars come first, in `CURVE_TITLES` order (val mIoU, when
    the run evaluated, second), titled in words; other tags follow.

    Returns:
        False (and writes nothing) when there is nothing to plot.
    """
    tags = plotted_tags(scalars, max_plots)
    if not tags:
        return False
    columns = min(3, len(tags))
    rows = -(-len(tags) // columns)
    figure = _figure(3.4 * columns, 2.4 * rows)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for axis, tag in zip(axes, tags):
        steps, values = zip(*scalars[tag])
        axis.plot(steps, values, marker="." if len(steps) < 30 else None, linewidth=1)
        axis.set_title(curve_title(tag), fontsize=8)
        axis.set_xlabel("step", fontsize=7)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
        if "loss" in tag and min(values) > 0 and max(values) / min(values) > 20:
            axis.set_yscale("log")  # early spikes would flatten the rest
    for axis in axes[len(tags):]:
        axis.axis("off")
    figure.savefig(path)
    return True
