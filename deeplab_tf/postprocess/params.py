"""The dense CRF's kernel parameters, with DeepLab v2's released values as defaults."""

import dataclasses
import math

from deeplab_tf.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class CRFParams:
    """Weights and widths of the two Gaussian edge potentials and the iteration count.

    The pairwise potential of Krähenbühl & Koltun (NIPS 2011) with Potts
    compatibility is
        w1·exp(−|p_i−p_j|²/2θα² − |I_i−I_j|²/2θβ²) + w2·exp(−|p_i−p_j|²/2θγ²),
    positions p in pixels and colours I in RGB units. The defaults are DeepLab
    v2's released ResNet-101 VOC values (bi_w=4, bi_xy_std=67, bi_rgb_std=3,
    pos_w=3, pos_xy_std=1, 10 mean-field iterations).

    Attributes:
        bilateral_weight: w1, the appearance kernel's weight.
        bilateral_xy_std: θα, its position width in pixels.
        bilateral_rgb_std: θβ, its colour width in RGB units.
        gaussian_weight: w2, the smoothness kernel's weight.
        gaussian_xy_std: θγ, its position width in pixels.
        iterations: mean-field iterations.
    """

    bilateral_weight: float = 4.0
    bilateral_xy_std: float = 67.0
    bilateral_rgb_std: float = 3.0
    gaussian_weight: float = 3.0
    gaussian_xy_std: float = 1.0
    iterations: int = 10

    def __post_init__(self):
        for name in ("bilateral_xy_std", "bilateral_rgb_std", "gaussian_xy_std"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(name, f"must be a positive number, got {value!r}")
        for name in ("bilateral_weight", "gaussian_weight"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(name, f"must be a number >= 0, got {value!r}")
        iterations = self.iterations
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
            raise ConfigError("iterations", f"must be an integer >= 0, got {iterations!r}")
