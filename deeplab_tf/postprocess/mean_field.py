"""Mean-field inference of the fully connected CRF in TF ops (the "tf" backend).

P. Krähenbühl, V. Koltun, "Efficient Inference in Fully Connected CRFs with
Gaussian Edge Potentials", NIPS 2011, https://arxiv.org/abs/1210.5644 — with the
kernels of DeepLab v2 (Chen et al., TPAMI 2017, https://arxiv.org/abs/1606.00915).

Plain TF ops only, so `dense_crf_tf` runs eagerly, in a `tf.function`, on a GPU and
inside a SavedModel, for any image size.
"""

import numpy as np
import tensorflow as tf

from deeplab_tf.postprocess import lattice_filter
from deeplab_tf.postprocess.lattice import build_lattice
from deeplab_tf.postprocess.params import CRFParams

# The reference code normalises with 1/(k·1 + 1e-20); kept for identical results
# where a kernel's total weight underflows.
_NORM_EPSILON = 1e-20
# log() floor for probabilities given instead of logits: the smallest normal float32.
_PROBABILITY_FLOOR = np.finfo(np.float32).tiny


def dense_crf_tf(image, logits, params=CRFParams(), valid_size=None, from_probabilities=False):
    """Refines class scores with the dense CRF; one image or a batch, graph-friendly.

    Unary potentials are −log softmax(logits) (or −log p with `from_probabilities`).
    Each kernel's message is normalised after filtering, k·Q / k·1 (pydensecrf's
    NORMALIZE_AFTER), and, as in the reference code, includes the pixel's own
    contribution. The CRF runs on the top-left `valid_size` region only (the rest is
    padding); outside it the result is the softmax of the scores, unchanged.

    A batch runs as one lattice per kernel holding every image (the image index
    is part of each vertex's key, so images never interact): one set of ops for
    the whole batch, the same result as image by image.

    Args:
        image: uint8 [H, W, 3] or [B, H, W, 3], RGB.
        logits: float [H, W, C] or [B, H, W, C], at the image's size.
        params: a `CRFParams` (a Python value: it shapes the graph).
        valid_size: None (whole image), int [2] (height, width) or, for a batch,
            int [B, 2].
        from_probabilities: `logits` holds probabilities (softmax outputs) instead.

    Returns:
        float32 probabilities with the shape of `logits`.
    """
    image = tf.convert_to_tensor(image)
    logits = tf.convert_to_tensor(logits)
    if logits.dtype != tf.float32:
        logits = tf.cast(logits, tf.float32)
    if from_probabilities:
        logits = tf.math.log(tf.maximum(logits, _PROBABILITY_FLOOR))
    single = image.shape.rank == 3
    if single:
        image, logits = image[None], logits[None]
        if valid_size is not None:
            valid_size = tf.reshape(valid_size, [1, 2])
    if valid_size is None:
        valid_size = tf.tile(tf.shape(image)[None, 1:3], [tf.shape(image)[0], 1])
    refined = _dense_crf_batch(image, logits, params, tf.cast(valid_size, tf.int32))
    return refined[0] if single else refined


def _dense_crf_batch(images, logits, params, valid_sizes):
    """The CRF on each images[b, :h_b, :w_b], the softmax elsewhere: [B, H, W, C]."""
    tf.debugging.assert_equal(
        tf.shape(images)[:3], tf.shape(logits)[:3], message="image and logits sizes differ"
    )
    # Indices in int64 throughout: GPU kernels keep int32 tensors in host memory.
    shape = tf.shape(logits, out_type=tf.int64)
    valid_sizes = tf.cast(valid_sizes, tf.int64)
    inside = tf.logical_and(
        tf.range(shape[1])[None, :, None] < valid_sizes[:, 0, None, None],
        tf.range(shape[2])[None, None, :] < valid_sizes[:, 1, None, None],
    )
    # (image, y, x) of every pixel the CRF runs on, image by image in raster order.
    pixels = tf.where(inside)
    # Colours gathered as float32 (GPUs have no uint8 GatherNd).
    colours = tf.gather_nd(tf.cast(images, tf.float32), pixels)
    refined = mean_field_inference(colours, tf.gather_nd(logits, pixels), pixels, params)
    return tf.tensor_scatter_nd_update(tf.nn.softmax(logits), pixels, refined)


def mean_field_inference(colours, logits, pixels, params):
    """Mean-field inference over pixels: colours [N, 3] (0..255), float32 logits [N, C] → [N, C].

    `pixels` int64 [N, 3] holds each pixel's (image, y, x).
    """
    neg_unary = tf.nn.log_softmax(logits)
    q = tf.nn.softmax(neg_unary)
    if params.iterations:
        filter_ = _PairwiseFilter(colours, pixels, params)
        # Potts: −Σ_j μ(l, l')k(i,j)Q_j(l') = w·(kQ)_i(l) up to a per-pixel constant.
        # A while loop, not an unrolled one: one copy of the body in the graph.
        _, q = tf.while_loop(
            lambda step, q: step < params.iterations,
            lambda step, q: (step + 1, tf.nn.softmax(tf.add_n([neg_unary, *filter_(q)]))),
            (tf.constant(0), q),
        )
    return q


class _PairwiseFilter:
    """The messages w_k·(k·Q)/(k·1) of the bilateral and Gaussian kernels, built once per batch.

    Each kernel is a lattice turned into a `lattice_filter.LatticeFilter`; its
    normalisation and weight are folded into the slice.
    """

    def __init__(self, colours, pixels, params):
        # Feature order (x, y, r, g, b) as the reference: the lattice is not
        # invariant to permuting features, and the backends should agree.
        positions = tf.cast(tf.gather(pixels, [2, 1], axis=1), tf.float32)
        colours = tf.cast(colours, tf.float32)
        bilateral = tf.concat(
            [
                positions / np.float32(params.bilateral_xy_std),
                colours / np.float32(params.bilateral_rgb_std),
            ],
            axis=1,
        )
        gaussian = positions / np.float32(params.gaussian_xy_std)
        kernels = ((bilateral, params.bilateral_weight), (gaussian, params.gaussian_weight))
        self.kernels = [self._kernel(f, w, pixels[:, 0]) for f, w in kernels if w != 0]

    @staticmethod
    def _kernel(features, weight, images):
        lattice = build_lattice(features, images)
        d = features.shape[-1]
        kernel = lattice_filter.build_filter(lattice, lattice.weights * lattice_filter.slice_scale(d))
        # Normalise after filtering: divide by the filtered constant 1, k·1.
        total = lattice_filter.apply(kernel, tf.ones_like(features[:, :1]))[:, 0]
        return lattice_filter.scale_outputs(kernel, np.float32(weight) / (total + _NORM_EPSILON))

    def __call__(self, q):
        """The message of each kernel, [N, C] each.

        The kernels' filterings are independent ops, which TF's inter-op threads
        run in parallel (each sparse matmul runs on one thread).
        """
        return [lattice_filter.apply(kernel, q) for kernel in self.kernels]
