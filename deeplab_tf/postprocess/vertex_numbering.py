"""Numbering of permutohedral lattice vertices: each distinct vertex key gets an id, and each vertex its neighbours'.

Two ways, for `lattice.build_lattice` to choose between: a direct-address table
over the key range (small ranges), or `tf.unique` and a sorted search.
"""

import tensorflow as tf


def _candidates(vertex_keys, offsets, sides):
    # Keys of the neighbours of each vertex: [d+1, len(sides), M].
    d = offsets.shape[0] - 1
    return vertex_keys + tf.gather(tf.gather(offsets, sides, axis=1), vertex_keys % (d + 1), axis=2)


def number_by_table(keys, offsets, key_range):
    """Vertex ids from a direct-address table over the key range; neighbours by lookup.

    Vertices are numbered in order of first use, as `tf.unique` numbers them:
    consecutive pixels then touch nearby rows of the lattice values, which makes
    the filtering faster than numbering in key order. Indices are int64
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


def number_by_hash(keys, offsets):
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
        # searches touch the same cache lines (faster than in vertex order).
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
