"""Class colours of each dataset: VOC's, Cityscapes' and ADE20K's official palettes, a folder's own.

A picture of labels (predictions, overlays, reports, TensorBoard) colours class
k with `palette_for(info)[k]`; the ignore label (255, or 65535 above 255
classes) is VOC's cream.
"""

import colorsys

import numpy as np

from deeplab_tf.data.image_io import voc_colormap
from deeplab_tf.data.label_space import IGNORE_LABEL

# The 19 Cityscapes train ids, in `CITYSCAPES_CLASS_NAMES` order (Cordts et al., CVPR 2016).
CITYSCAPES_COLORS = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70),
    (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
)

# SceneParse150's colours of classes 1..150 (Zhou et al., CVPR 2017), in
# `ADE20K_CLASS_NAMES` order, as RRGGBB hex.
_ADE20K_HEX = (
    "787878b4787806e6e650323204c8037878508c8c8ccc05ffe6e6e604fa07e005ffebff0796053d78784608ff33ff0652"
    "8fff8cccff04ff3307cc46030066c83de6faff06330b66ffff0747ff09e00907e6dcdcdcff095c7009ff08ffd607ffe0"
    "ffb8060aff47ff290a07ffffe0ff086608ffff3d06ffc207ff7a0800ff14ff0829ff05990633ffeb0cffa0961400a3ff"
    "8c8c8cfa0a0f14ff001fff00ff1f00ffe00099ff000000ffff470000ebff00adff1f00ff0bc8c8ff520000fff5003dff"
    "00ff7000ff85ff0000ffa300ff6600c2ff00008fff33ff000052ff00ff2900ffad0a00ffadff0000ff99ff5c00ff00ff"
    "ff00f5ff0066ffad00ff0014ffb8b8001fff00ff3d0047ffff00cc00ffc200ff52000aff0070ff3300ff00c2ff007aff"
    "00ffa3ff990000ff0aff70008fff005200ffa3ff00ffeb0008b8aa8500ff00ff5cb800ffff001f00b8ff00d6ffff0070"
    "5cff0000e0ff70e0ff46b8a0a300ff9900ff47ff00ff00a3ffcc00ff008f00ffeb85ff00ff00ebf500ffff007afff500"
    "0abed4d6ff0000ccff1400ffffff000099ff0029ff00ffcc2900ff29ff00ad00ff00f5ff4700ff7a00ff00ffb8005cff"
    "b8ff000085ffffd60019c2c266ff005c00ff"
)
ADE20K_COLORS = tuple(
    tuple(int(_hex[i + j:i + j + 2], 16) for j in (0, 2, 4))
    for _hex in ("".join(_ADE20K_HEX),) for i in range(0, len(_hex), 6)
)

_BY_NAME = {"cityscapes": CITYSCAPES_COLORS, "ade20k": ADE20K_COLORS}


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


def class_colors(info):
    """(r, g, b) of each class of a `DatasetInfo`: its own palette, its dataset's, or VOC's.

    A folder dataset without "colors" gets `distinct_colors`; VOC, the
    generated set and TFRecords without a palette get VOC's.
    """
    if info.palette:
        return tuple(info.palette)
    if info.name in _BY_NAME and len(_BY_NAME[info.name]) == info.num_classes:
        return _BY_NAME[info.name]
    if info.name == "folder":
        return distinct_colors(info.num_classes)
    return tuple(tuple(int(c) for c in colour) for colour in voc_colormap()[: info.num_classes])


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
