"""Resizes that give the same numbers whether or not XLA compiles them.

TensorFlow 2.21's XLA lowering of bilinear `tf.image.resize` is wrong at some
sizes (e.g. 9 → 129, the logits of a 129 crop at OS16; upstream
tensorflow/tensorflow#118344 and #118467). Where XLA compiles the graph (a
`tf.function(jit_compile=True)`, Keras' `jit_compile`, a TPU), these functions
build the resize from ops XLA lowers exactly: bilinear as two matmuls with
interpolation matrices, nearest as two gathers. Elsewhere (eager, plain
`tf.function`, SavedModel and TFLite export) they are `tf.image.resize`'s own
ops, which are faster there and which TFLite keeps as RESIZE_BILINEAR.

The weights are TensorFlow's kernels', float32 rounding included; where the
sizes are known when the graph is traced (always in training, whose crops are
fixed) they are computed then, op by op, and enter the graph as constants, so
that no compiler can fuse their arithmetic into a different rounding. The
matmuls run at the matmul precision the device is set to, as the network's
convolutions do (TensorFloat-32 on Ampere GPUs unless it is turned off).
"""

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import ops
from tensorflow.python.ops import control_flow_util


def in_xla_context():
    """Whether the graph being traced is XLA-compiled; `tf.function` itself asks this way."""
    return control_flow_util.GraphOrParentsInXlaContext(ops.get_default_graph())


def spatial_size(tensor):
    """(height, width) of [B, H, W, ...] `tensor`: Python ints where known at trace time, else int32 scalars."""
    static = tensor.shape[1:3]
    if None not in static:
        return tuple(int(side) for side in static)
    dynamic = tf.shape(tensor)
    return tuple(dynamic[axis] if static[axis - 1] is None else int(static[axis - 1]) for axis in (1, 2))


def scaled_size(size, scale):
    """ceil(size × scale) in float32, v2's multi-scale input size (a 321 crop at 0.5 → 161).

    `size`: (height, width) as from `spatial_size`: a tuple of ints where they are
    all ints (the same float32 arithmetic, in NumPy), else an int32 tensor.
    """
    if isinstance(size, (tuple, list)) and all(isinstance(side, (int, np.integer)) for side in size):
        return tuple(int(np.ceil(np.float32(side) * np.float32(scale))) for side in size)
    return tf.cast(tf.math.ceil(tf.cast(tf.convert_to_tensor(size), tf.float32) * scale), tf.int32)


def resize_bilinear(images, size):
    """`tf.image.resize(images, size)`: [B, H, W, C] → float32 [B, size[0], size[1], C], bilinear.

    TF2's bilinear resize: half-pixel centres, no antialiasing. Where XLA
    compiles, two matmuls (heights, then widths), whose gradient is two
    matmuls as well; a non-finite value then spreads along its row and column
    instead of staying among its neighbours (a non-finite step is skipped
    either way).

    Args:
        images: [B, H, W, C], any float dtype (computed in float32).
        size: (height, width), ints or int32 scalars (e.g. `spatial_size(reference)`).
    """
    if not in_xla_context():
        return tf.image.resize(images, size)
    images = tf.cast(images, tf.float32)
    in_height, in_width = spatial_size(images)
    rows = _along_axis(_bilinear_matrix, in_height, size[0])
    columns = _along_axis(_bilinear_matrix, in_width, size[1])
    # rows · images over the heights, then columns · that over the widths. (tensordot, not einsum: the
    # same dots, but einsum's gradient graph takes XLA half as long again to compile.)
    images = tf.transpose(tf.tensordot(rows, images, [[1], [1]]), [1, 0, 2, 3])  # [B, size[0], W, C]
    return tf.transpose(tf.tensordot(columns, images, [[1], [2]]), [1, 2, 0, 3])


def resize_nearest_align_corners(images, size):
    """Nearest-neighbour resize of [B, H, W, C] `images` (any dtype) to `size`, corners aligned.

    The `ResizeNearestNeighbor(align_corners=True)` op (TF2's `tf.image.resize`
    has no corner alignment); where XLA compiles, the same picks as two gathers.
    """
    if not in_xla_context():
        size = tf.cast(tf.convert_to_tensor(size), tf.int32)
        return tf.raw_ops.ResizeNearestNeighbor(images=images, size=size, align_corners=True,
                                                half_pixel_centers=False)
    in_height, in_width = spatial_size(images)
    images = tf.gather(images, _along_axis(_nearest_indices, in_height, size[0]), axis=1)
    return tf.gather(images, _along_axis(_nearest_indices, in_width, size[1]), axis=2)


def _along_axis(weights, in_size, out_size):
    """`weights(in_size, out_size)`: a constant computed now where both sizes are known, else graph ops."""
    if isinstance(in_size, (int, np.integer)) and isinstance(out_size, (int, np.integer)):
        with tf.init_scope():  # eagerly, out of the graph being traced
            return tf.constant(weights(tf.constant(int(in_size)), tf.constant(int(out_size))).numpy())
    return weights(tf.cast(in_size, tf.int32), tf.cast(out_size, tf.int32))


def _bilinear_matrix(in_size, out_size):
    """float32 [out_size, in_size] weights of TF2's bilinear resize along one axis.

    As TensorFlow's kernel (`compute_interpolation_weights`, half-pixel
    centres): output i samples the input at x = (i + 0.5) · (in / out) − 0.5,
    between the neighbours ⌊x⌋ and ⌈x⌉ clamped to the input, weighted
    1 − (x − ⌊x⌋) and x − ⌊x⌋.
    """
    scale = tf.cast(in_size, tf.float32) / tf.cast(out_size, tf.float32)
    x = (tf.cast(tf.range(out_size), tf.float32) + 0.5) * scale - 0.5
    floor = tf.floor(x)
    lerp = (x - floor)[:, None]
    lower = tf.maximum(tf.cast(floor, tf.int32), 0)
    upper = tf.minimum(tf.cast(tf.math.ceil(x), tf.int32), in_size - 1)
    return tf.one_hot(lower, in_size) * (1.0 - lerp) + tf.one_hot(upper, in_size) * lerp


def _nearest_indices(in_size, out_size):
    """int32 [out_size]: the input index each output takes along one axis with corners aligned.

    As TensorFlow's kernel: roundf(i · (in − 1) / (out − 1)), at most in − 1
    (halves round up, where `tf.round` would round them to even).
    """
    out_float = tf.cast(out_size, tf.float32)
    scale = tf.where(out_size > 1, tf.cast(in_size - 1, tf.float32) / tf.maximum(out_float - 1.0, 1.0),
                     tf.cast(in_size, tf.float32) / out_float)
    x = tf.cast(tf.range(out_size), tf.float32) * scale
    floor = tf.floor(x)
    rounded = tf.cast(floor, tf.int32) + tf.cast(x - floor >= 0.5, tf.int32)
    return tf.minimum(rounded, in_size - 1)
