"""The sparse matrices of filtering on a permutohedral `Lattice`: splat and slice, and the staged blurs.

The paper's splat-blur-slice of [N, C] values is a product of these: the splat
is the transpose of a `points_matrix` with the barycentric weights, the blur
along each of the d+1 lattice directions adds (P₋ + P₊)/2 of the vertices' values
(`blur_matrices`), and the slice is a `points_matrix` with the slice weights.
"""

import numpy as np
import tensorflow as tf


def empty_matrix(shape):
    """An all-zero float32 SparseTensor of `shape` (the unused form's matrices in a `LatticeFilter`)."""
    return tf.sparse.SparseTensor(
        tf.zeros([0, 2], tf.int64), tf.zeros([0], tf.float32), tf.cast(tf.stack(shape), tf.int64)
    )


def points_matrix(lattice, weights, sort_columns=False):
    """The [N, M] SparseTensor with `weights` [N, d+1] at (point, each of its vertices), row-major.

    With the barycentric weights its transpose splats (accumulates the points'
    values onto the vertices); with the slice weights it slices. With
    `sort_columns` each row's vertices come in increasing order, as CSR needs.
    """
    d = lattice.vertex_ids.shape[-1] - 1
    num_points = tf.shape(lattice.vertex_ids, out_type=tf.int64)[0]
    columns = lattice.vertex_ids
    if sort_columns:
        order = tf.argsort(columns, axis=1)
        columns = tf.gather(columns, order, batch_dims=1)
        weights = tf.gather(weights, order, batch_dims=1)
    rows = tf.repeat(tf.range(num_points), d + 1)
    indices = tf.stack([rows, tf.reshape(columns, [-1])], axis=1)
    shape = tf.stack([num_points, lattice.num_vertices])
    return tf.sparse.SparseTensor(indices, tf.reshape(weights, [-1]), shape)


def blur_matrices(lattice):
    """The d+1 [M, M] sparse matrices (P₋ + P₊)/2 of the blur along each lattice direction.

    The blur along direction j is v + (P₋ + P₊)v/2, applied in order 0..d, each to
    the previous one's output, as the paper's separable blur. Only vertices that
    have a neighbour get entries; missing neighbours contribute nothing. Keeping
    the identity out of the matrix leaves it to a dense add: on a noisy image
    most vertices have no neighbour along a given direction, and the sparse
    matmul then does only the neighbours' entries, a fraction of the work.
    """
    size = lattice.num_vertices
    shape = tf.cast(tf.stack([size, size]), tf.int64)
    matrices = []
    for j in range(lattice.neighbours.shape[0]):
        # Row-major entries (−, +) so each output row is written in one place.
        columns = tf.reshape(tf.transpose(lattice.neighbours[j]), [-1])
        entries = tf.where(columns < size)  # int64 [K, 1]
        indices = tf.concat([entries // 2, tf.cast(tf.gather(columns, entries), tf.int64)], axis=1)
        values = tf.fill(tf.shape(entries)[:1], np.float32(0.5))
        matrices.append(tf.sparse.SparseTensor(indices, values, shape))
    return matrices
