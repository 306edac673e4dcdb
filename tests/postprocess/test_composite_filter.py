"""Tests for the composite filtering: it agrees with the staged one, and is built only where it pays."""

import numpy as np
import pytest

from deeplab_tf.postprocess.composite_filter import composite_pays
from deeplab_tf.postprocess.lattice import build_lattice
from deeplab_tf.postprocess.lattice_filter import gaussian_filter
from tests.postprocess.bilateral_features import bilateral_features


@pytest.mark.parametrize("image", ["noise", "smooth"])
def test_composite_and_staged_filterings_agree(image):
    rng = np.random.default_rng(2)
    if image == "noise":  # most vertices hold one pixel
        colours = rng.uniform(0, 255, (40, 48, 3))
    else:  # a few colours: hundreds of pixels per vertex, many merged paths
        colours = np.repeat(rng.uniform(0, 30, (4, 1, 3)), 10, axis=0).repeat(48, axis=1)
    lattice = build_lattice(bilateral_features(colours))
    values = rng.normal(size=(40 * 48, 3)).astype(np.float32)
    staged = gaussian_filter(lattice, values, form="staged").numpy()
    composite = gaussian_filter(lattice, values, form="composite").numpy()
    np.testing.assert_allclose(composite, staged, rtol=1e-5, atol=1e-5 * np.abs(staged).max())


def test_the_composite_is_chosen_where_vertices_hold_single_pixels_only():
    rng = np.random.default_rng(3)
    noise = build_lattice(bilateral_features(rng.uniform(0, 255, (64, 64, 3))))
    flat = build_lattice(bilateral_features(np.full((64, 64, 3), 128.0)))
    assert bool(composite_pays(noise))
    assert not bool(composite_pays(flat))
