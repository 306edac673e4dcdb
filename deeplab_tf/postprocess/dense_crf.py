"""`dense_crf`: one image's CRF post-processing, with the backend chosen by name."""

import functools

import numpy as np
import tensorflow as tf

from deeplab_tf.errors import InputError
from deeplab_tf.postprocess.mean_field import dense_crf_tf
from deeplab_tf.postprocess.params import CRFParams
from deeplab_tf.postprocess.pydensecrf_backend import dense_crf_pydensecrf

BACKENDS = ("tf", "pydensecrf")


def dense_crf(
    image, logits, params=CRFParams(), backend="tf", valid_size=None, *, from_probabilities=False
):
    """Refines one image's class scores with DeepLab v2's fully connected CRF.

    Args:
        image: uint8 [H, W, 3] RGB (numpy or tensor).
        logits: float [H, W, C] class scores at the image's size.
        params: a `CRFParams`; defaults are DeepLab v2's released VOC values.
        backend: "tf" (TF ops, `mean_field.dense_crf_tf`) or "pydensecrf" (the
            reference C++).
        valid_size: (height, width) of the unpadded top-left region the CRF runs
            on; None for the whole image. Outside it the result is softmax(logits).
        from_probabilities: `logits` holds softmax probabilities instead.

    Returns:
        float32 numpy [H, W, C] probabilities.

    Raises:
        InputError: unknown backend, or inputs of the wrong shape or type.

    Example:
        probabilities = dense_crf(image, logits, backend="tf")
        labels = probabilities.argmax(-1)
    """
    if backend not in BACKENDS:
        raise InputError(f"unknown CRF backend {backend!r}; allowed: {', '.join(BACKENDS)}")
    if not isinstance(params, CRFParams):
        raise InputError(f"params must be a CRFParams, got {type(params).__name__}")
    image, logits = np.asarray(image), np.asarray(logits)
    _check_inputs(image, logits)
    height, width = logits.shape[:2]
    valid_height, valid_width = _check_valid_size(valid_size, height, width)
    logits = logits.astype(np.float32, copy=False)
    if from_probabilities:
        # log p are logits whose log-softmax is log p again: one path for both.
        logits = np.log(np.maximum(logits, np.finfo(np.float32).tiny))
    if backend == "tf":
        run = _compiled_tf_crf(params)
        return run(image, logits, tf.constant([valid_height, valid_width], tf.int32)).numpy()
    refined = dense_crf_pydensecrf(
        np.ascontiguousarray(image[:valid_height, :valid_width]),
        np.ascontiguousarray(logits[:valid_height, :valid_width]),
        params,
    )
    if (valid_height, valid_width) == (height, width):
        return refined
    result = np.exp(logits - logits.max(axis=2, keepdims=True))
    result /= result.sum(axis=2, keepdims=True)
    result[:valid_height, :valid_width] = refined
    return result


@functools.lru_cache(maxsize=16)
def _compiled_tf_crf(params):
    # One graph per parameter set, traced once for every image size.
    def run(image, logits, valid_size):
        return dense_crf_tf(image, logits, params, valid_size)

    return tf.function(
        run,
        input_signature=[
            tf.TensorSpec([None, None, 3], tf.uint8),
            tf.TensorSpec([None, None, None], tf.float32),
            tf.TensorSpec([2], tf.int32),
        ],
    )


def _check_inputs(image, logits):
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"CRF image must be [height, width, 3] RGB, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise InputError(f"CRF image must be uint8, got {image.dtype}")
    if logits.ndim != 3 or logits.shape[2] < 1:
        raise InputError(f"CRF logits must be [height, width, classes], got shape {logits.shape}")
    if not np.issubdtype(logits.dtype, np.floating):
        raise InputError(f"CRF logits must be floating point, got {logits.dtype}")
    if image.shape[:2] != logits.shape[:2]:
        raise InputError(
            f"CRF image is {image.shape[0]}x{image.shape[1]} but logits are "
            f"{logits.shape[0]}x{logits.shape[1]}; upsample the logits to the image size first"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"CRF image is empty: shape {image.shape}")


def _check_valid_size(valid_size, height, width):
    if valid_size is None:
        return height, width
    try:
        valid_height, valid_width = (int(v) for v in valid_size)
    except (TypeError, ValueError):
        raise InputError(f"valid_size must be (height, width), got {valid_size!r}") from None
    if not (0 < valid_height <= height and 0 < valid_width <= width):
        raise InputError(
            f"valid_size {valid_height}x{valid_width} must be positive and within the "
            f"{height}x{width} image"
        )
    return valid_height, valid_width
