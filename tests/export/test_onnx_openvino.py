"""ONNX (tf2onnx, ONNX Runtime) and OpenVINO exports: same outputs as the SavedModel, refusals in one line."""

import json
import os

import numpy as np
import onnx
import pytest
import tensorflow as tf

import deeplab_tf
from deeplab_tf.export import check_formats, export_saved_model, load_serving_signature, random_examples
from deeplab_tf.export.onnx import OnnxModel, convert_onnx
from deeplab_tf.export.openvino import OpenVINOModel, convert_openvino, save_openvino
from tests.tool_runner import run_tool, run_tools

SIZE = (65, 57)  # odd, and not the training size: the pads of the dilated convolutions are uneven


def _dilated_convs(model_bytes):
    """The attributes of the ONNX graph's dilated `Conv`s."""
    graph = onnx.load_from_string(model_bytes).graph
    convs = [{a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
             for node in graph.node if node.op_type == "Conv"]
    return [conv for conv in convs if max(conv.get("dilations", [1])) > 1]


def test_mobilenetv2_v3plus_onnx_and_openvino_match_the_saved_model(tmp_path):
    config = deeplab_tf.ModelConfig(variant="v3plus", backbone="mobilenetv2", width_multiplier=0.35,
                                    output_stride=8, num_classes=4, aspp_filters=16)
    model = deeplab_tf.build_model(config)
    model(random_examples(64, 1, seed=4)[0].image[None].astype("float32"), training=True)  # move BN statistics
    saved_model = str(tmp_path / "saved_model")
    export_saved_model(deeplab_tf.fold_batch_norms(model), saved_model)

    model_bytes = convert_onnx(saved_model, SIZE)
    dilated = _dilated_convs(model_bytes)
    assert dilated and all(conv.get("auto_pad", b"NOTSET") == b"NOTSET" and "pads" in conv for conv in dilated)
    (tmp_path / "model.onnx").write_bytes(model_bytes)
    xml = str(tmp_path / "model.xml")
    save_openvino(convert_openvino(saved_model, SIZE), xml)

    signature, _loaded = load_serving_signature(saved_model)
    images = random_examples(SIZE, 1, seed=5)[0].image[None]
    reference = signature(images=tf.constant(images))
    for runtime in (OnnxModel(tmp_path / "model.onnx"), OpenVINOModel(xml)):
        outputs = runtime(images)
        assert outputs["labels"].shape == (1, *SIZE) and outputs["probabilities"].shape == (1, *SIZE, 4)
        np.testing.assert_allclose(outputs["probabilities"], reference["probabilities"], atol=1e-4)
        np.testing.assert_array_equal(outputs["labels"], reference["labels"])
    with pytest.raises(deeplab_tf.InputError, match="takes uint8"):
        OnnxModel(tmp_path / "model.onnx")(images[:, :64])


def test_formats_are_refused_in_one_line(monkeypatch):
    assert check_formats(["saved_model"], None, None) == []
    with pytest.raises(deeplab_tf.ConfigError, match="need a fixed input size") as error:
        check_formats(["saved_model", "onnx"], None, None)
    assert error.value.field == "input_size"
    with pytest.raises(deeplab_tf.ConfigError, match="cannot hold the dense CRF"):
        check_formats(["openvino"], (65, 57), deeplab_tf.postprocess.CRFParams())
    with pytest.raises(deeplab_tf.ConfigError, match="unknown tflite"):
        check_formats(["tflite"], (65, 57), None)
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)  # as if it were not installed
    with pytest.raises(deeplab_tf.ConfigError, match="needs the Python package onnxruntime") as error:
        check_formats(["onnx"], (65, 57), None)
    assert error.value.field == "format"


def test_export_writes_checked_onnx_and_openvino_models(tmp_path, v3_model_dir):
    export_dir = str(tmp_path / "export")
    result = run_tool("export", f"--model_dir={v3_model_dir}", f"--export_dir={export_dir}",
                      "--fixed_input_size=65,57", "--format=onnx,openvino", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for fmt, model_file in (("onnx", "model.onnx"), ("openvino", "model.xml")):
        with open(os.path.join(export_dir, fmt, "parity.json")) as file:
            report = json.load(file)
        assert report["passed"] and report["format"] == fmt and report["input_size"] == [65, 57]
        assert report["images"] == "synthetic:val" and report["num_images"] == 4
        assert report["pixel_agreement"] >= 0.999 and report[f"miou_{fmt}"] is not None
        assert report["model"] == os.path.join(export_dir, fmt, model_file)
        assert f"{fmt}: {report['model']}" in result.stdout
    assert os.path.isfile(os.path.join(export_dir, "openvino", "model.bin"))
    assert tf.saved_model.contains_saved_model(export_dir)


def test_export_to_onnx_bad_input_is_one_line(tmp_path, v3_model_dir):
    base = [f"--model_dir={v3_model_dir}", f"--export_dir={tmp_path}/e"]
    no_size, crf, unknown = run_tools([
        ("export", [*base, "--format=onnx"]),
        ("export", [*base, "--format=openvino", "--fixed_input_size=65", "--crf"]),
        ("export", [*base, "--format=torch", "--fixed_input_size=65"]),
    ])
    for result, starts in ((no_size, "--fixed_input_size: onnx need"), (crf, "--format: openvino cannot"),
                           (unknown, "--format: unknown torch")):
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert result.stderr.strip().splitlines()[-1].startswith(f"export: error: {starts}")
    assert not os.path.exists(f"{tmp_path}/e")
