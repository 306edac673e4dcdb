"""Tests for the permutohedral lattice: it approximates a Gaussian filter; both numberings, and both forms of filtering, agree."""

import numpy as np
import pytest

from deeplab_tf.postprocess import permutohedral


@pytest.mark.parametrize("dimensions", [2, 5])
def test_normalised_lattice_filter_approximates_exact_gaussian(dimensions):
    rng = np.random.default_rng(dimensions)
    features = rng.uniform(0, 4, (300, dimensions)).astype(np.float32)
    values = rng.uniform(0, 1, (300, 2)).astype(np.float32)
    kernel = np.exp(-0.5 * np.sum((features[:, None] - features[None]) ** 2, axis=-1))
    exact = kernel @ values / kernel.sum(axis=1, keepdims=True)
    lattice = permutohedral.build_lattice(features)
    filtered = permutohedral.gaussian_filter(lattice, values).numpy()
    total = permutohedral.gaussian_filter(lattice, np.ones((300, 1), np.float32)).numpy()
    error = np.abs(filtered / total - exact).mean()
    # Not filtering at all is off by ~0.23; the lattice's approximation by < 0.01.
    assert error < 0.015
    assert np.all(total > 0)


def test_table_and_hash_numberings_build_the_same_lattice():
    rng = np.random.default_rng(0)
    features = rng.uniform(0, 6, (500, 3)).astype(np.float32)
    values = rng.normal(size=(500, 3)).astype(np.float32)
    by_table = permutohedral._build_lattice(features, numbering="table")
    by_hash = permutohedral._build_lattice(features, numbering="hash")
    assert int(by_table.num_vertices) == int(by_hash.num_vertices)
    np.testing.assert_allclose(
        permutohedral.gaussian_filter(by_table, values),
        permutohedral.gaussian_filter(by_hash, values),
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


def test_barycentric_weights_are_a_partition_of_unity():
    rng = np.random.default_rng(1)
    lattice = permutohedral.build_lattice(rng.normal(0, 3, (200, 5)).astype(np.float32))
    weights = lattice.weights.numpy()
    assert np.all(weights >= -1e-6)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    # The d+1 vertices enclosing a point are distinct.
    ids = lattice.vertex_ids.numpy()
    assert all(len(set(row)) == 6 for row in ids)


def bilateral_features(colours, xy_std=67.0, rgb_std=3.0):
    """The dense CRF's bilateral features (x, y, r, g, b) of an [H, W, 3] image."""
    rows, columns = np.mgrid[: colours.shape[0], : colours.shape[1]]
    positions = np.stack([columns, rows], axis=-1).reshape(-1, 2) / xy_std
    return np.concatenate([positions, colours.reshape(-1, 3) / rgb_std], axis=1).astype(np.float32)


@pytest.mark.parametrize("image", ["noise", "smooth"])
def test_composite_and_staged_filterings_agree(image):
    rng = np.random.default_rng(2)
    if image == "noise":  # most vertices hold one pixel
        colours = rng.uniform(0, 255, (40, 48, 3))
    else:  # a few colours: hundreds of pixels per vertex, many merged paths
        colours = np.repeat(rng.uniform(0, 30, (4, 1, 3)), 10, axis=0).repeat(48, axis=1)
    lattice = permutohedral.build_lattice(bilateral_features(colours))
    values = rng.normal(size=(40 * 48, 3)).astype(np.float32)
    staged = permutohedral.gaussian_filter(lattice, values, form="staged").numpy()
    composite = permutohedral.gaussian_filter(lattice, values, form="composite").numpy()
    np.testing.assert_allclose(composite, staged, rtol=1e-5, atol=1e-5 * np.abs(staged).max())


def test_the_composite_is_chosen_where_vertices_hold_single_pixels_only():
    rng = np.random.default_rng(3)
    noise = permutohedral.build_lattice(bilateral_features(rng.uniform(0, 255, (64, 64, 3))))
    flat = permutohedral.build_lattice(bilateral_features(np.full((64, 64, 3), 128.0)))
    assert bool(permutohedral.composite_pays(noise))
    assert not bool(permutohedral.composite_pays(flat))


@pytest.mark.parametrize("form", ["staged", "composite"])
def test_values_wider_than_the_matmul_kernels_limit_filter_as_their_columns_apart(form):
    # 40 columns run in blocks of 16 (TF's CPU kernel is ~5x slower per column from 32 on).
    rng = np.random.default_rng(4)
    lattice = permutohedral.build_lattice(bilateral_features(rng.uniform(0, 255, (24, 20, 3))))
    values = rng.normal(size=(24 * 20, 40)).astype(np.float32)
    wide = permutohedral.gaussian_filter(lattice, values, form=form).numpy()
    narrow = [permutohedral.gaussian_filter(lattice, values[:, i : i + 20], form=form) for i in (0, 20)]
    np.testing.assert_allclose(wide, np.concatenate(narrow, axis=1), rtol=1e-6, atol=1e-6)
