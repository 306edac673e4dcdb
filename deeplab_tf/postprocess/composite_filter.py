"""The composite form of a lattice filtering: splat, blur and slice multiplied into one sparse [N, N] matrix.

`composite_matrix` builds it, once per lattice, from CSR sparse-sparse products;
`composite_pays` says, before building anything, whether it is sparse enough to
be worth it.
"""

import numpy as np
import tensorflow as tf

from deeplab_tf.postprocess.lattice_matrices import points_matrix


def composite_pays(lattice):
    """Whether `composite_matrix` is worth building: at most as many entries as one staged filtering.

    The count is of every path a point's value takes to a point through the blur
    (`composite_matrix`'s products before they merge), an upper bound of its work,
    found in O(M·d) without building anything. Noisy or finely textured images,
    whose vertices mostly hold one point, pass; smooth ones, whose vertices are
    shared by hundreds of points, fail by orders of magnitude. The count must also
    stay below 2^31: TF's CSR matrices index their entries in int32.
    """
    d = lattice.vertex_ids.shape[-1] - 1
    size = lattice.num_vertices
    flat_ids = tf.reshape(lattice.vertex_ids, [-1])
    # float32 counts: only compared, so rounding does not matter (and GPUs have
    # no int64 segment sum).
    points = tf.math.unsorted_segment_sum(tf.ones_like(flat_ids, tf.float32), flat_ids, size)
    paths = points
    for j in range(d + 1):
        padded = tf.concat([paths, tf.zeros([1])], axis=0)
        paths += tf.reduce_sum(tf.gather(padded, lattice.neighbours[j]), axis=0)
    neighbour_entries = tf.math.count_nonzero(lattice.neighbours < size, dtype=tf.int64)
    staged = 2 * tf.size(flat_ids, out_type=tf.int64) + neighbour_entries + (d + 1) * size
    count = tf.reduce_sum(points * paths)
    return tf.logical_and(count <= tf.cast(staged, tf.float32), count < 2.0**31)


def composite_matrix(lattice, slice_weights):
    """The [N, N] matrix `slice_ᵀ · B_d ⋯ B_0 · splat` of a whole filtering, one sparse matmul.

    The lattice is the same in every mean-field iteration, so its splat, blur and
    slice compose, once, into one linear map of the points' values (sparse-sparse
    products of CSR matrices, which merge duplicate entries as they go). Where most
    vertices hold one point (`composite_pays`) it has a few entries per point,
    against the staged form's 2(d+1) per point (splat and slice) and up to 3(d+1)
    per vertex (the blurs' neighbours and their adds).

    Args:
        lattice: a `Lattice`.
        slice_weights: float32 [N, d+1], the weights of the slice (the splat's are
            `lattice.weights`).

    Returns:
        A `tf.sparse.SparseTensor` [N, N] in row-major order.
    """
    d = lattice.vertex_ids.shape[-1] - 1
    half = (d + 1) // 2
    # Two independent chains, which TF's inter-op threads run at once on two cores:
    # slice_ᵀ·B_d⋯B_half from the left, B_{half−1}⋯B_0·splat from the right.
    left = _csr(points_matrix(lattice, slice_weights, sort_columns=True))
    for j in reversed(range(half, d + 1)):
        left = _csr_product(left, _blur_csr(lattice, j))
    right = tf.raw_ops.SparseMatrixTranspose(
        input=_csr(points_matrix(lattice, lattice.weights, sort_columns=True)), type=tf.float32
    )
    for j in range(half):
        right = _csr_product(_blur_csr(lattice, j), right)
    product = _csr_product(left, right)
    matrix = tf.raw_ops.CSRSparseMatrixToSparseTensor(sparse_matrix=product, type=tf.float32)
    return tf.sparse.SparseTensor(matrix.indices, matrix.values, matrix.dense_shape)


def _csr_product(a, b):
    return tf.raw_ops.SparseMatrixSparseMatMul(a=a, b=b, type=tf.float32)


def _csr(sparse):
    # The CSR form of a SparseTensor in row-major order, columns sorted within rows.
    return tf.raw_ops.SparseTensorToCSRSparseMatrix(
        indices=sparse.indices, values=sparse.values, dense_shape=sparse.dense_shape
    )


def _blur_csr(lattice, direction):
    """I + (P₋ + P₊)/2 along one direction, as CSR: each row's (−, self, +) in column order."""
    size = lattice.num_vertices
    minus, plus = lattice.neighbours[direction, 0], lattice.neighbours[direction, 1]
    own = tf.range(size)
    low, high = tf.minimum(minus, plus), tf.maximum(minus, plus)
    # A missing neighbour is M, past every column, so it sorts last.
    middle = tf.minimum(tf.maximum(low, own), high)
    columns = tf.stack([tf.minimum(low, own), middle, tf.maximum(high, own)], axis=1)
    entries = tf.where(tf.reshape(columns, [-1]) < size)[:, 0]
    rows = entries // 3
    columns = tf.gather(tf.reshape(columns, [-1]), entries)
    values = tf.where(tf.equal(rows, columns), np.float32(1.0), np.float32(0.5))
    return _csr(tf.sparse.SparseTensor(tf.stack([rows, columns], axis=1), values, tf.stack([size, size])))
