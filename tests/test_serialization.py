"""Every registered layer class survives a `get_config` → `from_config` round trip."""

import keras

import deeplab_tf
from deeplab_tf import ModelConfig, build_model
from deeplab_tf import metrics  # noqa: F401  (registers its classes)
from deeplab_tf import schedules  # noqa: F401


def _registered_layer_classes():
    return {cls for name, cls in keras.saving.get_custom_objects().items()
            if name.startswith("deeplab_tf>") and isinstance(cls, type) and issubclass(cls, keras.layers.Layer)}


def _instances():
    """One built instance of each registered layer class, from the v3, v3+ (MobileNetV2) and v2 (MSC) networks."""
    v3 = build_model(ModelConfig(variant="v3", backbone="resnet18", output_stride=16, multi_grid=(1, 2),
                                 num_classes=3))
    v2 = build_model(ModelConfig(variant="v2", backbone="resnet18", output_stride=8, multi_grid=(1, 1),
                                 num_classes=3, msc_scales=(1.0, 0.5)))
    v3plus = build_model(ModelConfig(variant="v3plus", backbone="mobilenetv2", width_multiplier=0.5,
                                     output_stride=8, num_classes=3))
    found = {}
    networks = [v3, v2, v3plus]
    for layer in networks + [child for network in networks for child in network._flatten_layers(include_self=False)]:
        found.setdefault(type(layer), layer)
    return found


def test_every_registered_layer_round_trips_its_config():
    registered = _registered_layer_classes()
    assert deeplab_tf.DeepLab in registered and len(registered) >= 6
    instances = _instances()
    assert registered <= set(instances), f"no instance built for {registered - set(instances)}"
    for cls in sorted(registered, key=lambda c: c.__name__):
        config = instances[cls].get_config()
        clone = cls.from_config(config)
        assert type(clone) is cls
        assert clone.get_config() == config, cls.__name__
