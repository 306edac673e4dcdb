"""What every atrous backbone model shares: its outputs and its config round trip."""

import keras

from deeplab_tf.config import ModelConfig


class AtrousBackbone(keras.Model):
    """A functional backbone built from a `ModelConfig`.

    Subclasses build their layers in `__init__` and end with `_finish`. Saved
    as (config, fold_batch_norm, low_level_output), so a `.keras` file rebuilds
    the same network.
    """

    @staticmethod
    def _model_config(config):
        return ModelConfig.from_dict(config) if isinstance(config, dict) else config

    def _finish(self, images, low_level, features, config, fold_batch_norm, low_level_output, **kwargs):
        """Makes the functional model: features, or [low-level feature, features]."""
        outputs = [low_level, features] if low_level_output else features
        super().__init__(inputs=images, outputs=outputs, **kwargs)
        self.model_config = config
        self.fold_batch_norm = fold_batch_norm
        self.low_level_output = low_level_output

    def get_config(self):
        return {
            "config": self.model_config.to_dict(),
            "fold_batch_norm": self.fold_batch_norm,
            "low_level_output": self.low_level_output,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
