"""Tests for the lattice embedding: each point's barycentric weights on its enclosing simplex."""

import numpy as np

from deeplab_tf.postprocess.lattice import build_lattice


def test_barycentric_weights_are_a_partition_of_unity():
    rng = np.random.default_rng(1)
    lattice = build_lattice(rng.normal(0, 3, (200, 5)).astype(np.float32))
    weights = lattice.weights.numpy()
    assert np.all(weights >= -1e-6)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    # The d+1 vertices enclosing a point are distinct.
    ids = lattice.vertex_ids.numpy()
    assert all(len(set(row)) == 6 for row in ids)
