"""The embedding of feature vectors into the permutohedral lattice A*_d (Adams, Baek & Davis 2010).

Each d-dimensional feature vector is scaled and elevated into the hyperplane H_d
(Σ coordinates = 0) of R^{d+1}, and the simplex of A*_d that encloses it is found,
with the point's barycentric weights on its d+1 vertices.

The arithmetic (scale factors, rounding, rank sort, wrap) follows the paper step
by step in float32 in the same order as the C++ code of Krähenbühl & Koltun's
dense CRF (which pydensecrf wraps), so both build the same lattice and the two
CRF backends agree pixel for pixel.
"""

import math

import numpy as np
import tensorflow as tf


def _scale_factors(d):
    """Diagonal scaling of the embedding into H_d, for a filter of standard deviation 1.

    The variance of the [1/2, 1, 1/2] blur applied along d+1 directions is matched
    to a unit Gaussian by the factor sqrt(2/3)·(d+1) ("expected standard deviation").
    Float32 rounding mirrors the reference C++ (float std, double division).
    """
    inv_std = np.float32(math.sqrt(2.0 / 3.0) * (d + 1))
    return np.array(
        [np.float32(1.0 / math.sqrt((i + 1) * (i + 2)) * float(inv_std)) for i in range(d)],
        np.float32,
    )


def elevate(features):
    """Embeds [N, d] features into H_d: elevated_j = Σ_{k≥j} x_k − j·x_{j−1}.

    Returns d+1 [N] columns, accumulated in the same order as the reference code,
    with elementwise ops rather than a matmul (GPUs run float32 matmuls in TF32 by
    default, which would move points across simplex boundaries).
    """
    d = features.shape[-1]
    scaled = features * _scale_factors(d)
    running_sum = tf.zeros_like(scaled[:, 0])
    elevated = [None] * (d + 1)
    for j in range(d, 0, -1):
        elevated[j] = running_sum - float(j) * scaled[:, j - 1]
        running_sum = running_sum + scaled[:, j - 1]
    elevated[0] = running_sum
    return elevated


def enclosing_simplex(elevated):
    """Finds the simplex of A*_d containing each elevated point (the paper's splatting step).

    Args:
        elevated: d+1 float32 [N] columns from `elevate`.

    Returns:
        nearest: int64 [N, d+1], the nearest remainder-0 lattice point over d+1.
        rank: int64 [N, d+1], the rank of each coordinate of the residual.
        weights: float32 [N, d+1], the barycentric weights of the d+1 vertices.
    """
    d = len(elevated) - 1
    down = np.float32(1.0 / (d + 1))
    # Round to the nearest multiple of d+1 (ties to even, as the SSE code does).
    nearest = [tf.round(column * down) for column in elevated]
    residual = [column - n * float(d + 1) for column, n in zip(elevated, nearest)]
    # rank_i = how many coordinates have a larger residual, ties going to the
    # later coordinate: one comparison per pair, not an [N, d+1, d+1] tensor.
    rank = [tf.zeros_like(residual[0]) for _ in range(d + 1)]
    for i in range(d):
        for j in range(i + 1, d + 1):
            i_smaller = tf.cast(residual[i] < residual[j], tf.float32)
            rank[i] += i_smaller
            rank[j] += 1.0 - i_smaller
    elevated, nearest, rank = (tf.stack(columns, axis=1) for columns in (elevated, nearest, rank))
    # Points off the plane (Σ ≠ 0) are brought back by shifting the ranks and
    # moving the rounded point by ±(d+1) along the wrapped coordinates.
    rank = rank + tf.reduce_sum(nearest, axis=1, keepdims=True)
    wrap = tf.cast(rank < 0, tf.float32) - tf.cast(rank >= d + 1, tf.float32)
    rank = rank + wrap * float(d + 1)
    nearest = nearest + wrap
    residual = (elevated - nearest * float(d + 1)) * down
    # Barycentric weights: b[d−rank_i] += r_i, b[d−rank_i+1] −= r_i,
    # then b[0] += 1 + b[d+1]. d − rank is a permutation, so each b gets two terms.
    num_points = tf.shape(residual, out_type=tf.int64)[0]
    slots = tf.range(num_points)[:, None] * (d + 2) + tf.cast(float(d) - rank, tf.int64)
    barycentric = tf.math.unsorted_segment_sum(
        tf.concat([tf.reshape(residual, [-1]), -tf.reshape(residual, [-1])], 0),
        tf.concat([tf.reshape(slots, [-1]), tf.reshape(slots + 1, [-1])], 0),
        num_points * (d + 2),
    )
    barycentric = tf.reshape(barycentric, [-1, d + 2])
    weights = tf.concat(
        [barycentric[:, :1] + (1.0 + barycentric[:, d + 1 :]), barycentric[:, 1 : d + 1]], axis=1
    )
    return tf.cast(nearest, tf.int64), tf.cast(rank, tf.int64), weights
