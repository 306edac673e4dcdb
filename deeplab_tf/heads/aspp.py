"""DeepLab v3's Atrous Spatial Pyramid Pooling with image-level features.

Chen et al., "Rethinking Atrous Convolution for Semantic Image Segmentation",
https://arxiv.org/abs/1706.05587, §3.3.
"""

import keras

from deeplab_tf.layers import BatchNormAfterConv, conv2d, resize

HEAD_BN_EPSILON = 1e-5  # the heads' BatchNormalization epsilon (ASPP and the v3+ decoder)


@keras.saving.register_keras_serializable(package="deeplab_tf")
class ASPP(keras.layers.Layer):
    """ASPP: parallel atrous branches + image pooling, concatenated and projected.

    Branches, each `filters` channels with BatchNormalization and ReLU: a 1×1
    convolution; one 3×3 convolution per atrous rate; and, with
    `image_pooling`, global average pooling → 1×1 conv → BN → ReLU, upsampled
    bilinearly to the feature size (a copy to every pixel). They are concatenated, projected by a 1×1
    convolution with BN and ReLU, and dropped out in training. The pooling
    branch reads the feature size at run time, so any input size works, and at
    batch size 1 its BN sees one value per channel (use frozen BN there, as the
    paper's second stage does).

    Args:
        filters: channels of every branch and of the projection (256).
        atrous_rates: rates of the 3×3 branches, (6, 12, 18) at OS16.
        image_pooling: add the image-level branch.
        batch_norm_decay: moving-average decay of the BN layers.
        dropout_rate: dropout after the projection (0.1).
        fold_batch_norm: the inference form: biased convolutions and no
            BatchNormalization (weights from `deeplab_tf.fold_batch_norms`).

    Example:
    ```python
    head = ASPP(filters=256, atrous_rates=(6, 12, 18))
    features = head(backbone_features)  # [B, h, w, 256]
    ```
    """

    def __init__(
        self,
        filters=256,
        atrous_rates=(6, 12, 18),
        image_pooling=True,
        batch_norm_decay=0.9997,
        dropout_rate=0.1,
        fold_batch_norm=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = filters
        self.atrous_rates = tuple(atrous_rates)
        self.image_pooling = image_pooling
        self.batch_norm_decay = batch_norm_decay
        self.dropout_rate = dropout_rate
        self.fold_batch_norm = fold_batch_norm

        # === Layers ===
        norm = BatchNormAfterConv(batch_norm_decay, HEAD_BN_EPSILON, fold_batch_norm, self.dtype_policy)

        def conv(kernel_size, rate, name):
            return conv2d(
                filters, kernel_size, rate=rate, use_bias=norm.conv_bias(), name=name, dtype=self.dtype_policy
            )

        # One attribute per sublayer: `tf.train.Checkpoint` does not see layers held in lists.
        self.conv1x1 = conv(1, 1, "aspp_conv1x1")
        self.conv1x1_bn = norm.layer("aspp_conv1x1_bn")
        for index, rate in enumerate(self.atrous_rates):
            setattr(self, f"atrous_conv{index}", conv(3, rate, f"aspp_rate{rate}"))
            setattr(self, f"atrous_conv{index}_bn", norm.layer(f"aspp_rate{rate}_bn"))
        if image_pooling:
            self.pool = keras.layers.GlobalAveragePooling2D(keepdims=True, dtype=self.dtype_policy)
            self.pool_conv = conv(1, 1, "image_pooling_conv")
            self.pool_bn = norm.layer("image_pooling_bn")
        self.concat = keras.layers.Concatenate(dtype=self.dtype_policy)
        self.projection = conv(1, 1, "aspp_projection")
        self.projection_bn = norm.layer("aspp_projection_bn")
        self.dropout = keras.layers.Dropout(dropout_rate, dtype=self.dtype_policy)

    @property
    def branch_convs(self):
        return [self.conv1x1] + [getattr(self, f"atrous_conv{i}") for i in range(len(self.atrous_rates))]

    @property
    def branch_bns(self):
        return [self.conv1x1_bn] + [getattr(self, f"atrous_conv{i}_bn") for i in range(len(self.atrous_rates))]

    def build(self, input_shape):
        # Sublayers are built here so that a saved model's weights have places to load into.
        branch_shape = (*input_shape[:-1], self.filters)
        pooled_shape = (input_shape[0], 1, 1, input_shape[-1])
        num_branches = len(self.branch_convs) + int(self.image_pooling)
        concat_shape = (*input_shape[:-1], self.filters * num_branches)
        plan = [(conv, input_shape) for conv in self.branch_convs]
        plan += [(bn, branch_shape) for bn in self.branch_bns]
        if self.image_pooling:
            plan += [(self.pool_conv, pooled_shape), (self.pool_bn, pooled_shape[:-1] + (self.filters,))]
        plan += [(self.projection, concat_shape), (self.projection_bn, branch_shape)]
        for layer, shape in plan:
            if not layer.built:
                layer.build(shape)

    def call(self, features, training=None):
        outputs = []
        for conv, bn in zip(self.branch_convs, self.branch_bns):
            outputs.append(keras.ops.relu(bn(conv(features), training=training)))
        if self.image_pooling:
            pooled = self.pool(features)
            pooled = keras.ops.relu(self.pool_bn(self.pool_conv(pooled), training=training))
            # Bilinear upsampling of a 1×1 map copies it to every pixel. It is the logits' resize
            # (layers/resize.py): exact under XLA, and RESIZE_BILINEAR in TFLite, which the mobile GPU
            # runs; a broadcast became BROADCAST_TO, which the GPU refuses, and a tile of run-time
            # multiples broke OpenVINO's shape inference (docs/deployment.md).
            upsampled = resize.resize_bilinear(keras.ops.cast(pooled, "float32"), resize.spatial_size(outputs[0]))
            outputs.append(keras.ops.cast(upsampled, pooled.dtype))
        x = self.concat(outputs)
        x = keras.ops.relu(self.projection_bn(self.projection(x), training=training))
        return self.dropout(x, training=training)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "atrous_rates": list(self.atrous_rates),
            "image_pooling": self.image_pooling,
            "batch_norm_decay": self.batch_norm_decay,
            "dropout_rate": self.dropout_rate,
            "fold_batch_norm": self.fold_batch_norm,
        }
