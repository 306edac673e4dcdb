"""The permutohedral lattice (Adams, Baek & Davis 2010) for Gaussian filtering in TF ops.

A. Adams, J. Baek, M. A. Davis, "Fast High-Dimensional Filtering Using the
Permutohedral Lattice", Eurographics 2010,
https://graphics.stanford.edu/papers/permutohedral/

Gaussian filtering of N values with d-dimensional features costs O(N·d) here:
each feature vector is embedded in the hyperplane H_d (Σ coordinates = 0) of
R^{d+1}, *splatted* onto the d+1 vertices of the simplex of the lattice A*_d
that encloses it (barycentric weights), *blurred* with a [1/2, 1, 1/2] kernel
along each of the d+1 lattice directions, and *sliced* back with the same
weights. Everything is built from standard TF ops (no numpy in the graph), so it
runs in a `tf.function`, on a GPU, and inside a SavedModel, for dynamic N.

The arithmetic of the embedding (scale factors, rounding, rank sort, wrap) follows
the paper step by step in float32 in the same order as the C++ code of
Krähenbühl & Koltun's dense CRF (which pydensecrf wraps), so both build the same
lattice and the two CRF backends agree pixel for pixel.
"""

import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf


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


def _elevate(features):
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


def _enclosing_simplex(elevated):
    """Finds the simplex of A*_d containing each elevated point (the paper's splatting step).

    Args:
        elevated: d+1 float32 [N] columns from `_elevate`.

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


def build_lattice(features, images=None):
    """Builds the lattice of N points with features [N, d] (already divided by the std).

    The enclosing vertices of every point are given integer keys and numbered, and
    each vertex's neighbours along the d+1 directions are looked up, once, so that
    every later filtering is sparse-dense matmuls (`filtering`). Keys are numbered with a
    direct-address table when the key range is small (the position-only kernel),
    else with `tf.unique` and a sorted search (`tf.searchsorted`).

    Args:
        features: float32 [N, d], d static.
        images: optional int [N], the image each point belongs to. Points of
            different images never share a vertex or a neighbour (the image is
            the keys' top digit), so a batch filters as its images one by one,
            in one set of ops.

    Returns:
        A `Lattice`.
    """
    return _build_lattice(features, numbering="auto", images=images)


def _build_lattice(features, numbering, images=None):
    """`build_lattice`, with `numbering` "auto", or "table" / "hash" to force one way (the tests do)."""
    features = tf.convert_to_tensor(features, tf.float32)
    d = features.shape[-1]
    nearest, rank, weights = _enclosing_simplex(_elevate(features))
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
    by_table = lambda: _number_by_table(  # noqa: E731
        tf.reshape(tf.stack(keys, axis=1), [-1]), offsets, tf.cast(key_range, tf.int64)
    )
    by_hash = lambda: _number_by_hash(keys, offsets)  # noqa: E731
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


def _candidates(vertex_keys, offsets, sides):
    # Keys of the neighbours of each vertex: [d+1, len(sides), M].
    d = offsets.shape[0] - 1
    return vertex_keys + tf.gather(tf.gather(offsets, sides, axis=1), vertex_keys % (d + 1), axis=2)


def _number_by_table(keys, offsets, key_range):
    """Vertex ids from a direct-address table over the key range; neighbours by lookup.

    Vertices are numbered in order of first use, as `tf.unique` numbers them:
    consecutive pixels then touch nearby rows of the lattice values, which makes
    the filtering ~25% faster than numbering in key order. Indices are int64
    (GPU kernels keep int32 tensors in host memory), the first-use minimum int32
    (GPUs have no int64 segment minimum).
    """
    size = tf.size(keys, out_type=tf.int64)
    entries = tf.range(size)
    # Unused keys get int32 max, past every entry.
    first_use = tf.cast(tf.math.unsorted_segment_min(tf.cast(entries, tf.int32), keys, key_range), tf.int64)
    is_first = tf.equal(tf.gather(first_use, keys), entries)
    entry_ids = tf.cumsum(tf.cast(is_first, tf.int64), exclusive=True)
    vertex_keys = tf.boolean_mask(keys, is_first)
    num_vertices = tf.size(vertex_keys, out_type=tf.int64)
    used = first_use < size
    first_or_last = tf.minimum(first_use, size - 1)
    table = tf.where(used, tf.gather(entry_ids, first_or_last), num_vertices)
    candidates = _candidates(vertex_keys, offsets, [0, 1])
    vertex_ids = tf.gather(entry_ids, tf.gather(first_use, keys))
    return vertex_ids, tf.gather(table, candidates), num_vertices


def _number_by_hash(keys, offsets):
    """Vertex ids by `tf.unique`; one neighbour per direction by sorted search.

    Vertices of different remainders never share a key, so each remainder is
    numbered on its own (smaller hash tables, independent ops that run in
    parallel), and a vertex's "−" neighbours, all of remainder r−1, are searched
    among those only. The "+" neighbours follow by symmetry: if b is a's "−"
    neighbour along j, a is b's "+" neighbour, so they are a scatter, not a search.

    Args:
        keys: d+1 int64 [N] keys, one per remainder.
    """
    d = len(keys) - 1
    uniques = [tf.unique(column, out_idx=tf.int64) for column in keys]
    counts = [tf.size(unique.y, out_type=tf.int64) for unique in uniques]
    starts = [tf.add_n([tf.constant(0, tf.int64)] + counts[:r]) for r in range(d + 1)]
    num_vertices = tf.add_n(counts)
    vertex_ids = tf.stack([unique.idx + start for unique, start in zip(uniques, starts)], axis=1)
    orders = [tf.cast(tf.argsort(unique.y), tf.int64) for unique in uniques]
    sorted_keys = [tf.gather(unique.y, order) for unique, order in zip(uniques, orders)]
    minus = []
    for r in range(d + 1):
        target = (r - 1) % (d + 1)
        # [1, (d+1)·M_r]: this remainder's vertices' "−" neighbour keys, in key
        # order: each direction's run of queries is sorted, so consecutive binary
        # searches touch the same cache lines (1.8x faster than in vertex order).
        candidates = tf.reshape(sorted_keys[r][None, :] + offsets[:, 0, r : r + 1], [1, -1])
        position = tf.searchsorted(sorted_keys[target][None, :], candidates, out_type=tf.int64)[0]
        position = tf.minimum(position, counts[target] - 1)
        found = tf.equal(tf.gather(sorted_keys[target], position), candidates[0])
        ids = tf.where(found, tf.gather(orders[target], position) + starts[target], num_vertices)
        # Back from key order to vertex order.
        by_key = tf.reshape(ids, [d + 1, -1])
        minus.append(tf.gather(by_key, _inverse_permutation(orders[r]), axis=1))
    minus = tf.concat(minus, axis=1)  # [d+1, M]
    # plus[j, minus[j, a]] = a where minus[j, a] exists: a segment max over
    # (j, minus[j, a]) pairs, each hit at most once; empty ones come out negative.
    # The maximum in int32: GPUs have no int64 segment maximum.
    directions = tf.range(d + 1, dtype=tf.int64)[:, None] * (num_vertices + 1)
    sources = tf.broadcast_to(tf.range(num_vertices)[None, :], tf.shape(minus, out_type=tf.int64))
    plus = tf.math.unsorted_segment_max(
        tf.cast(tf.reshape(sources, [-1]), tf.int32),
        tf.reshape(directions + minus, [-1]),
        (d + 1) * (num_vertices + 1),
    )
    plus = tf.reshape(tf.cast(plus, tf.int64), [d + 1, num_vertices + 1])[:, :-1]
    plus = tf.where(plus < 0, num_vertices, plus)
    return tf.reshape(vertex_ids, [-1]), tf.stack([minus, plus], axis=1), num_vertices


def _inverse_permutation(order):
    # A scatter, not tf.math.invert_permutation, whose GPU kernel runs on the host.
    size = tf.size(order, out_type=tf.int64)
    return tf.tensor_scatter_nd_update(tf.zeros([size], tf.int64), order[:, None], tf.range(size))


class Filtering(NamedTuple):
    """One kernel's filtering of N points' [N, C] values, built once per lattice.

    In one of two forms, whichever costs less for the lattice (`filtering`), as
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


def filtering(lattice, slice_weights, form="auto"):
    """The `Filtering` of a lattice, with `slice_weights` [N, d+1] on the slice.

    `form` "auto" builds the composite where `composite_pays`, else the staged
    form; "composite" or "staged" forces one (the tests do).
    """
    d = lattice.vertex_ids.shape[-1] - 1
    num_points = tf.shape(lattice.vertex_ids, out_type=tf.int64)[0]
    empty_blurs = tuple(_empty([0, 0]) for _ in range(d + 1))
    empty_staged = (_empty([num_points, 0]), empty_blurs, _empty([num_points, 0]))

    def composite():
        return Filtering(tf.constant(True), composite_matrix(lattice, slice_weights), *empty_staged)

    def staged():
        return Filtering(
            tf.constant(False),
            _empty([num_points, num_points]),
            _points_matrix(lattice, lattice.weights),
            tuple(blur_matrices(lattice)),
            _points_matrix(lattice, slice_weights),
        )

    if form == "auto":
        return tf.cond(composite_pays(lattice), composite, staged)
    return composite() if form == "composite" else staged()


# TF's CPU sparse-dense matmul switches to another kernel at 32 columns, about 5x slower
# per column (a 513x513 bilateral filtering: 0.047 s at 31 columns, 0.227 s at 32), so
# wider values are filtered in blocks of this many columns (150 classes: 1.04 s → 0.26 s).
_WIDEST = 31
_BLOCK = 16


def apply(filtering_, values):
    """Filters [N, C] values: splat, blur and slice, or the composite's one matmul."""

    def staged(block):
        # The splat as the transpose of a row-major [N, M]: 1.4x faster than an [M, N]
        # in the same order.
        lattice_values = tf.sparse.sparse_dense_matmul(filtering_.splat, block, adjoint_a=True)
        for blur in filtering_.blurs:
            lattice_values += tf.sparse.sparse_dense_matmul(blur, lattice_values)
        return tf.sparse.sparse_dense_matmul(filtering_.slice_, lattice_values)

    def composite(block):
        return tf.sparse.sparse_dense_matmul(filtering_.composite, block)

    def one(block):
        return tf.cond(filtering_.composed, lambda: composite(block), lambda: staged(block))

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


def scale_outputs(filtering_, factors):
    """The `Filtering` whose output point i is multiplied by factors [N]: the slice's rows scaled."""
    composite = filtering_.composite
    slice_ = filtering_.slice_
    return filtering_._replace(
        composite=composite.with_values(composite.values * tf.gather(factors, composite.indices[:, 0])),
        slice_=slice_.with_values(slice_.values * tf.gather(factors, slice_.indices[:, 0])),
    )


def _empty(shape):
    return tf.sparse.SparseTensor(
        tf.zeros([0, 2], tf.int64), tf.zeros([0], tf.float32), tf.cast(tf.stack(shape), tf.int64)
    )


def blur_matrices(lattice):
    """The d+1 [M, M] sparse matrices (P₋ + P₊)/2 of the blur along each lattice direction.

    The blur along direction j is v + (P₋ + P₊)v/2, applied in order 0..d, each to
    the previous one's output, as the paper's separable blur. Only vertices that
    have a neighbour get entries; missing neighbours contribute nothing. Keeping
    the identity out of the matrix leaves it to a dense add: on a noisy image
    most vertices have no neighbour along a given direction, and the sparse
    matmul then does a third of the work (the blur 1.5x faster).
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


def slice_scale(d):
    """The constant 1/(1 + 2^−d) that makes splat-blur-slice approximate Σ_j k(f_i, f_j) v_j."""
    return np.float32(1.0 / (1.0 + 2.0 ** (-d)))


def gaussian_filter(lattice, values, form="auto"):
    """Σ_j exp(−|f_i − f_j|²/2) v_j, approximated on the lattice, for [N, C] values."""
    d = lattice.weights.shape[-1] - 1
    filtering_ = filtering(lattice, lattice.weights * slice_scale(d), form)
    return apply(filtering_, tf.convert_to_tensor(values, tf.float32))


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
    # Two independent chains, which the two cores run at once (0.8 s against 1.3 s
    # for one chain on the 513x513 noise image):
    # slice_ᵀ·B_d⋯B_half from the left, B_{half−1}⋯B_0·splat from the right.
    left = _csr(_points_matrix(lattice, slice_weights, sort_columns=True))
    for j in reversed(range(half, d + 1)):
        left = _csr_product(left, _blur_csr(lattice, j))
    right = tf.raw_ops.SparseMatrixTranspose(
        input=_csr(_points_matrix(lattice, lattice.weights, sort_columns=True)), type=tf.float32
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


def _points_matrix(lattice, weights, sort_columns=False):
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
