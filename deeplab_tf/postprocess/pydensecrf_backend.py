"""The "pydensecrf" backend: Krähenbühl's C++ dense CRF through pydensecrf, as reference."""

import numpy as np

from deeplab_tf.errors import InputError
from deeplab_tf.postprocess.params import CRFParams



def dense_crf_pydensecrf(image, logits, params=CRFParams()):
    """Mean-field inference with pydensecrf on a whole (unpadded) image.

    Same model as the TF backend: unary −log softmax(logits), Gaussian and
    bilateral kernels with Potts weights, normalised after filtering.

    Args:
        image: uint8 [H, W, 3] RGB.
        logits: float [H, W, C].
        params: a `CRFParams`.

    Returns:
        float32 [H, W, C] probabilities.
    """
    try:
        import pydensecrf.densecrf as dcrf
    except ImportError as error:
        raise InputError(
            "crf backend 'pydensecrf' needs the pydensecrf package: pip install pydensecrf2==1.1"
        ) from error
    height, width, num_classes = logits.shape
    logits = np.asarray(logits, np.float32)
    log_probabilities = logits - logits.max(axis=2, keepdims=True)
    log_probabilities -= np.log(np.exp(log_probabilities).sum(axis=2, keepdims=True))
    # pydensecrf wants the unary as [C, H·W], C-contiguous.
    unary = np.ascontiguousarray(-log_probabilities.reshape(-1, num_classes).T, np.float32)
    crf = dcrf.DenseCRF2D(width, height, num_classes)
    crf.setUnaryEnergy(unary)
    crf.addPairwiseGaussian(
        sxy=params.gaussian_xy_std,
        compat=params.gaussian_weight,
        kernel=dcrf.DIAG_KERNEL,
        normalization=dcrf.NORMALIZE_AFTER,
    )
    crf.addPairwiseBilateral(
        sxy=params.bilateral_xy_std,
        srgb=params.bilateral_rgb_std,
        # pydensecrf needs a writable buffer; np.asarray of a PIL image is read-only.
        rgbim=np.require(image, np.uint8, ["C", "W"]),
        compat=params.bilateral_weight,
        kernel=dcrf.DIAG_KERNEL,
        normalization=dcrf.NORMALIZE_AFTER,
    )
    q = np.asarray(crf.inference(params.iterations), np.float32)
    return q.T.reshape(height, width, num_classes)
