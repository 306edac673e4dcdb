"""The papers' augmentation: random scale, pad with the mean pixel, random crop, flip.

Every random op is stateless (`tf.random.stateless_*`): the result is a function
of the input and a shape-[2] integer seed, the same eagerly and inside tf.data.
One geometry is applied to image and label: image bilinear, label nearest.
The order follows DeepLab's `preprocess_image_and_label`: scale, pad to the crop
size (image with the mean pixel, label with the ignore label, at the bottom and
right), crop, flip.
"""

import tensorflow as tf

from deeplab_tf.data.info import MEAN_RGB
from deeplab_tf.label_space import IGNORE_LABEL
from deeplab_tf.errors import ConfigError


def crop_size_pair(crop_size):
    """An int or (height, width) → (height, width) of positive ints."""
    if isinstance(crop_size, int):
        size = (crop_size, crop_size)
    else:
        size = tuple(int(s) for s in crop_size)
    if len(size) != 2 or min(size) <= 0:
        raise ConfigError(
            "crop_size", f"expected a positive int or (height, width), got {crop_size!r}"
        )
    return size


def check_scale_range(min_scale, max_scale, scale_step):
    if not 0 < min_scale <= max_scale:
        raise ConfigError(
            "min_scale", f"need 0 < min_scale <= max_scale, got {min_scale} and {max_scale}"
        )
    if scale_step < 0:
        raise ConfigError("scale_step", f"must be >= 0, got {scale_step}")


def _seed(seed):
    """A shape-[2] int64 seed tensor from an int, a pair or a tensor."""
    if isinstance(seed, int):
        return tf.constant([seed, 0], tf.int64)
    seed = tf.convert_to_tensor(seed)
    if seed.dtype not in (tf.int32, tf.int64):
        seed = tf.cast(seed, tf.int64)
    return seed


def random_scale_factor(min_scale, max_scale, scale_step, seed):
    """A scale in [min_scale, max_scale]: one of the steps, or uniform if scale_step is 0.

    With a step, the choices are `linspace(min, max, int((max - min) / step + 1))`,
    as DeepLab's `get_random_scale`: 0.5, 0.75, ..., 2.0 by default.
    """
    check_scale_range(min_scale, max_scale, scale_step)
    seed = _seed(seed)
    if min_scale == max_scale:
        return tf.constant(min_scale, tf.float32)
    if scale_step == 0:
        return tf.random.stateless_uniform([], seed, min_scale, max_scale, tf.float32)
    num_steps = int((max_scale - min_scale) / scale_step + 1)
    scales = tf.linspace(float(min_scale), float(max_scale), num_steps)
    index = tf.random.stateless_uniform([], seed, 0, num_steps, tf.int32)
    return tf.cast(scales[index], tf.float32)


def scale_image_and_label(image, label, scale):
    """Resizes by `scale` (size truncated to ints): image bilinear (float32), label nearest."""
    size = tf.cast(tf.cast(tf.shape(image)[:2], tf.float32) * scale, tf.int32)
    size = tf.maximum(size, 1)
    image = tf.image.resize(tf.cast(image, tf.float32), size, method="bilinear")
    label = tf.image.resize(label[..., None], size, method="nearest")[..., 0]
    return image, label


def random_scale(image, label, min_scale=0.5, max_scale=2.0, scale_step=0.25, *, seed):
    """Scales image and label by one random factor (`random_scale_factor`)."""
    scale = random_scale_factor(min_scale, max_scale, scale_step, seed)
    return scale_image_and_label(image, label, scale)


def pad_to_bounding_box(image, label, height, width, *, mean_pixel=MEAN_RGB,
                        ignore_label=IGNORE_LABEL):
    """Pads at the bottom and right to at least height × width; never crops or resizes.

    The image is padded with `mean_pixel` (it is zero once the model subtracts
    the mean) and returned as float32; the label with `ignore_label`.
    """
    shape = tf.shape(image)
    pad_height = tf.maximum(height - shape[0], 0)
    pad_width = tf.maximum(width - shape[1], 0)
    paddings = [[0, pad_height], [0, pad_width]]
    mean = tf.constant(mean_pixel, tf.float32)
    image = tf.pad(tf.cast(image, tf.float32) - mean, paddings + [[0, 0]]) + mean
    label = tf.pad(label, paddings, constant_values=tf.cast(ignore_label, label.dtype))
    return image, label


def random_crop(image, label, height, width, *, seed):
    """One random height × width window of both (they must be at least that large)."""
    seed = _seed(seed)
    shape = tf.shape(image)
    limit = tf.stack([shape[0] - height + 1, shape[1] - width + 1])
    offset = tf.random.stateless_uniform([2], seed, 0, tf.int32.max, tf.int32) % limit
    image = tf.slice(image, [offset[0], offset[1], 0], [height, width, -1])
    label = tf.slice(label, [offset[0], offset[1]], [height, width])
    return image, label


def random_flip(image, label, *, seed, probability=0.5):
    """Flips both left-right with `probability`."""
    seed = _seed(seed)
    image, label = tf.convert_to_tensor(image), tf.convert_to_tensor(label)
    flip = tf.random.stateless_uniform([], seed) < probability
    image = tf.cond(flip, lambda: tf.reverse(image, [1]), lambda: image)
    label = tf.cond(flip, lambda: tf.reverse(label, [1]), lambda: label)
    return image, label


def preprocess_for_train(image, label, crop_size, *, min_scale=0.5, max_scale=2.0,
                         scale_step=0.25, flip=True, mean_pixel=MEAN_RGB,
                         ignore_label=IGNORE_LABEL, seed):
    """The training augmentation of one example.

    Args:
        image: uint8 or float [H, W, 3] RGB.
        label: integer [H, W].
        crop_size: int or (height, width).
        seed: int, pair, or shape-[2] integer tensor; the result depends on
            nothing else.

    Returns:
        (float32 [crop_h, crop_w, 3] RGB in 0..255, int32 [crop_h, crop_w]).
    """
    crop_height, crop_width = crop_size_pair(crop_size)
    scale_seed, crop_seed, flip_seed = tf.unstack(
        tf.random.experimental.stateless_split(_seed(seed), 3)
    )
    label = tf.convert_to_tensor(label)
    image, label = random_scale(image, label, min_scale, max_scale, scale_step, seed=scale_seed)
    image, label = pad_to_bounding_box(
        image, label, crop_height, crop_width, mean_pixel=mean_pixel, ignore_label=ignore_label
    )
    image, label = random_crop(image, label, crop_height, crop_width, seed=crop_seed)
    if flip:
        image, label = random_flip(image, label, seed=flip_seed)
    image = tf.ensure_shape(image, [crop_height, crop_width, 3])
    label = tf.ensure_shape(tf.cast(label, tf.int32), [crop_height, crop_width])
    return image, label


def preprocess_for_eval(image, label, pad_to=None, *, mean_pixel=MEAN_RGB,
                        ignore_label=IGNORE_LABEL, filename=""):
    """Evaluation: the original size, or padded (never resized) to `pad_to`.

    Raises (when run) InvalidArgumentError naming `filename` if the image is
    larger than `pad_to`: shrinking it would change what is measured.

    Returns:
        (float32 [H, W, 3], int32 [H, W]).
    """
    image = tf.cast(image, tf.float32)
    label = tf.convert_to_tensor(label)
    if pad_to is not None:
        height, width = crop_size_pair(pad_to)
        shape = tf.shape(image)
        fits = tf.debugging.Assert(
            tf.logical_and(shape[0] <= height, shape[1] <= width),
            [f"image larger than the evaluation pad size {height}x{width}:", filename, shape[:2]],
        )
        with tf.control_dependencies([fits]):
            image, label = pad_to_bounding_box(
                image, label, height, width, mean_pixel=mean_pixel, ignore_label=ignore_label
            )
        image = tf.ensure_shape(image, [height, width, 3])
        label = tf.ensure_shape(label, [height, width])
    return image, tf.cast(label, tf.int32)
