"""How an image's class probabilities are computed at test time: scales, flip, sliding window."""

import dataclasses
import math

from deeplab_tf.errors import ConfigError

# The v3 paper's multi-scale test (§4.3, Table 6: 77.21 → 79.77 with OS8 and flip).
PAPER_EVAL_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)


@dataclasses.dataclass(frozen=True)
class InferenceSettings:
    """How an image's class probabilities are computed at test time.

    Args:
        scales: the image is resized by each factor, run, and its softmax
            probabilities (from the logits resized back to the image) averaged.
        flip: also run each scale left-right flipped (flipped back, averaged
            with the rest), in the same batch as the unflipped image.
        window_size: (height, width) of sliding-window tiles for images larger
            than the training crop (Cityscapes 1024×2048 with 769 crops); tiles
            overlap and their logits are averaged. None runs whole images.
        window_overlap: fraction of a tile shared with its neighbour, in [0, 1).
    """

    scales: tuple = (1.0,)
    flip: bool = False
    window_size: tuple = None
    window_overlap: float = 1.0 / 3.0

    def __post_init__(self):
        scales = tuple(float(s) for s in self.scales)
        if not scales or any(not (math.isfinite(s) and s > 0) for s in scales):
            raise ConfigError("eval_scales", f"must be positive numbers, got {list(self.scales)}")
        object.__setattr__(self, "scales", scales)
        if self.window_size is not None:
            size = tuple(self.window_size)
            size = size * 2 if len(size) == 1 else size
            if len(size) != 2 or any(not isinstance(v, int) or v < 1 for v in size):
                raise ConfigError("window_size", f"must be 1 or 2 positive integers, got {self.window_size}")
            object.__setattr__(self, "window_size", size)
        if not 0.0 <= self.window_overlap < 1.0:
            raise ConfigError("window_overlap", f"must be in [0, 1), got {self.window_overlap}")

    @property
    def num_passes(self):
        return len(self.scales) * (2 if self.flip else 1)

    def to_dict(self):
        return {
            "eval_scales": list(self.scales),
            "flip": self.flip,
            "window_size": list(self.window_size) if self.window_size else None,
            "window_overlap": self.window_overlap if self.window_size else None,
        }
