"""Gaussian filtering of N points' values on their permutohedral `Lattice` (Adams, Baek & Davis 2010).

The values are *splatted* onto the d+1 vertices of each point's enclosing
simplex (barycentric weights), *blurred* with a [1/2, 1, 1/2] kernel along each
of the d+1 lattice directions, and *sliced* back with the same weights. A
`LatticeFilter` holds one kernel's filtering, built once per lattice, in one of
two forms: staged (splat, blurs and slice as in the paper) or composite (their
product, `composite_filter`); `apply` runs it on any number of value columns.
"""

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from deeplab_tf.postprocess.composite_filter import composite_matrix, composite_pays
from deeplab_tf.postprocess.lattice_matrices import blur_matrices, empty_matrix, points_matrix


class LatticeFilter(NamedTuple):
    """One kernel's filtering of N points' [N, C] values, built once per lattice.

    In one of two forms, whichever costs less for the lattice (`build_filter`), as
    `composed` says; the other form's matrices are empty:

    - staged: `splat` [N, M] (its transpose splats), the d+1 `blurs` [M, M] and
      `slice_` [N, M], three kinds of sparse matmul per filtering, as the paper;
    - composite: their product `composite` [N, N] (`composite_matrix`), one.
    """

    composed: tf.Tensor
    composite: tf.sparse.SparseTensor
    splat: tf.sparse.SparseTensor
    blurs: tuple
    slice_: tf.sparse.SparseTensor


def build_filter(lattice, slice_weights, form="auto"):
    """The `LatticeFilter` of a lattice, with `slice_weights` [N, d+1] on the slice.

    `form` "auto" builds the composite where `composite_pays`, else the staged
    form; "composite" or "staged" forces one (the tests do).
    """
    d = lattice.vertex_ids.shape[-1] - 1
    num_points = tf.shape(lattice.vertex_ids, out_type=tf.int64)[0]
    empty_blurs = tuple(empty_matrix([0, 0]) for _ in range(d + 1))
    empty_staged = (empty_matrix([num_points, 0]), empty_blurs, empty_matrix([num_points, 0]))

    def composite():
        return LatticeFilter(tf.constant(True), composite_matrix(lattice, slice_weights), *empty_staged)

    def staged():
        return LatticeFilter(
            tf.constant(False),
            empty_matrix([num_points, num_points]),
            points_matrix(lattice, lattice.weights),
            tuple(blur_matrices(lattice)),
            points_matrix(lattice, slice_weights),
        )

    if form == "auto":
        return tf.cond(composite_pays(lattice), composite, staged)
    return composite() if form == "composite" else staged()


# TF's CPU sparse-dense matmul switches to another, slower kernel per column at 32
# columns, so wider values are filtered in blocks of this many columns.
_WIDEST = 31
_BLOCK = 16


def apply(lattice_filter, values):
    """Filters [N, C] values: splat, blur and slice, or the composite's one matmul."""

    def staged(block):
        # The splat as the transpose of a row-major [N, M]: faster than an [M, N]
        # in the same order.
        lattice_values = tf.sparse.sparse_dense_matmul(lattice_filter.splat, block, adjoint_a=True)
        for blur in lattice_filter.blurs:
            lattice_values += tf.sparse.sparse_dense_matmul(blur, lattice_values)
        return tf.sparse.sparse_dense_matmul(lattice_filter.slice_, lattice_values)

    def composite(block):
        return tf.sparse.sparse_dense_matmul(lattice_filter.composite, block)

    def one(block):
        return tf.cond(lattice_filter.composed, lambda: composite(block), lambda: staged(block))

    return tf.cond(tf.shape(values)[1] <= _WIDEST, lambda: one(values), lambda: _by_column_blocks(one, values))


def _by_column_blocks(filter_, values):
    """filter_ applied to [N, C] values _BLOCK columns at a time (the last block zero-padded)."""
    num_points, width = tf.shape(values)[0], tf.shape(values)[1]
    num_blocks = (width + _BLOCK - 1) // _BLOCK
    padded = tf.pad(values, [[0, 0], [0, num_blocks * _BLOCK - width]])
    blocks = tf.transpose(tf.reshape(padded, [num_points, num_blocks, _BLOCK]), [1, 0, 2])
    filtered = tf.map_fn(filter_, blocks, fn_output_signature=tf.TensorSpec([None, _BLOCK], tf.float32))
    filtered = tf.reshape(tf.transpose(filtered, [1, 0, 2]), [num_points, num_blocks * _BLOCK])
    return filtered[:, :width]


def scale_outputs(lattice_filter, factors):
    """The `LatticeFilter` whose output point i is multiplied by factors [N]: the slice's rows scaled."""
    composite = lattice_filter.composite
    slice_ = lattice_filter.slice_
    return lattice_filter._replace(
        composite=composite.with_values(composite.values * tf.gather(factors, composite.indices[:, 0])),
        slice_=slice_.with_values(slice_.values * tf.gather(factors, slice_.indices[:, 0])),
    )


def slice_scale(d):
    """The constant 1/(1 + 2^−d) that makes splat-blur-slice approximate Σ_j k(f_i, f_j) v_j."""
    return np.float32(1.0 / (1.0 + 2.0 ** (-d)))


def gaussian_filter(lattice, values, form="auto"):
    """Σ_j exp(−|f_i − f_j|²/2) v_j, approximated on the lattice, for [N, C] values."""
    d = lattice.weights.shape[-1] - 1
    lattice_filter = build_filter(lattice, lattice.weights * slice_scale(d), form)
    return apply(lattice_filter, tf.convert_to_tensor(values, tf.float32))
