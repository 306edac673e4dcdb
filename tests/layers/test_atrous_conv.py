"""AtrousConv2D: one native dilated convolution, sliced over input channels for bfloat16 on CPU."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.layers import AtrousConv2D
from deeplab_tf.layers.atrous_conv import CPU_BFLOAT16_SLICE, cpu_runs_dilations


def _conv_ops(layer, inputs):
    graph = tf.function(layer).get_concrete_function(inputs).graph
    return [op.type for op in graph.get_operations() if op.type == "Conv2D"]


@pytest.mark.parametrize("channels", [CPU_BFLOAT16_SLICE, 2 * CPU_BFLOAT16_SLICE + 64])
def test_bfloat16_slices_agree_with_float32(channels):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(1, 9, 11, channels)).astype("float32")
    reference = AtrousConv2D(8, 3, dilation_rate=4, padding="same")
    expected = reference(features).numpy()
    sliced = AtrousConv2D(8, 3, dilation_rate=4, padding="same", dtype="mixed_bfloat16")
    sliced.build(features.shape)
    sliced.set_weights(reference.get_weights())
    actual = sliced(features).numpy().astype("float32")
    # bfloat16 keeps 8 bits of mantissa: about 1% of the output's scale.
    assert np.abs(actual - expected).max() < 0.03 * np.abs(expected).max()
    bf16_inputs = tf.cast(features, tf.bfloat16)
    # Sliced where oneDNN runs bfloat16 (AVX-512 or AMX); elsewhere Keras' one SpaceToBatchND convolution.
    expected_convs = -(-channels // CPU_BFLOAT16_SLICE) if cpu_runs_dilations("bfloat16") else 1
    assert len(_conv_ops(sliced, bf16_inputs)) == expected_convs
    assert len(_conv_ops(reference, features)) == 1  # float32 is never sliced


def test_dilation_goes_to_the_conv_op_not_space_to_batch():
    layer = AtrousConv2D(4, 3, dilation_rate=6, padding="same")
    graph = tf.function(layer).get_concrete_function(tf.zeros((1, 13, 13, 3))).graph
    types = {op.type for op in graph.get_operations()}
    assert "Conv2D" in types and "SpaceToBatchND" not in types


def test_dilated_depthwise_matches_keras_values_and_gradients_without_space_to_batch():
    from deeplab_tf.layers import AtrousDepthwiseConv2D

    images = tf.constant(np.random.default_rng(3).normal(size=(2, 13, 11, 6)).astype("float32"))
    ours = AtrousDepthwiseConv2D(3, dilation_rate=2, padding="same", use_bias=True)
    reference = keras.layers.DepthwiseConv2D(3, dilation_rate=2, padding="same", use_bias=True)
    gradients = _same_weights_gradients(ours, reference, images)
    np.testing.assert_allclose(ours(images), reference(images), rtol=1e-5, atol=1e-5)
    for mine, theirs in zip(*gradients):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-4)
    types = {op.type for op in tf.function(ours).get_concrete_function(images).graph.get_operations()}
    assert "DepthwiseConv2dNative" in types and "SpaceToBatchND" not in types


def test_dilated_depthwise_gradient_compiles_with_xla():
    # The GPU training step is XLA-compiled (--jit_compile); the custom gradient must compile there too.
    from deeplab_tf.layers import AtrousDepthwiseConv2D

    images = tf.constant(np.random.default_rng(4).normal(size=(1, 9, 9, 4)).astype("float32"))
    layer = AtrousDepthwiseConv2D(3, dilation_rate=3, padding="same")
    layer.build(images.shape)

    def gradients(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(layer(x)))
        return tape.gradient(loss, [x, layer.kernel])

    plain = gradients(images)
    compiled = tf.function(gradients, jit_compile=True)(images)
    for ours, reference in zip(compiled, plain):
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("depthwise", [False, True])
def test_without_native_dilated_kernels_the_layers_take_keras_form(monkeypatch, depthwise):
    # A CPU whose kernels refuse dilations (no oneDNN, or bfloat16 without AVX-512) gets Keras'
    # SpaceToBatchND form: the same values and gradients, and no dilated native op left to fail.
    from deeplab_tf.layers import atrous_conv

    monkeypatch.setattr(atrous_conv, "_runs_dilations_natively", lambda dtype: False)
    images = tf.constant(np.random.default_rng(5).normal(size=(2, 13, 11, 4)).astype("float32"))
    if depthwise:
        ours = atrous_conv.AtrousDepthwiseConv2D(3, dilation_rate=2, padding="same")
        reference = keras.layers.DepthwiseConv2D(3, dilation_rate=2, padding="same")
    else:
        ours = atrous_conv.AtrousConv2D(3, 3, dilation_rate=2, padding="same")
        reference = keras.layers.Conv2D(3, 3, dilation_rate=2, padding="same")
    gradients = _same_weights_gradients(ours, reference, images)
    for mine, theirs in zip(*gradients):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-5)
    types = {op.type for op in tf.function(ours).get_concrete_function(images).graph.get_operations()}
    assert "SpaceToBatchND" in types


def _same_weights_gradients(ours, reference, images):
    """Gives both layers the same (non-zero-bias) weights; each one's gradients of a squared sum."""
    ours.build(images.shape)
    reference.build(images.shape)
    reference.set_weights([w + 0.1 for w in ours.get_weights()])
    ours.set_weights(reference.get_weights())
    gradients = []
    for layer in (ours, reference):
        with tf.GradientTape() as tape:
            tape.watch(images)
            loss = tf.reduce_sum(tf.square(layer(images)))
        gradients.append(tape.gradient(loss, [images, *layer.trainable_weights]))
    return gradients
