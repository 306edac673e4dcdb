"""Tests for filtering on the lattice: it approximates a Gaussian filter, for values of any width."""

import numpy as np
import pytest

from deeplab_tf.postprocess.lattice import build_lattice
from deeplab_tf.postprocess.lattice_filter import gaussian_filter
from tests.postprocess.bilateral_features import bilateral_features


@pytest.mark.parametrize("dimensions", [2, 5])
def test_normalised_lattice_filter_approximates_exact_gaussian(dimensions):
    rng = np.random.default_rng(dimensions)
    features = rng.uniform(0, 4, (300, dimensions)).astype(np.float32)
    values = rng.uniform(0, 1, (300, 2)).astype(np.float32)
    kernel = np.exp(-0.5 * np.sum((features[:, None] - features[None]) ** 2, axis=-1))
    exact = kernel @ values / kernel.sum(axis=1, keepdims=True)
    lattice = build_lattice(features)
    filtered = gaussian_filter(lattice, values).numpy()
    total = gaussian_filter(lattice, np.ones((300, 1), np.float32)).numpy()
    error = np.abs(filtered / total - exact).mean()
    # Not filtering at all is off by ~0.23; the lattice's approximation by < 0.01.
    assert error < 0.015
    assert np.all(total > 0)


@pytest.mark.parametrize("form", ["staged", "composite"])
def test_values_wider_than_the_matmul_kernels_limit_filter_as_their_columns_apart(form):
    # 40 columns run in blocks of 16 (TF's CPU kernel is slower per column from 32 on).
    rng = np.random.default_rng(4)
    lattice = build_lattice(bilateral_features(rng.uniform(0, 255, (24, 20, 3))))
    values = rng.normal(size=(24 * 20, 40)).astype(np.float32)
    wide = gaussian_filter(lattice, values, form=form).numpy()
    narrow = [gaussian_filter(lattice, values[:, i : i + 20], form=form) for i in (0, 20)]
    np.testing.assert_allclose(wide, np.concatenate(narrow, axis=1), rtol=1e-6, atol=1e-6)
