"""LiteRT's GPU accelerator takes the converted models whole, and its refusals are read back.

The GPU is LiteRT's WebGPU accelerator on SwiftShader, a software Vulkan device
from Debian's chromium package. Without it these tests skip, saying so; under
CI (CI=true, which .ci/run sets after installing chromium) they fail instead.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import deeplab_tf
from deeplab_tf.export import (
    check_gpu,
    convert_float16,
    convert_float32,
    export_saved_model,
    parse_refusals,
    random_examples,
    swiftshader_missing,
)


@pytest.fixture(scope="module")
def gpu_accelerator():
    missing = swiftshader_missing()
    if missing and os.environ.get("CI") == "true":
        pytest.fail(f"CI must run LiteRT's GPU accelerator: {missing}")
    if missing:
        pytest.skip(missing)


def _write(tmp_path, name, model_bytes):
    path = tmp_path / name
    path.write_bytes(model_bytes)
    return str(path)


def test_refusals_are_parsed_from_the_delegate_log():
    log = (
        "INFO: [compiled_model.cc:829] Flatbuffer model initialized\n"
        "ERROR: Following operations are not supported by GPU delegate:\n"
        "BROADCAST_TO: Operation is not supported.\n"
        "STRIDED_SLICE: Reverse slices are not supported.\n"
        "37 operations will run on the GPU, and the remaining 9 operations will run on the CPU.\n"
    )
    assert parse_refusals(log) == {
        "refused_operators": {"BROADCAST_TO": ["Operation is not supported."],
                              "STRIDED_SLICE": ["Reverse slices are not supported."]},
        "operations_on_gpu": 37, "operations_on_cpu": 9,
    }
    assert parse_refusals("all fine\n") == {"refused_operators": {}, "operations_on_gpu": None,
                                            "operations_on_cpu": None}


def test_a_graph_with_broadcast_to_and_a_reversed_slice_is_refused_by_name(gpu_accelerator, tmp_path):
    """What today's ResNet v3 export did before: the two operators LiteRT named, read from LiteRT itself."""

    @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 3], tf.float32)])
    def function(images):
        pooled = tf.reduce_mean(images[..., ::-1], axis=[1, 2], keepdims=True)
        return tf.concat([images, tf.broadcast_to(pooled, [1, 8, 8, 3])], axis=-1)  # as ASPP concatenated it

    model_bytes = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()]).convert()
    report = check_gpu(_write(tmp_path, "refused.tflite", model_bytes))
    assert report["available"] and not report["compiles"]
    assert "not accelerated" in report["error"]
    assert set(report["refused_operators"]) == {"BROADCAST_TO", "STRIDED_SLICE"}
    assert report["refused_operators"]["STRIDED_SLICE"] == ["Reverse slices are not supported."]
    assert report["operations_on_cpu"] >= 2


def _assert_whole_on_gpu(saved_model_dir, size, tmp_path, quantizations=("float32", "float16")):
    examples = random_examples(size, 2, seed=6)
    converters = {"float32": convert_float32, "float16": convert_float16}
    for name in quantizations:
        convert = converters[name]
        report = check_gpu(_write(tmp_path, f"{name}.tflite", convert(saved_model_dir, size)), examples)
        assert report["compiles"], (name, report)
        assert report["refused_operators"] == {}, name
        assert report["num_images"] == 2 and report["pixel_agreement"] >= 0.99, (name, report)
        assert report["max_probability_difference"] < 0.05, (name, report)


def test_resnet_v3_runs_whole_on_the_gpu_in_float32_and_float16(gpu_accelerator, v3_saved_model, tmp_path):
    """The uint8 input's cast, the flip to BGR, image pooling and the labels' argmax: all on the GPU."""
    _assert_whole_on_gpu(v3_saved_model, 65, tmp_path)


def test_mobilenetv2_v3plus_runs_whole_on_the_gpu(gpu_accelerator, mobilenetv2_v3plus_saved_model, tmp_path):
    _assert_whole_on_gpu(mobilenetv2_v3plus_saved_model, 49, tmp_path)


def test_mobilenetv2_v3_runs_whole_on_the_gpu_in_float16(gpu_accelerator, tmp_path):
    """Its float32 graph has no operator that v3+'s lacks; float16 adds the weights' DEQUANTIZE."""
    config = deeplab_tf.ModelConfig(backbone="mobilenetv2", width_multiplier=0.35, num_classes=4, aspp_filters=16)
    keras.utils.set_random_seed(3)
    model = deeplab_tf.build_model(config)
    model(random_examples(48, 1, seed=4)[0].image[None].astype("float32"), training=True)  # move BN statistics
    path = str(tmp_path / "saved_model")
    export_saved_model(deeplab_tf.fold_batch_norms(model), path)
    _assert_whole_on_gpu(path, 49, tmp_path, quantizations=("float16",))
def test_without_swiftshader_the_check_says_so(monkeypatch, tmp_path):
    from deeplab_tf.export import litert_gpu

    monkeypatch.setattr(litert_gpu, "SWIFTSHADER_ICD", str(tmp_path / "absent.json"))
    report = check_gpu(str(tmp_path / "any.tflite"))
    assert report["available"] is False and "chromium" in report["reason"]
    assert swiftshader_missing() == report["reason"]


def test_the_flip_by_slices_gives_the_numbers_of_a_reversed_slice():
    """ImageNetNormalization's GPU-ready flip; ASPP's tiling is checked by tests/test_saved_model_compat.py."""
    from deeplab_tf.layers.image_ops import IMAGENET_MEAN_RGB, ImageNetNormalization

    images = np.random.default_rng(0).uniform(0, 255, (2, 5, 7, 3)).astype("float32")
    expected = images[..., ::-1] - np.float32(IMAGENET_MEAN_RGB[::-1])
    np.testing.assert_array_equal(ImageNetNormalization()(images), expected)
