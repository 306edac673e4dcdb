"""Loading `keras.applications` ResNet-50/101 and MobileNetV2 ImageNet weights into our backbones."""

import os

import keras

from deeplab_tf.backbones.mobilenet_v2 import IMAGENET_LAYERS_LEFT_OUT, AtrousMobileNetV2
from deeplab_tf.errors import ConfigError

_APPLICATIONS = {
    "resnet50": keras.applications.ResNet50,
    "resnet101": keras.applications.ResNet101,
    "mobilenetv2": keras.applications.MobileNetV2,
}


def load_imagenet_weights(model_or_backbone, source):
    """Copies ImageNet weights layer by layer, by `keras.applications` layer name.

    Args:
        model_or_backbone: a `DeepLab` model (its backbone is used), an
            `AtrousResNet` built for "resnet50" or "resnet101", or an
            `AtrousMobileNetV2` (of the source's width multiplier).
        source: a `keras.applications.ResNet50/101` or `MobileNetV2` model
            (`include_top=False`; MobileNetV2's 1280-channel head and classifier
            are skipped), or the path of its weights file: the `..._notop.h5`
            (`..._no_top.h5`) that `keras.applications` downloads, or a
            `.weights.h5` saved by Keras 3.

    Returns:
        The names of the layers whose weights were copied.

    Raises:
        ConfigError (field `backbone_weights`): the backbone has no `keras.applications` counterpart, the
            file is missing or unreadable, or a layer's shapes disagree.
    """
    backbone = getattr(model_or_backbone, "backbone", model_or_backbone)
    mobilenet = isinstance(backbone, AtrousMobileNetV2)
    architecture = "mobilenetv2" if mobilenet else f"resnet{backbone.depth}"
    if isinstance(source, (str, os.PathLike)):
        width = {"alpha": backbone.alpha} if mobilenet else {}
        source = _read_weights_file(architecture, width, os.fspath(source))

    left_out = IMAGENET_LAYERS_LEFT_OUT if mobilenet else ()
    copied = []
    for layer in source.layers:
        weights = layer.get_weights()
        if not weights or layer.name in left_out:
            continue
        try:
            target = backbone.get_layer(layer.name)
        except ValueError:
            raise ConfigError("backbone_weights", f"layer {layer.name!r} of {source.name} has no counterpart "
                              f"in {architecture}; is the source the right depth?") from None
        ours = [w.shape for w in target.get_weights()]
        theirs = [w.shape for w in weights]
        if ours != theirs:
            raise ConfigError("backbone_weights",
                              f"layer {layer.name!r} has shapes {theirs} in the source but {ours} here")
        target.set_weights(weights)
        copied.append(layer.name)
    if not copied:
        raise ConfigError("backbone_weights", f"{source.name} holds no weights to copy")
    return copied


def _read_weights_file(architecture, width, path):
    if architecture not in _APPLICATIONS:
        raise ConfigError("backbone_weights", "ImageNet weights exist for resnet50, resnet101 and mobilenetv2, "
                          f"not {architecture}")
    if not os.path.isfile(path):
        raise ConfigError("backbone_weights", f"no such file: {path}")
    reference = _APPLICATIONS[architecture](weights=None, include_top=False, **width)
    try:
        reference.load_weights(path, skip_mismatch=False)
    except Exception as error:  # h5py and Keras raise many types for a bad file.
        raise ConfigError("backbone_weights", f"cannot read {path}: {error}") from None
    return reference
