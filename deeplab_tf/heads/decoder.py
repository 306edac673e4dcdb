"""DeepLab v3+'s decoder: the ASPP output refined with a stride-4 backbone feature.

Chen et al., "Encoder-Decoder with Atrous Separable Convolution for Semantic Image
Segmentation", https://arxiv.org/abs/1802.02611, §3.1 and Fig. 2.
"""

import keras
import tensorflow as tf

from deeplab_tf.heads.aspp import HEAD_BN_EPSILON
from deeplab_tf.layers import BatchNormAfterConv, conv2d, depthwise_conv2d
from deeplab_tf.layers.resize import resize_bilinear, spatial_size

LOW_LEVEL_FILTERS = 48  # the paper's Table 1: 48 channels for the 1×1 projection


@keras.saving.register_keras_serializable(package="deeplab_tf")
class Decoder(keras.layers.Layer):
    """The v3+ decoder: `[aspp_features, low_level]` → refined features at the low-level stride.

    The low-level feature is projected to 48 channels (1×1 convolution, BN,
    ReLU), so that it does not outweigh the encoder's 256; the ASPP output is
    bilinearly upsampled to its size; the two are concatenated and refined by
    two 3×3 convolutions of `filters` channels, each with BN and ReLU. These are
    depthwise-separable by default, as in the paper (§3.2) and official DeepLab:
    a depthwise 3×3 with BN and ReLU, then a pointwise 1×1 with BN and ReLU.

    Args:
        filters: channels of the two 3×3 convolutions (256).
        separable: depthwise-separable 3×3 convolutions; False: regular ones.
        batch_norm_decay: moving-average decay of the BN layers.
        fold_batch_norm: the inference form: biased convolutions and no
            BatchNormalization (weights from `deeplab_tf.fold_batch_norms`).

    Example:
    ```python
    refined = Decoder()([aspp_features, low_level])  # [B, H/4, W/4, 256]
    ```
    """

    def __init__(self, filters=256, separable=True, batch_norm_decay=0.9997, fold_batch_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.separable = separable
        self.batch_norm_decay = batch_norm_decay
        self.fold_batch_norm = fold_batch_norm

        # === Layers ===
        norm = BatchNormAfterConv(batch_norm_decay, HEAD_BN_EPSILON, fold_batch_norm, self.dtype_policy)
        options = dict(use_bias=norm.conv_bias(), dtype=self.dtype_policy)
        # Each convolution is followed by the BN named after it with "_bn" (see fold_batch_norms).
        self.projection = conv2d(LOW_LEVEL_FILTERS, 1, name="decoder_low_level_projection", **options)
        self.projection_bn = norm.layer("decoder_low_level_projection_bn")
        self.concat = keras.layers.Concatenate(dtype=self.dtype_policy)
        # One attribute per sublayer: `tf.train.Checkpoint` does not see layers held in lists.
        for index in range(2):
            name = f"decoder_conv{index}"
            if separable:
                setattr(self, f"depthwise{index}", depthwise_conv2d(3, name=f"{name}_depthwise", **options))
                setattr(self, f"depthwise{index}_bn", norm.layer(f"{name}_depthwise_bn"))
                setattr(self, f"conv{index}", conv2d(filters, 1, name=f"{name}_pointwise", **options))
                setattr(self, f"conv{index}_bn", norm.layer(f"{name}_pointwise_bn"))
            else:
                setattr(self, f"conv{index}", conv2d(filters, 3, name=name, **options))
                setattr(self, f"conv{index}_bn", norm.layer(f"{name}_bn"))

    def _refinement(self):
        """(layer, its BN) of the two 3×3 convolutions, in order."""
        pairs = []
        for index in range(2):
            if self.separable:
                pairs.append((getattr(self, f"depthwise{index}"), getattr(self, f"depthwise{index}_bn")))
            pairs.append((getattr(self, f"conv{index}"), getattr(self, f"conv{index}_bn")))
        return pairs

    def build(self, input_shapes):
        # Sublayers are built here so that a saved model's weights have places to load into.
        features_shape, low_level_shape = input_shapes
        self.projection.build(low_level_shape)
        shape = (*low_level_shape[:-1], LOW_LEVEL_FILTERS)
        self.projection_bn.build(shape)
        shape = (*low_level_shape[:-1], LOW_LEVEL_FILTERS + features_shape[-1])
        for layer, bn in self._refinement():
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
            bn.build(shape)

    def call(self, inputs, training=None):
        features, low_level = inputs
        low_level = keras.ops.relu(self.projection_bn(self.projection(low_level), training=training))
        features = tf.cast(resize_bilinear(features, spatial_size(low_level)), low_level.dtype)
        x = self.concat([features, low_level])
        for layer, bn in self._refinement():
            x = keras.ops.relu(bn(layer(x), training=training))
        return x

    def compute_output_shape(self, input_shapes):
        return (*input_shapes[1][:-1], self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "separable": self.separable,
            "batch_norm_decay": self.batch_norm_decay,
            "fold_batch_norm": self.fold_batch_norm,
        }
