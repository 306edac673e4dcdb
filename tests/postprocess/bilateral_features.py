"""The dense CRF's bilateral features of a generated image, for the lattice and CRF tests."""

import numpy as np


def bilateral_features(colours, xy_std=67.0, rgb_std=3.0):
    """The dense CRF's bilateral features (x, y, r, g, b) of an [H, W, 3] image."""
    rows, columns = np.mgrid[: colours.shape[0], : colours.shape[1]]
    positions = np.stack([columns, rows], axis=-1).reshape(-1, 2) / xy_std
    return np.concatenate([positions, colours.reshape(-1, 3) / rgb_std], axis=1).astype(np.float32)
