"""BatchNormalization folded into the convolution before it, for inference and export."""

import keras
import numpy as np

from deeplab_tf.errors import InputError
from deeplab_tf.models import DeepLab, MultiScaleDeepLab, build_model


def fold_batch_norms(model):
    """The inference form of a DeepLab model: each Conv → BatchNormalization is one convolution.

    With inference statistics a BatchNormalization is the affine map
    `y = (x − mean) · γ / sqrt(var + ε) + β` per channel, so the convolution
    before it can absorb it: its kernel is scaled by `γ / sqrt(var + ε)` and its
    bias becomes `(bias − mean) · γ / sqrt(var + ε) + β`. The network then runs
    without the two or three elementwise passes (and, under a mixed policy, the
    float32 casts) of every BatchNormalization, and each convolution's bias and
    ReLU fuse into it. Outputs equal the original's in inference mode up to
    float rounding. The folded model is for inference and export only: it has
    no BatchNormalization left to train.

    Args:
        model: a `DeepLab` or `MultiScaleDeepLab` (not already folded).

    Returns:
        A new model of the same class and dtype policy (e.g. mixed_bfloat16),
        built with `fold_batch_norm=True`.
    """
    if not isinstance(model, (DeepLab, MultiScaleDeepLab)):
        raise InputError(f"fold_batch_norms: needs a DeepLab model, got {type(model).__name__}")
    if model.fold_batch_norm:
        raise InputError(f"fold_batch_norms: {model.name} is already folded")
    originals = {layer.name: layer for layer in _all_layers(model)}
    folded = build_model(model.model_config, fold_batch_norm=True, dtype_policy=model.dtype_policy)
    used = set()
    for layer in _all_layers(folded):
        if not layer.weights:
            continue
        source = originals[layer.name]
        batch_norm = _batch_norm_after(layer.name, originals)
        convolution = isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))
        if convolution and isinstance(batch_norm, keras.layers.BatchNormalization):
            layer.set_weights(_folded_conv_weights(source, batch_norm))
            used.add(batch_norm.name)
        else:
            layer.set_weights(source.get_weights())
    left = sorted(name for name, layer in originals.items()
                  if isinstance(layer, keras.layers.BatchNormalization) and name not in used)
    if left:
        raise InputError(f"fold_batch_norms: no convolution before BatchNormalization {left}")
    return folded


def _batch_norm_after(conv_name, layers):
    """The BatchNormalization layer that follows convolution `conv_name`, or None.

    The namings of every Conv → BN pair in this library: keras.applications'
    ResNet ("conv2_block1_1_conv" → "conv2_block1_1_bn") and MobileNetV2
    ("block_1_expand" → "block_1_expand_BN", "Conv1" → "bn_Conv1"), and the
    heads' ("aspp_rate6" → "aspp_rate6_bn").
    """
    stem = conv_name[: -len("_conv")] if conv_name.endswith("_conv") else conv_name
    for name in (f"{stem}_bn", f"{conv_name}_BN", f"bn_{conv_name}"):
        if name in layers:
            return layers[name]
    return None


def _folded_conv_weights(conv, batch_norm):
    kernel = np.asarray(conv.kernel, np.float64)
    channels = conv.kernel.shape[2] * conv.kernel.shape[3] if _is_depthwise(conv) else kernel.shape[-1]
    bias = np.asarray(conv.bias, np.float64) if conv.use_bias else np.zeros(channels)
    gamma = np.asarray(batch_norm.gamma, np.float64) if batch_norm.scale else 1.0
    beta = np.asarray(batch_norm.beta, np.float64) if batch_norm.center else 0.0
    mean = np.asarray(batch_norm.moving_mean, np.float64)
    variance = np.asarray(batch_norm.moving_variance, np.float64)
    scale = gamma / np.sqrt(variance + batch_norm.epsilon)
    dtype = conv.kernel.dtype
    # A depthwise kernel is [h, w, channels, multiplier]: output channel c·multiplier + m.
    kernel_scale = scale.reshape(kernel.shape[2:]) if _is_depthwise(conv) else scale
    return [(kernel * kernel_scale).astype(dtype), ((bias - mean) * scale + beta).astype(dtype)]


def _is_depthwise(layer):
    return isinstance(layer, keras.layers.DepthwiseConv2D)


def _all_layers(model):
    """The leaf layers (those that own their weights) of a nested model, each once."""
    layers = model._flatten_layers(include_self=False, recursive=True)
    return [layer for layer in layers if not any(True for _ in layer._flatten_layers(include_self=False))]
