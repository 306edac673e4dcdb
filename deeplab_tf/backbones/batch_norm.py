"""The BatchNormalization after each backbone convolution, or nothing in the folded form."""

import keras


class BatchNormAfterConv:
    """Makes the BatchNormalization that follows a convolution, unless BN is folded.

    Args:
        config: the `ModelConfig`; its `batch_norm_decay` is the momentum.
        folded: the inference form (`deeplab_tf.fold_batch_norms`): no BN
            layers, and every convolution has a bias to hold the folded shift.
        epsilon: the BN epsilon of the `keras.applications` network whose
            weights the backbone takes, so that they reproduce it.
    """

    def __init__(self, config, folded, epsilon):
        self.config = config
        self.folded = folded
        self.epsilon = epsilon

    def conv_bias(self, bias):
        # A folded BatchNormalization leaves its shift in the convolution's bias.
        return bias or self.folded

    def __call__(self, x, name):
        if self.folded:
            return x
        return keras.layers.BatchNormalization(
            momentum=self.config.batch_norm_decay, epsilon=self.epsilon, name=name
        )(x)
