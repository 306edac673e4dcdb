"""Segmentation heads: v3's ASPP with image pooling and v2's ASPP-L."""

from deeplab_tf.heads.aspp import ASPP
from deeplab_tf.heads.aspp_l import ASPPL

__all__ = ["ASPP", "ASPPL"]
