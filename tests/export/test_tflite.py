"""TFLite conversion: the converted graph's make-up, the known traps, and LiteRT against the SavedModel."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import deeplab_tf
from deeplab_tf.export import (
    LiteRTModel,
    convert,
    convert_float32,
    convert_int8,
    graph_summary,
    load_serving_signature,
    random_examples,
)
from deeplab_tf.layers import AtrousConv2D


def _convert_keras(layer, input_shape):
    inputs = keras.Input(input_shape[1:])
    model = keras.Model(inputs, layer(inputs))

    @tf.function(input_signature=[tf.TensorSpec(input_shape, tf.float32)])
    def function(images):
        return model(images)

    return tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], model).convert()


def test_keras_dilated_conv2d_traps_tflite_but_atrous_conv2d_does_not():
    """The trap: Keras' dilated Conv2D becomes SpaceToBatchND/BatchToSpaceND, which GPU delegates refuse.

    At a dynamic input size the converter cannot fuse the pair back into one
    dilated CONV_2D; our AtrousConv2D passes the dilation to the op itself, so
    it converts to one CONV_2D with dilation factors at any size.
    """
    dynamic = [1, None, None, 3]
    keras_ops = graph_summary(_convert_keras(keras.layers.Conv2D(4, 3, dilation_rate=2, padding="same"), dynamic))
    assert "SPACE_TO_BATCH_ND" in keras_ops["operators"] and "BATCH_TO_SPACE_ND" in keras_ops["operators"]

    for shape in (dynamic, [1, 32, 32, 3]):
        ours = graph_summary(_convert_keras(AtrousConv2D(4, 3, dilation_rate=2, padding="same"), shape))
        assert "SPACE_TO_BATCH_ND" not in ours["operators"] and "BATCH_TO_SPACE_ND" not in ours["operators"]
        assert ours["operators"]["CONV_2D"] == 1 and ours["conv_2d_dilations"] == [(2, 2)]


def test_float32_deeplab_graph_and_parity_at_an_odd_size(v3_saved_model):
    """v3 (image pooling, dynamic resizes) converts at 65×65 (not a multiple of the stride) and matches.

    This is the KerasHub DeepLabV3 trap (layers made in `call` with dynamic
    shapes fail to export) and the resize-convention trap (half-pixel centres
    in Keras must stay half-pixel centres in TFLite) in one.
    """
    model_bytes = convert_float32(v3_saved_model, 65)
    graph = graph_summary(model_bytes)
    operators = graph["operators"]
    assert graph["num_subgraphs"] == 1  # shape branches folded away
    assert not {"SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND", "MUL", "IF", "WHILE"} & set(operators)  # BN folded
    assert {(2, 2), (4, 4), (6, 6), (12, 12), (18, 18)} <= set(graph["conv_2d_dilations"])
    assert graph["resize_bilinear"] and all(
        r == {"align_corners": False, "half_pixel_centers": True} for r in graph["resize_bilinear"]
    )
    assert operators["ARG_MAX"] == 1 and operators["MEAN"] == 1  # the image-pooling branch
    # The GPU-ready forms (test_litert_gpu.py): ResNet's RGB -> BGR flip as three forward slices, no reversed one.
    # Image pooling copies its 1x1 map by a resize: no BROADCAST_TO (refused by the GPU), no TILE (OpenVINO).
    assert operators["STRIDED_SLICE"] == 3 and not {"TILE", "BROADCAST_TO"} & set(operators)

    litert = LiteRTModel(model_bytes)
    assert litert.input_size == (65, 65)
    signature, _loaded = load_serving_signature(v3_saved_model)
    for example in random_examples(65, 2, seed=3):
        images = example.image[None]
        ours = litert(images)
        reference = signature(images=tf.constant(images))
        assert ours["labels"].dtype == np.int32 and ours["labels"].shape == (1, 65, 65)
        assert ours["probabilities"].dtype == np.float32 and ours["probabilities"].shape == (1, 65, 65, 6)
        np.testing.assert_allclose(ours["probabilities"], reference["probabilities"], atol=1e-4)
        assert np.mean(ours["labels"] == reference["labels"].numpy()) > 0.999


def test_int8_is_full_integer_with_raw_uint8_input(v3_saved_model, synthetic_data):
    from deeplab_tf.export import dataset_examples

    directory, _ = synthetic_data
    calibration, _ = dataset_examples("synthetic", directory, "train", 64, 4)
    model_bytes = convert_int8(v3_saved_model, 64, [example.image for example in calibration])
    graph = graph_summary(model_bytes)
    assert graph["conv_2d_weight_types"] == ["int8"]
    # Float only at the edges: the input cast/quantise and the probabilities' dequantise.
    assert graph["operators"]["QUANTIZE"] == 1 and graph["operators"]["DEQUANTIZE"] == 1
    assert "SPACE_TO_BATCH_ND" not in graph["operators"]

    litert = LiteRTModel(model_bytes)
    assert litert.input_details["dtype"] == np.uint8
    signature, _loaded = load_serving_signature(v3_saved_model)
    examples, _ = dataset_examples("synthetic", directory, "val", 64, 2)
    for example in examples:
        ours = litert(example.image[None])
        reference = signature(images=tf.constant(example.image[None]))
        assert ours["labels"].dtype == np.int32
        # Untrained weights give near-tie logits; the trained-model figures are in docs/performance.md.
        assert np.mean(ours["labels"] == reference["labels"].numpy()) > 0.5
        assert np.abs(ours["probabilities"] - reference["probabilities"].numpy()).max() < 0.5


def test_every_quantization_converts_the_tiny_model(tiny_saved_model):
    images = [example.image for example in random_examples(32, 2)]
    sizes = {}
    for quantization in ("none", "float16", "dynamic_range", "int8"):
        model_bytes = convert(tiny_saved_model, quantization, 32, representative_images=images)
        sizes[quantization] = len(model_bytes)
        outputs = LiteRTModel(model_bytes)(images[0][None])
        assert outputs["labels"].shape == (1, 32, 32) and outputs["labels"].dtype == np.int32
    assert sizes["float16"] < sizes["none"] and sizes["int8"] < sizes["none"]


def test_bad_requests_are_input_errors(tiny_saved_model, tmp_path):
    with pytest.raises(deeplab_tf.ConfigError, match="quantization"):
        convert(tiny_saved_model, "int4", 32)
    with pytest.raises(deeplab_tf.ConfigError, match="int8 needs representative images"):
        convert(tiny_saved_model, "int8", 32)
    with pytest.raises(deeplab_tf.InputError, match="representative image of shape"):
        convert_int8(tiny_saved_model, 32, [np.zeros((16, 16, 3), np.uint8)])
    with pytest.raises(deeplab_tf.InputError, match="not a SavedModel"):
        convert_float32(str(tmp_path), 32)
    with pytest.raises(deeplab_tf.InputError, match="not a loadable .tflite"):
        LiteRTModel(b"not a flatbuffer")


def test_mobilenetv2_v3plus_converts_with_dilated_depthwise_ops_and_matches(mobilenetv2_v3plus_saved_model):
    """MobileNetV2 at OS8 with the v3+ decoder: dilated DEPTHWISE_CONV_2D, no SpaceToBatchND, same output."""
    path = mobilenetv2_v3plus_saved_model
    model_bytes = convert_float32(path, 65)
    graph = graph_summary(model_bytes)
    assert not {"SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"} & set(graph["operators"])
    assert {(1, 1), (2, 2), (4, 4)} <= set(graph["depthwise_conv_2d_dilations"])
    assert graph["operators"]["CONCATENATION"] >= 2  # ASPP's and the decoder's
    # Image pooling resizes its 1x1 map: a BROADCAST_TO is what LiteRT's GPU delegate refuses (test_litert_gpu.py).
    assert not {"TILE", "BROADCAST_TO"} & set(graph["operators"]) and graph["operators"]["RESIZE_BILINEAR"] >= 2

    signature, _loaded = load_serving_signature(path)
    images = random_examples(65, 1, seed=5)[0].image[None]
    reference = signature(images=tf.constant(images))
    np.testing.assert_allclose(LiteRTModel(model_bytes)(images)["probabilities"], reference["probabilities"],
                               atol=1e-4)
