"""Tests for vertex numbering: the direct-address table and the hash build the same lattice."""

import numpy as np

from deeplab_tf.postprocess.lattice import build_lattice
from deeplab_tf.postprocess.lattice_filter import gaussian_filter


def test_table_and_hash_numberings_build_the_same_lattice():
    rng = np.random.default_rng(0)
    features = rng.uniform(0, 6, (500, 3)).astype(np.float32)
    values = rng.normal(size=(500, 3)).astype(np.float32)
    by_table = build_lattice(features, numbering="table")
    by_hash = build_lattice(features, numbering="hash")
    assert int(by_table.num_vertices) == int(by_hash.num_vertices)
    np.testing.assert_allclose(
        gaussian_filter(by_table, values),
        gaussian_filter(by_hash, values),
        rtol=1e-6,
        atol=1e-6,
    )
    # Every neighbour relation is mirrored: b = minus_j(a) ⇔ a = plus_j(b).
    neighbours = by_hash.neighbours.numpy()
    size = int(by_hash.num_vertices)
    for direction in range(4):
        minus, plus = neighbours[direction]
        has_minus = minus < size
        np.testing.assert_array_equal(plus[minus[has_minus]], np.flatnonzero(has_minus))
