"""Class colours: a dataset's own, its format's (Cityscapes', ADE20K's, a folder's), or VOC's palette.

A picture of labels (predictions, overlays, reports, TensorBoard) colours class
k with `palette_for(info)[k]`; the ignore label (255, or 65535 above 255
classes) is VOC's cream.
"""

import colorsys

import numpy as np

from deeplab_tf.data import registry
from deeplab_tf.data.image_io import voc_colormap
from deeplab_tf.label_space import IGNORE_LABEL


def distinct_colors(count):
    """`count` colours far apart in hue, for a dataset that names none: golden-ratio hue steps.

    Class 0 is black (usually the background); lightness alternates so that
    neighbouring hues also differ in brightness, and saturation in threes,
    so all of `label_space.MAX_CLASSES` (1000) colours differ.
    """
    colours = [(0, 0, 0)]
    for index in range(1, count):
        hue = (index * 0.618033988749895) % 1.0
        lightness = (0.45, 0.6, 0.35)[index % 3]
        saturation = (0.9, 0.6)[index // 3 % 2]
        r, g, b = colorsys.hls_to_rgb(hue, lightness, saturation)
        colours.append((round(255 * r), round(255 * g), round(255 * b)))
    return tuple(colours[:count])


def official_colors(colors):
    """A `DatasetFormat.class_colors`: `colors` for a dataset of that many classes, else VOC's."""
    return lambda num_classes: colors if num_classes == len(colors) else None


def class_colors(info):
    """(r, g, b) of each class of a `DatasetInfo`: its own palette, its format's colours, or VOC's.

    The format is `info.name`'s (`DatasetFormat.class_colors`): Cityscapes'
    and ADE20K's official colours, `distinct_colors` for a folder dataset
    without "colors"; VOC, the generated set, TFRecords without a palette and
    names no format has get VOC's.
    """
    if info.palette:
        return tuple(info.palette)
    dataset_format = registry.find_format(info.name)
    colors = dataset_format.class_colors(info.num_classes) if dataset_format else None
    return colors or tuple(tuple(int(c) for c in colour) for colour in voc_colormap()[: info.num_classes])


def palette_array(colors=None, ignore_label=IGNORE_LABEL):
    """uint8 [max(256, n, ignore_label + 1), 3]: `colors` for labels 0..n-1, VOC's palette above, the ignore label cream."""
    colors = list(colors or ())
    palette = np.zeros((max(256, len(colors), ignore_label + 1), 3), np.uint8)
    palette[:256] = voc_colormap()
    if colors:
        palette[: len(colors)] = np.asarray(colors, np.uint8)
    palette[ignore_label] = voc_colormap()[255]
    return palette


def palette_for(info):
    """The palette (`palette_array`) pictures of `info`'s labels use."""
    return palette_array(class_colors(info), info.ignore_label)
