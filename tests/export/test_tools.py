"""tools.export and tools.convert_tflite: outputs, parity exit status, one-line errors."""

import json
import os

import numpy as np
import tensorflow as tf

from tests.tool_runner import run_tool as _run
from tests.tool_runner import run_tools


def _one_line_error(result, tool, starts):
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{tool}: error: {starts}"), last


def test_export_with_inference_options(tmp_path, v3_model_dir):
    export_dir = str(tmp_path / "export")
    flags = [f"--model_dir={v3_model_dir}", f"--export_dir={export_dir}", "--output_stride=8",
             "--eval_scales=1,0.5", "--flip", "--fixed_input_size=64"]
    # The second run (refused: an existing SavedModel is replaced only when asked) shares the first's process.
    result, again = run_tools([("export", flags), ("export", flags)])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith(f"to {export_dir}")
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".export-")]
    with open(os.path.join(export_dir, "assets.extra", "deeplab_export.json")) as file:
        info = json.load(file)
    assert info["output_stride"] == 8 and info["model"]["atrous_rates"] == [12, 24, 36]
    assert info["eval_scales"] == [1.0, 0.5] and info["flip"] is True and info["input_size"] == [64, 64]
    assert info["dataset"]["name"] == "synthetic" and info["checkpoint"].endswith("ckpt-1")

    signature = tf.saved_model.load(export_dir).signatures["serving_default"]
    outputs = signature(images=tf.zeros([1, 50, 70, 3], tf.uint8))
    assert outputs["labels"].dtype == tf.int32 and outputs["labels"].shape == (1, 50, 70)
    assert outputs["probabilities"].shape == (1, 50, 70, 6)
    np.testing.assert_allclose(tf.reduce_sum(outputs["probabilities"], -1), 1.0, atol=1e-5)

    # An existing SavedModel is replaced only when asked.
    _one_line_error(again, "export", "--export_dir:")


def test_export_bad_input_is_one_line(tmp_path, v3_model_dir):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("mine")
    no_model_dir, not_an_export_dir = run_tools([
        ("export", [f"--model_dir={tmp_path}", f"--export_dir={tmp_path}/e"]),
        ("export", [f"--model_dir={v3_model_dir}", f"--export_dir={tmp_path}/notes"]),
    ])
    _one_line_error(no_model_dir, "export", "model_dir:")
    _one_line_error(not_an_export_dir, "export", "--export_dir:")
    assert (tmp_path / "notes" / "a.txt").read_text() == "mine"


def test_convert_checks_parity_on_the_recorded_dataset(tmp_path, tiny_saved_model):
    output = str(tmp_path / "tiny_fp16.tflite")
    result = _run("convert_tflite", f"--saved_model_dir={tiny_saved_model}", f"--output={output}",
                  "--quantization=float16", "--input_size=64")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(str(tmp_path / "tiny_fp16.parity.json")) as file:
        report = json.load(file)
    assert report["passed"] and report["quantization"] == "float16" and report["input_size"] == [64, 64]
    assert report["images"] == "synthetic:val" and report["num_images"] == 4
    assert report["pixel_agreement"] >= 0.995 and report["miou_tflite"] is not None
    assert report["file_size_bytes"] == os.path.getsize(output)
    assert "SPACE_TO_BATCH_ND" not in report["graph"]["operators"]
    gpu = report["gpu"]  # LiteRT's GPU accelerator (tests/export/test_litert_gpu.py), where SwiftShader is
    if gpu["available"] or os.environ.get("CI") == "true":
        assert gpu["compiles"] and gpu["refused_operators"] == {}, gpu
        assert gpu["num_images"] == 4 and gpu["pixel_agreement"] >= 0.99, gpu
        assert "compiles GPU-only, argmax agreement with the CPU" in result.stdout
    else:
        assert "chromium" in gpu["reason"] and "GPU-only check not run" in result.stdout


def test_convert_exits_1_when_parity_fails(tmp_path, tiny_saved_model):
    output = str(tmp_path / "tiny_int8.tflite")
    report = str(tmp_path / "report.json")
    result = _run("convert_tflite", f"--saved_model_dir={tiny_saved_model}", f"--output={output}",
                  "--quantization=int8", "--input_size=64", "--num_calibration_images=4",
                  f"--parity_report={report}", "--min_agreement=1.0")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("convert_tflite: error: parity check failed: argmax agreement"), last
    assert os.path.isfile(output)
    with open(report) as file:
        parity = json.load(file)
    assert parity["passed"] is False and parity["calibration"] == "synthetic:train, 4 images"
    assert parity["graph"]["conv_2d_weight_types"] == ["int8"]


def test_convert_bad_input_is_one_line(tmp_path, bare_saved_model):
    out = f"--output={tmp_path}/m.tflite"
    # The second export records no dataset, and int8 needs one to calibrate on.
    no_saved_model, no_dataset = run_tools([
        ("convert_tflite", [f"--saved_model_dir={tmp_path}", out]),
        ("convert_tflite", [f"--saved_model_dir={bare_saved_model}", out, "--quantization=int8"]),
    ])
    _one_line_error(no_saved_model, "convert_tflite", "saved_model_dir:")
    _one_line_error(no_dataset, "convert_tflite", "--dataset: int8")
    assert not os.path.exists(f"{tmp_path}/m.tflite")


def test_convert_calibrates_and_checks_on_the_recorded_val_fraction(tmp_path):
    # A folder dataset split by name: with the recorded val_fraction 0.5, val holds 4 of 8 images (default 0.1: 1).
    from PIL import Image

    from deeplab_tf.export import export_saved_model
    from tests.export.conftest import tiny_segmenter

    root = tmp_path / "my_data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "classes.json").write_text(json.dumps({"names": ["bg", "a", "b"]}))
    rng = np.random.default_rng(0)
    for index in range(8):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(root / "images" / f"i{index}.png")
        Image.fromarray(rng.integers(0, 3, (32, 32), dtype=np.uint8), mode="L").save(root / "masks" / f"i{index}.png")
    saved_model = str(tmp_path / "saved_model")
    export_saved_model(tiny_segmenter(3), saved_model,
                       info={"dataset": {"name": "folder", "dataset_dir": str(root), "val_fraction": 0.5}})
    report = str(tmp_path / "report.json")
    result = _run("convert_tflite", f"--saved_model_dir={saved_model}", f"--output={tmp_path}/m.tflite",
                  "--quantization=int8", "--input_size=32", "--calibration_split=val",
                  f"--parity_report={report}", "--min_agreement=0")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(report) as file:
        parity = json.load(file)
    assert parity["calibration"] == "folder:val, 4 images"
    assert parity["images"] == "folder:val" and parity["num_images"] == 4
