"""The predictor: another output stride, multi-scale and flipped passes, sliding windows."""

import tensorflow as tf

from deeplab_tf.inference.settings import InferenceSettings
from deeplab_tf.layers.resize import scaled_size
from deeplab_tf.models import rebuild


def at_output_stride(model, output_stride):
    """`model`, or the same weights rebuilt at `output_stride` (ASPP rates follow)."""
    if not output_stride or output_stride == model.model_config.output_stride:
        return model
    return rebuild(model, output_stride=output_stride)


def _tile_starts(length, tile, stride):
    # Tiles every `stride` pixels; the last one is moved back to end at the edge, so
    # every tile has the same size and none needs padding.
    count = tf.maximum(-((tile - length) // stride), 0) + 1
    return tf.minimum(tf.range(count) * stride, length - tile)


def sliding_window_logits(model, images, window_size, overlap=1.0 / 3.0):
    """The logits of `images` [B, H, W, 3] from overlapping tiles, averaged where they overlap.

    Tiles are `window_size` (or the image, along a side that is smaller), at a
    stride of (1 − overlap) × the window. An image that fits is one tile, so
    this equals `model(images)` then. Works inside `tf.function` for any H, W.
    """
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    tile_height, tile_width = tf.minimum(window_size[0], height), tf.minimum(window_size[1], width)
    stride_height = max(1, int(round(window_size[0] * (1.0 - overlap))))
    stride_width = max(1, int(round(window_size[1] * (1.0 - overlap))))
    rows = _tile_starts(height, tile_height, stride_height)
    columns = _tile_starts(width, tile_width, stride_width)
    num_columns = tf.size(columns)

    def tile_logits(index):
        top, left = rows[index // num_columns], columns[index % num_columns]
        tile = images[:, top : top + tile_height, left : left + tile_width, :]
        logits = tf.cast(model(tile, training=False), tf.float32)
        placed = [[0, 0], [top, height - top - tile_height], [left, width - left - tile_width], [0, 0]]
        return tf.pad(logits, placed), tf.pad(tf.ones_like(logits[:1, ..., :1]), placed)

    # The first tile outside the loop gives the class count, so any callable serves.
    total, count = tile_logits(0)

    def body(index, total, count):
        logits, ones = tile_logits(index)
        return index + 1, total + logits, count + ones

    _, total, count = tf.while_loop(
        lambda index, *_: index < tf.size(rows) * num_columns, body, (tf.constant(1), total, count)
    )
    return total / count


def _logits(model, images, settings):
    if settings.window_size is None:
        return tf.cast(model(images, training=False), tf.float32)
    return sliding_window_logits(model, images, settings.window_size, settings.window_overlap)


def predict_probabilities(model, images, settings=InferenceSettings()):
    """Class probabilities of `images`, averaged over scales × flips, at the input size.

    As the official DeepLab `predict_labels_multi_scale`: at each scale the
    logits are resized to the image, turned into probabilities by a softmax,
    and the probabilities of all passes are averaged. The flipped copy rides in
    the same batch as the image. Pure TF ops: wrap in `tf.function` (see
    `Predictor`) to run every image size without retracing.

    Args:
        model: a callable `model(images, training=False)` → logits [B, h, w, C]
            at its input size (a DeepLab or any Keras model).
        images: float [B, H, W, 3] RGB in [0, 255].
        settings: an `InferenceSettings`.

    Returns:
        float32 [B, H, W, C] probabilities.
    """
    images = tf.cast(images, tf.float32)
    batch = tf.shape(images)[0]
    size = tf.shape(images)[1:3]
    total = 0.0
    for scale in settings.scales:
        scaled = images if scale == 1.0 else tf.image.resize(images, scaled_size(size, scale))
        if settings.flip:
            scaled = tf.concat([scaled, tf.reverse(scaled, axis=[2])], axis=0)
        logits = _logits(model, scaled, settings)
        if scale != 1.0:
            logits = tf.image.resize(logits, size)
        probabilities = tf.nn.softmax(logits, axis=-1)
        if settings.flip:
            probabilities = probabilities[:batch] + tf.reverse(probabilities[batch:], axis=[2])
        total += probabilities
    return total / settings.num_passes


class Predictor:
    """`predict_probabilities` compiled once for every image size.

    Args:
        model: a DeepLab model (or any `model(images, training=False)` → logits).
        settings: an `InferenceSettings`.

    Example:
    ```python
    predictor = Predictor(model, InferenceSettings(scales=PAPER_EVAL_SCALES, flip=True))
    probabilities = predictor(image)  # [H, W, 3] or [B, H, W, 3] → [..., C]
    ```
    """

    def __init__(self, model, settings=InferenceSettings()):
        self.model = model
        self.settings = settings
        # A dynamic-size signature: one trace serves every image size.
        self._run = tf.function(
            lambda images: predict_probabilities(model, images, settings),
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
        )

    def __call__(self, images):
        images = tf.convert_to_tensor(images)
        single = images.shape.rank == 3
        probabilities = self._run(tf.cast(images[None] if single else images, tf.float32))
        return probabilities[0] if single else probabilities

    def labels(self, images):
        """The argmax class of each pixel: int32 [..., H, W]."""
        return tf.argmax(self(images), axis=-1, output_type=tf.int32)
