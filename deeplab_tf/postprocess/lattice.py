"""The permutohedral lattice (Adams, Baek & Davis 2010) of N points, for Gaussian filtering in TF ops.

A. Adams, J. Baek, M. A. Davis, "Fast High-Dimensional Filtering Using the
Permutohedral Lattice", Eurographics 2010,
https://graphics.stanford.edu/papers/permutohedral/

Gaussian filtering of N values with d-dimensional features costs O(N·d) on the
lattice: each point is embedded in the lattice A*_d (`lattice_embedding`), its
enclosing vertices get integer keys (here) and are numbered (`vertex_numbering`),
and the values are then splatted, blurred and sliced (`lattice_filter`).
Everything is built from standard TF ops (no numpy in the graph), so it runs in a
`tf.function`, on a GPU, and inside a SavedModel, for dynamic N.
"""

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from deeplab_tf.postprocess.lattice_embedding import elevate, enclosing_simplex
from deeplab_tf.postprocess.vertex_numbering import number_by_hash, number_by_table


class Lattice(NamedTuple):
    """A lattice built once from the features of N points and reused for every filtering.

    Attributes:
        vertex_ids: int64 [N, d+1], the lattice vertices enclosing each point.
        weights: float32 [N, d+1], each point's barycentric weights (sum 1).
        neighbours: int64 [d+1, 2, M], for each lattice direction the two neighbours
            of each vertex; M where there is none.
        num_vertices: int64 scalar M.
    """

    vertex_ids: tf.Tensor
    weights: tf.Tensor
    neighbours: tf.Tensor
    num_vertices: tf.Tensor


def build_lattice(features, images=None, numbering="auto"):
    """Builds the lattice of N points with features [N, d] (already divided by the std).

    The enclosing vertices of every point are given integer keys and numbered, and
    each vertex's neighbours along the d+1 directions are looked up, once, so that
    every later filtering is sparse-dense matmuls (`lattice_filter`). Keys are numbered
    with a direct-address table when the key range is small (the position-only
    kernel), else with `tf.unique` and a sorted search (`tf.searchsorted`).

    Args:
        features: float32 [N, d], d static.
        images: optional int [N], the image each point belongs to. Points of
            different images never share a vertex or a neighbour (the image is
            the keys' top digit), so a batch filters as its images one by one,
            in one set of ops.
        numbering: "auto", or "table" / "hash" to force one way (the tests do).

    Returns:
        A `Lattice`.
    """
    features = tf.convert_to_tensor(features, tf.float32)
    d = features.shape[-1]
    nearest, rank, weights = enclosing_simplex(elevate(features))
    # The vertex of remainder r has coordinates (d+1)·nearest + r, minus d+1 where
    # rank > d−r (the paper's canonical simplex); the last coordinate is implied.
    # Keys pack (r, q_0..q_{d-1}) in mixed radix, leaving one spare value on each
    # side of every q so that neighbour keys (q ± 1) are packed the same way.
    # −max(−x): GPUs have no int64 Min kernel.
    low = -tf.reduce_max(-nearest[:, :d], axis=0) - 2
    span = tf.reduce_max(nearest[:, :d], axis=0) + 2 - low
    strides = tf.math.cumprod(span, exclusive=True)
    # The image index is the top digit: no vertex key of one image is within a
    # neighbour offset of another's, since every q keeps its spare values.
    num_images = tf.constant(1, tf.int64) if images is None else tf.reduce_max(images) + 1
    key_range = tf.cast(d + 1, tf.float64) * tf.reduce_prod(tf.cast(span, tf.float64))
    key_range *= tf.cast(num_images, tf.float64)
    tf.debugging.assert_less(
        key_range,
        tf.constant(2.0**62, tf.float64),
        message="permutohedral lattice keys would overflow int64: features span too many widths",
    )
    base = tf.reduce_sum((nearest[:, :d] - low) * strides, axis=1)
    if images is not None:
        base += tf.cast(images, tf.int64) * tf.reduce_prod(span)
    # The canonical simplex moves coordinate i down by d+1 (its q by 1) for the
    # remainders r > d − rank_i: key_r = r + (d+1)·(base − Σ_{rank_i > d−r} stride_i),
    # all remainders in one [N, d+1, d] comparison (the implied last coordinate has
    # stride 0).
    moved = rank[:, None, :d] > tf.constant(np.arange(d, -1, -1), tf.int64)[None, :, None]
    shifts = tf.reduce_sum(tf.cast(moved, tf.int64) * strides, axis=2)
    keys = [r + (d + 1) * (base - shifts[:, r]) for r in range(d + 1)]
    offsets = _neighbour_offsets(d, strides)
    # A direct-address table costs O(key range); worth it up to a few times the key count.
    num_points = tf.shape(rank, out_type=tf.int64)[0]
    table_limit = tf.cast(4 * (d + 1) * num_points + 4096, tf.float64)
    by_table = lambda: number_by_table(  # noqa: E731
        tf.reshape(tf.stack(keys, axis=1), [-1]), offsets, tf.cast(key_range, tf.int64)
    )
    by_hash = lambda: number_by_hash(keys, offsets)  # noqa: E731
    if numbering == "auto":
        vertex_ids, neighbours, num_vertices = tf.cond(key_range <= table_limit, by_table, by_hash)
    else:
        vertex_ids, neighbours, num_vertices = by_table() if numbering == "table" else by_hash()
    return Lattice(
        vertex_ids=tf.reshape(vertex_ids, [-1, d + 1]),
        weights=weights,
        neighbours=tf.reshape(neighbours, [d + 1, 2, -1]),
        num_vertices=num_vertices,
    )


def _neighbour_offsets(d, strides):
    """Key differences to the two neighbours of a vertex along each lattice direction.

    A vertex of remainder r has every coordinate ≡ r (mod d+1); its key packs r
    and the quotients q_i = (x_i − r)/(d+1). Its neighbours along direction j are
    x − 1 on every coordinate but x_j + d, and the reverse, so the key difference
    depends only on r (whether it wraps) and j. Returns int64 [d+1, 2, d+1]
    indexed by direction, side and remainder.
    """
    stride_sum = tf.reduce_sum(strides)
    offsets = []
    for j in range(d + 1):
        along = strides[j] if j < d else tf.constant(0, tf.int64)
        minus = [
            tf.fill([1], tf.constant(d, tf.int64)) + (d + 1) * (along - stride_sum),
            tf.fill([d], tf.constant(-1, tf.int64)) + (d + 1) * along,
        ]
        plus = [
            tf.fill([d], tf.constant(1, tf.int64)) - (d + 1) * along,
            tf.fill([1], tf.constant(-d, tf.int64)) + (d + 1) * (stride_sum - along),
        ]
        offsets.append(tf.stack([tf.concat(minus, 0), tf.concat(plus, 0)]))
    return tf.stack(offsets)
