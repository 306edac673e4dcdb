"""`dense_crf`: the CRF post-processing of one image or a batch, with the backend chosen by name."""

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
    """Refines the class scores of one image, or a batch of one size, with DeepLab v2's dense CRF.

    Args:
        image: uint8 [H, W, 3] RGB, or a batch [B, H, W, 3] (numpy or tensor).
        logits: float [H, W, C] (or [B, H, W, C]) class scores at the image's size.
        params: a `CRFParams`; defaults are DeepLab v2's released VOC values.
        backend: "tf" (TF ops, `mean_field.dense_crf_tf`; a batch runs as one
            lattice) or "pydensecrf" (the reference C++, image by image).
        valid_size: (height, width) of the unpadded top-left region the CRF runs
            on, [B, 2] for a batch; None for the whole image. Outside it the
            result is softmax(logits).
        from_probabilities: `logits` holds softmax probabilities instead.

    Returns:
        float32 numpy probabilities with the shape of `logits`.

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
    single = image.ndim == 3
    if single:
        image, logits = image[None], logits[None]
        valid_size = None if valid_size is None else [valid_size]
    _check_inputs(image, logits)
    batch, height, width = logits.shape[:3]
    valid_sizes = _check_valid_sizes(valid_size, batch, height, width)
    logits = logits.astype(np.float32, copy=False)
    if from_probabilities:
        # log p are logits whose log-softmax is log p again: one path for both.
        logits = np.log(np.maximum(logits, np.finfo(np.float32).tiny))
    if backend == "tf":
        refined = _compiled_tf_crf(params)(image, logits, valid_sizes).numpy()
    else:
        refined = np.stack(
            [_pydensecrf_on_valid(image[b], logits[b], valid_sizes[b], params) for b in range(batch)]
        )
    return refined[0] if single else refined


def _pydensecrf_on_valid(image, logits, valid_size, params):
    valid_height, valid_width = valid_size
    refined = dense_crf_pydensecrf(
        np.ascontiguousarray(image[:valid_height, :valid_width]),
        np.ascontiguousarray(logits[:valid_height, :valid_width]),
        params,
    )
    if (valid_height, valid_width) == logits.shape[:2]:
        return refined
    result = np.exp(logits - logits.max(axis=2, keepdims=True))
    result /= result.sum(axis=2, keepdims=True)
    result[:valid_height, :valid_width] = refined
    return result


@functools.lru_cache(maxsize=None)
def _compiled_tf_crf(params):
    # One graph per parameter set, traced once for every image size and batch size. Unbounded: a
    # parameter search cycles through its whole grid for every image, which an LRU of fewer
    # entries than the grid would retrace each time.
    def run(images, logits, valid_sizes):
        return dense_crf_tf(images, logits, params, valid_sizes)

    return tf.function(
        run,
        input_signature=[
            tf.TensorSpec([None, None, None, 3], tf.uint8),
            tf.TensorSpec([None, None, None, None], tf.float32),
            tf.TensorSpec([None, 2], tf.int32),
        ],
    )


def _check_inputs(image, logits):
    """Checks a batch: image [B, H, W, 3] uint8 and logits [B, H, W, C] floating point."""
    if image.ndim != 4 or image.shape[3] != 3:
        raise InputError(
            f"CRF image must be [height, width, 3] RGB (or a batch of them), got shape {image.shape}"
        )
    if image.dtype != np.uint8:
        raise InputError(f"CRF image must be uint8, got {image.dtype}")
    if logits.ndim != 4 or logits.shape[3] < 1:
        raise InputError(
            f"CRF logits must be [height, width, classes] (or a batch of them), got shape {logits.shape}"
        )
    if not np.issubdtype(logits.dtype, np.floating):
        raise InputError(f"CRF logits must be floating point, got {logits.dtype}")
    if image.shape[0] != logits.shape[0]:
        raise InputError(f"CRF batch holds {image.shape[0]} images but {logits.shape[0]} logits")
    if image.shape[1:3] != logits.shape[1:3]:
        raise InputError(
            f"CRF image is {image.shape[1]}x{image.shape[2]} but logits are "
            f"{logits.shape[1]}x{logits.shape[2]}; upsample the logits to the image size first"
        )
    if 0 in image.shape[:3]:
        raise InputError(f"CRF image is empty: shape {image.shape}")


def _check_valid_sizes(valid_size, batch, height, width):
    """valid_size as int32 [B, 2] within the image, the whole image where None."""
    if valid_size is None:
        return np.tile(np.array([[height, width]], np.int32), (batch, 1))
    try:
        sizes = np.asarray(valid_size, dtype=np.int64).reshape(batch, 2)
    except (TypeError, ValueError):
        raise InputError(
            f"valid_size must be (height, width), or [{batch}, 2] for a batch, got {valid_size!r}"
        ) from None
    for valid_height, valid_width in sizes:
        if not (0 < valid_height <= height and 0 < valid_width <= width):
            raise InputError(
                f"valid_size {valid_height}x{valid_width} must be positive and within the "
                f"{height}x{width} image"
            )
    return sizes.astype(np.int32)
