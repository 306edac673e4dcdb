"""Decoding and encoding of images and label maps, in TensorFlow and in NumPy/PIL."""

import io

import numpy as np
import tensorflow as tf
from PIL import Image


class LabelError(ValueError):
    """What is wrong with one label file (the caller names the file)."""


def voc_colormap():
    """The PASCAL VOC palette: uint8 [256, 3], the colour of each label index.

    Index bits are spread over the top bits of R, G and B (bit 0 → R bit 7,
    bit 1 → G bit 7, bit 2 → B bit 7, bit 3 → R bit 6, ...), so the map is
    one-to-one and `voc_colour_to_index` inverts it exactly.
    """
    colormap = np.zeros((256, 3), np.uint8)
    for index in range(256):
        r = g = b = 0
        code = index
        for shift in range(7, -1, -1):
            r |= (code & 1) << shift
            g |= ((code >> 1) & 1) << shift
            b |= ((code >> 2) & 1) << shift
            code >>= 3
        colormap[index] = (r, g, b)
    return colormap


def _colour_key(r, g, b):
    """The 8 bits of a VOC colour that carry its index: R, G bits 7-5 and B bits 7-6."""
    return (r & 0xE0) | ((g & 0xE0) >> 3) | (b >> 6)


def _index_of_key():
    colormap = voc_colormap().astype(np.int32)
    table = np.zeros(256, np.uint8)
    table[_colour_key(colormap[:, 0], colormap[:, 1], colormap[:, 2])] = np.arange(256)
    return table


_INDEX_OF_KEY = _index_of_key()


def voc_colour_to_index(rgb):
    """Inverts `voc_colormap` in TensorFlow: uint8 [..., 3] colours → uint8 [...] indices.

    Colours outside the palette give arbitrary indices; `validate_split` finds them.
    """
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    # Palette colours have their low bits clear, so no masking is needed.
    key = tf.bitwise.bitwise_or(
        tf.bitwise.bitwise_or(r, tf.bitwise.right_shift(g, 3)), tf.bitwise.right_shift(b, 6)
    )
    return tf.gather(tf.constant(_INDEX_OF_KEY), tf.cast(key, tf.int32))


def is_voc_colour(rgb):
    """True where a colour is in the VOC palette (its unused low bits are zero)."""
    r, g, b = (tf.cast(rgb[..., i], tf.int32) for i in range(3))
    return tf.equal(tf.bitwise.bitwise_and(r, 31) | tf.bitwise.bitwise_and(g, 31)
                    | tf.bitwise.bitwise_and(b, 63), 0)


def decode_image(encoded):
    """JPEG/PNG bytes → uint8 [H, W, 3]; grayscale is replicated, alpha dropped."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def decode_label(encoded, dtype=tf.uint8):
    """Label PNG bytes → [H, W] class indices of `dtype` (uint8, or uint16 above 255 classes).

    Accepts index PNGs (8-bit grayscale, as in `SegmentationClassAug/` and the
    official TFRecords) and VOC palette PNGs, which TensorFlow expands to
    colours that are mapped back through the VOC palette. With `dtype`
    uint16, 16-bit gray PNGs too (told apart by the bit depth in the header).
    """
    if tf.as_dtype(dtype) == tf.uint8:
        return _decode_8_bit_label(encoded)
    # IHDR's bit depth is byte 24 of a PNG; decode_png(dtype=uint16) would scale 8-bit values by 257.
    sixteen_bit = tf.equal(tf.strings.substr(encoded, 24, 1), b"\x10")
    label = tf.cond(
        sixteen_bit,
        lambda: tf.io.decode_png(encoded, channels=1, dtype=tf.uint16)[..., 0],
        lambda: tf.cast(_decode_8_bit_label(encoded), tf.uint16),
    )
    label.set_shape([None, None])
    return label


def _decode_8_bit_label(encoded):
    decoded = tf.io.decode_png(encoded, channels=0)
    channels = tf.shape(decoded)[2]
    label = tf.cond(
        channels >= 3,
        lambda: voc_colour_to_index(decoded[..., :3]),
        lambda: decoded[..., 0],
    )
    label.set_shape([None, None])
    return label


def shift_zero_ignore(label):
    """Stored labels with 0 ignored and class k as k + 1 → class k as k, ignored as the type's maximum.

    Unsigned arithmetic wraps, so 0 - 1 is 255 in uint8 and 65535 in uint16
    (TensorFlow and NumPy alike): the ignore label of `label_space`.
    """
    return label - 1


def decode_example(image_bytes, label_bytes, filename, num_classes, ignore_label, zero_is_ignore=False,
                   label_dtype=tf.uint8):
    """Decodes one (image, label) pair, failing loudly on a pair that cannot be used.

    The checks cost one comparison per pixel; a failure names the file and is
    raised when the element is read (run `validate_split` first to catch all).
    With `zero_is_ignore` the stored labels are shifted (`shift_zero_ignore`).
    `label_dtype`: `DatasetInfo.label_dtype`.
    """
    image = decode_image(image_bytes)
    label = decode_label(label_bytes, label_dtype)
    if zero_is_ignore:
        label = shift_zero_ignore(label)
    return checked_example(image, label, filename, num_classes, ignore_label)


def checked_example(image, label, filename, num_classes, ignore_label, where=None):
    """{"image", "label", "filename"}, asserting that the sizes agree and the labels are in range.

    A failure names `where` (default: `filename`) when the element is read.
    """
    where = filename if where is None else where
    same_size = tf.reduce_all(tf.equal(tf.shape(image)[:2], tf.shape(label)))
    size_check = tf.debugging.Assert(
        same_size,
        ["image and label sizes differ for", where, tf.shape(image)[:2], tf.shape(label)],
    )
    with tf.control_dependencies([size_check]):
        in_range = tf.reduce_all(
            tf.logical_or(label < num_classes, tf.equal(label, ignore_label))
        )
        range_check = tf.debugging.Assert(
            in_range,
            [f"label values >= num_classes ({num_classes}) other than {ignore_label} in",
             where],
        )
    with tf.control_dependencies([range_check]):
        label = tf.identity(label)
    return {"image": image, "label": label, "filename": filename}


def image_format(data):
    """'jpeg' or 'png' from the first bytes of an encoded image, else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return None


def encode_index_png(label):
    """[H, W] indices → a grayscale PNG: 8-bit (the official TFRecord label format), 16-bit for uint16 labels.

    Labels of more than 255 classes are uint16 (`label_space`); other integer
    types must hold 0..255.
    """
    label = np.asarray(label)
    buffer = io.BytesIO()
    if label.dtype == np.uint16:
        Image.fromarray(label).save(buffer, format="PNG")  # mode I;16
    else:
        Image.fromarray(np.asarray(label, np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def encode_palette_png(label):
    """uint8 [H, W] indices → a palette PNG with the VOC palette (as VOC ships)."""
    image = Image.fromarray(np.asarray(label, np.uint8), mode="P")
    image.putpalette(voc_colormap().ravel().tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def encode_jpeg(image, quality=92):
    """uint8 [H, W, 3] → JPEG bytes without chroma subsampling (keeps colour edges sharp)."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8), mode="RGB").save(
        buffer, format="JPEG", quality=quality, subsampling=0
    )
    return buffer.getvalue()
