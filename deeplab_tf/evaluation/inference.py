"""Test-time inference: another output stride, multi-scale and flipped passes, sliding windows."""

import dataclasses
import math

import tensorflow as tf

from deeplab_tf.errors import ConfigError, InputError

# The v3 paper's multi-scale test (§4.3, Table 5: 77.21 → 79.77 with OS8 and flip).
PAPER_EVAL_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
# log() floor for a SavedModel's probabilities: the smallest normal float32.
_TINY = 1.1754944e-38


@dataclasses.dataclass(frozen=True)
class InferenceSettings:
    """How an image's class probabilities are computed at test time.

    Args:
        scales: the image is resized by each factor, run, and its softmax
            probabilities (from the logits resized back to the image) averaged.
        flip: also run each scale left-right flipped (flipped back, averaged
            with the rest), in the same batch as the unflipped image.
        window_size: (height, width) of sliding-window tiles for images larger
            than the training crop (Cityscapes 1024×2048 with 769 crops); tiles
            overlap and their logits are averaged. None runs whole images.
        window_overlap: fraction of a tile shared with its neighbour, in [0, 1).
    """

    scales: tuple = (1.0,)
    flip: bool = False
    window_size: tuple = None
    window_overlap: float = 1.0 / 3.0

    def __post_init__(self):
        scales = tuple(float(s) for s in self.scales)
        if not scales or any(not (math.isfinite(s) and s > 0) for s in scales):
            raise ConfigError("eval_scales", f"must be positive numbers, got {list(self.scales)}")
        object.__setattr__(self, "scales", scales)
        if self.window_size is not None:
            size = tuple(self.window_size)
            size = size * 2 if len(size) == 1 else size
            if len(size) != 2 or any(not isinstance(v, int) or v < 1 for v in size):
                raise ConfigError("window_size", f"must be 1 or 2 positive integers, got {self.window_size}")
            object.__setattr__(self, "window_size", size)
        if not 0.0 <= self.window_overlap < 1.0:
            raise ConfigError("window_overlap", f"must be in [0, 1), got {self.window_overlap}")

    @property
    def num_passes(self):
        return len(self.scales) * (2 if self.flip else 1)

    def to_dict(self):
        return {
            "eval_scales": list(self.scales),
            "flip": self.flip,
            "window_size": list(self.window_size) if self.window_size else None,
            "window_overlap": self.window_overlap if self.window_size else None,
        }


def at_output_stride(model, output_stride):
    """`model`, or the same weights rebuilt at `output_stride` (ASPP rates follow)."""
    if not output_stride or output_stride == model.model_config.output_stride:
        return model
    from deeplab_tf.models import rebuild

    return rebuild(model, output_stride=output_stride)


def scaled_size(size, scale):
    """ceil(size × scale), the convention of the models' `ScaleImage` (v2 MSC)."""
    return tf.cast(tf.math.ceil(tf.cast(size, tf.float32) * scale), tf.int32)


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


class SavedModelLogits:
    """An exported SavedModel used as a logits model by `predict_probabilities`.

    The `serving_default` signature (README, Deployment) maps uint8 image(s) to
    `probabilities`; log-probabilities serve as logits, since softmax(log p) = p,
    so scales, flips and windows work on it as on a Keras model (each resized
    input is rounded to uint8 first, as the signature takes).

    Args:
        path: the SavedModel directory.
    """

    def __init__(self, path):
        self._loaded = tf.saved_model.load(path)  # keeps the signature's variables alive
        if "serving_default" not in self._loaded.signatures:
            raise InputError(f"model: {path} has no serving_default signature")
        self._signature = self._loaded.signatures["serving_default"]
        inputs = self._signature.structured_input_signature[1]
        if len(inputs) != 1 or "probabilities" not in self._signature.structured_outputs:
            raise InputError(f"model: {path}'s serving_default does not map one image input to probabilities")
        (self._input_name, spec), = inputs.items()
        self._dtype = spec.dtype
        self._batched = spec.shape.rank != 3

    def __call__(self, images, training=False):
        del training
        if self._dtype.is_integer:
            images = tf.cast(tf.clip_by_value(tf.round(images), 0, 255), self._dtype)
        else:
            images = tf.cast(images, self._dtype)
        if self._batched:
            probabilities = self._run(images)
        else:
            probabilities = tf.map_fn(self._run, images, fn_output_signature=tf.float32)
        return tf.math.log(tf.maximum(tf.cast(probabilities, tf.float32), _TINY))

    def _run(self, images):
        return tf.cast(self._signature(**{self._input_name: images})["probabilities"], tf.float32)
