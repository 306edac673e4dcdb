"""The BatchNormalization after a convolution, or nothing where BN is folded into it."""

import keras


class BatchNormAfterConv:
    """Makes the BatchNormalization that follows a convolution, unless BN is folded.

    Args:
        momentum: the moving-average decay (`ModelConfig.batch_norm_decay`).
        epsilon: the BN epsilon. The backbones keep the one of the
            `keras.applications` network whose weights they take, so that
            those weights reproduce it.
        folded: the inference form (`deeplab_tf.fold_batch_norms`): no BN
            layers, and every convolution has a bias to hold the folded shift.
        dtype: the dtype policy of the layers made; None takes the global one.
    """

    def __init__(self, momentum, epsilon, folded, dtype=None):
        self.momentum = momentum
        self.epsilon = epsilon
        self.folded = folded
        self.dtype = dtype

    def conv_bias(self, bias=False):
        # A folded BatchNormalization leaves its shift in the convolution's bias.
        return bias or self.folded

    def layer(self, name):
        """The BN layer, or, folded, an Identity of the same name for a head that calls one."""
        if self.folded:
            return keras.layers.Identity(name=name, dtype=self.dtype)
        return keras.layers.BatchNormalization(momentum=self.momentum, epsilon=self.epsilon, name=name,
                                               dtype=self.dtype)

    def __call__(self, x, name):
        """`x` through the BN, or `x` itself when folded (a functional network then has no layer there)."""
        return x if self.folded else self.layer(name)(x)
