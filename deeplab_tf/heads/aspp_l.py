"""DeepLab v2's ASPP-L: four atrous 3×3 classifiers whose logits are summed.

Chen et al., "DeepLab: Semantic Image Segmentation with Deep Convolutional Nets,
Atrous Convolution, and Fully Connected CRFs", https://arxiv.org/abs/1606.00915, §3.1.
"""

import keras

from deeplab_tf.layers import conv2d


@keras.saving.register_keras_serializable(package="deeplab_tf")
class ASPPL(keras.layers.Layer):
    """ASPP-L: one 3×3 atrous convolution to logits per rate, summed.

    Each branch is a biased 3×3 convolution straight to `num_classes`, as in the
    released DeepLab v2 ResNet-101 (`fc1_voc12_c0..c3`), initialised with a
    Gaussian of standard deviation 0.01.

    Args:
        num_classes: number of output logits per pixel.
        atrous_rates: one rate per branch, (6, 12, 18, 24) for ASPP-L.

    Example:
    ```python
    logits = ASPPL(num_classes=21)(backbone_features)  # [B, h, w, 21]
    ```
    """

    def __init__(self, num_classes, atrous_rates=(6, 12, 18, 24), **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.atrous_rates = tuple(atrous_rates)

        # === Layers ===
        # One attribute per branch: `tf.train.Checkpoint` does not see layers held in lists.
        for index, rate in enumerate(self.atrous_rates):
            branch = conv2d(
                num_classes,
                3,
                rate=rate,
                name=f"aspp_l_rate{rate}",
                kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                dtype=self.dtype_policy,
            )
            setattr(self, f"branch{index}", branch)

    @property
    def branches(self):
        return [getattr(self, f"branch{i}") for i in range(len(self.atrous_rates))]

    def build(self, input_shape):
        for branch in self.branches:
            if not branch.built:
                branch.build(input_shape)

    def call(self, features):
        logits = self.branches[0](features)
        for branch in self.branches[1:]:
            logits = logits + branch(features)
        return logits

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_classes)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "atrous_rates": list(self.atrous_rates),
        }
