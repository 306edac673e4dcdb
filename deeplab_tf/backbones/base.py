"""What every atrous backbone model shares: its outputs and its config round trip."""

import keras

from deeplab_tf.config import ModelConfig


class AtrousBackbone(keras.Model):
    """A functional backbone built from explicit arguments.

    Subclasses build their layers in `__init__`, end with `_finish`, list their
    arguments in `ARGUMENTS` (each kept as the attribute of that name) and map
    a `ModelConfig` to them in `config_arguments`. Saved as those arguments, so
    a `.keras` file rebuilds the same network.
    """

    ARGUMENTS = ()

    @classmethod
    def config_arguments(cls, config):
        """The constructor arguments of the backbone a `ModelConfig` describes."""
        raise NotImplementedError

    @classmethod
    def from_model_config(cls, config, **kwargs):
        """The backbone a `ModelConfig` (or its dict) describes; `kwargs` as the constructor's."""
        if isinstance(config, dict):
            config = ModelConfig.from_dict(config)
        return cls(**cls.config_arguments(config), **kwargs)

    def _finish(self, images, low_level, features, arguments, **kwargs):
        """Makes the functional model (features, or [low-level feature, features]) and keeps `arguments`."""
        outputs = [low_level, features] if arguments["low_level_output"] else features
        super().__init__(inputs=images, outputs=outputs, **kwargs)
        self.dtype_policy = kwargs.get("dtype")  # a functional model's own policy: Keras ignores `dtype` here
        for name in self.ARGUMENTS:
            setattr(self, name, arguments[name])

    def get_config(self):
        arguments = {name: getattr(self, name) for name in self.ARGUMENTS}
        return {
            **{name: list(value) if isinstance(value, tuple) else value for name, value in arguments.items()},
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        if "config" in config:  # saved before backbones took explicit arguments: a ModelConfig dict
            config = dict(config)
            return cls.from_model_config(config.pop("config"), **config)
        return cls(**config)
