"""Segmentation heads: v3's ASPP with image pooling, v3+'s decoder and v2's ASPP-L."""

from deeplab_tf.heads.aspp import ASPP
from deeplab_tf.heads.aspp_l import ASPPL
from deeplab_tf.heads.decoder import Decoder

__all__ = ["ASPP", "ASPPL", "Decoder"]
