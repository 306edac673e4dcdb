"""tools.benchmark runs on a tiny model and writes the contract's JSON."""

import json
import math
import statistics
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from deeplab_tf import ModelConfig
from deeplab_tf.benchmarking import table as benchmark_table
from tools import benchmark_table as benchmark_table_tool
from deeplab_tf.benchmarking import BenchmarkConfig, run_benchmark


def test_inference_mode_writes_utilisation(tmp_path, capsys):
    output = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "tools.benchmark", "--mode=inference", "--backbone=resnet18",
         "--num_classes=3", "--input_size=64", "--matmul_size=512", "--repeats=2", "--warmup=1", f"--output={output}"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(output.read_text())
    for key in ("median_s", "flops", "matmul_flops_per_s", "utilization"):
        assert report[key] > 0, key
    assert report["min_s"] <= report["median_s"] <= report["max_s"]
    # Each timed run is paired with the matmul timed just before it; the best matmul of all is the reference.
    assert report["matmul_size"] == 512  # --matmul_size
    matmul_flops = 2 * report["matmul_size"] ** 3
    assert len(report["matmul_s"]) == 2 and report["matmul_flops_per_s"] >= matmul_flops / min(report["matmul_s"])
    assert report["utilization"] == pytest.approx(report["flops"] / report["median_s"] / report["matmul_flops_per_s"])
    assert report["fold_batch_norm"] and report["assume_frozen_weights"]
    assert report["model_config"]["backbone"] == "resnet18"
    assert report["machine"]["cpu_count"] >= 1

    assert benchmark_table_tool.main([str(output)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[2].startswith("| inference: v3 R-18 OS16, 64×64, batch 1, float32 | ")


def test_inference_mode_runs_in_process_from_a_config():
    # No flags, no subprocess: a tiny ResNet-18 at 64x64 paired with a 256³ matmul.
    config = BenchmarkConfig(
        input_size=(64, 64), warmup=1, repeats=2, matmul_size=256,
        model_config=ModelConfig(variant="v3", backbone="resnet18", output_stride=16, num_classes=3),
    )
    report = run_benchmark("inference", config)
    json.dumps(report)  # the JSON tools.benchmark writes
    assert report["mode"] == "inference" and report["input_size"] == [64, 64] and report["batch_size"] == 1
    assert report["matmul_size"] == 256 and report["matmul_dtype"] == "float32"
    assert report["flops"] > 0 and report["median_s"] > 0 and report["flops_per_s"] > 0
    assert report["matmul_flops_per_s"] == report["matmul_flops_per_s_float32"] > 0
    assert len(report["times_s"]) == len(report["matmul_s"]) == 2
    assert math.isfinite(report["utilization"]) and report["utilization"] > 0
    assert report["utilization"] == pytest.approx(report["flops_per_s"] / report["matmul_flops_per_s"])
    assert report["matmul_flops_per_s"] >= 2 * 256**3 / min(report["matmul_s"])
    assert report["images_per_s"] == pytest.approx(1 / report["median_s"])
    assert report["model_config"]["backbone"] == "resnet18" and report["fold_batch_norm"]
    assert "speedup_over_float32" not in report


def test_bfloat16_inference_is_compared_with_float32_in_the_same_turns(tmp_path):
    rng = np.random.default_rng(0)
    for index, size in enumerate([(64, 64), (48, 80)]):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(tmp_path / f"image_{index}.jpg")
    output = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "tools.benchmark", "--mode=inference", "--backbone=resnet18",
         "--num_classes=3", "--input_size=64", "--matmul_size=512", "--repeats=2", "--warmup=1",
         "--mixed_precision=mixed_bfloat16",
         f"--agreement_images={tmp_path / 'image_*.jpg'}", f"--output={output}"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(output.read_text())
    assert report["matmul_dtype"] == "bfloat16"
    float32_times = report["beside"]["float32"]["times_s"]
    speedups = [slow / fast for slow, fast in zip(float32_times, report["times_s"])]
    assert len(speedups) == 2 and report["speedup_over_float32"] == pytest.approx(statistics.median(speedups))
    assert 0.9 <= report["argmax_agreement_with_float32"] <= 1.0
    assert report["agreement_on"].startswith("2 images")


def test_multiscale_mode_compares_the_passes_with_one(tmp_path):
    output = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "tools.benchmark", "--mode=multiscale", "--backbone=resnet18", "--num_classes=3",
         "--input_size=64", "--eval_scales=0.5,1.0", "--flip", "--matmul_size=512", "--repeats=2", "--warmup=1",
         f"--output={output}"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(output.read_text())
    assert report["num_passes"] == 4 and report["eval_scales"] == [0.5, 1.0] and report["flip"]
    # Two passes at 64² and two at 32²: about 2 × (1 + 1/4) the FLOPs of one pass.
    assert report["flops_over_single_pass"] == pytest.approx(2.5, rel=0.1)
    single = report["beside"]["single_pass"]["times_s"]
    costs = [run / one for run, one in zip(report["times_s"], single)]
    assert report["cost_over_single_pass"] == pytest.approx(statistics.median(costs))
    assert "2 scales + flip" in benchmark_table.describe(report)


def test_train_mode_times_the_training_step(tmp_path):
    output = tmp_path / "train.json"
    result = subprocess.run(
        [sys.executable, "-m", "tools.benchmark", "--mode=train", "--backbone=resnet18", "--num_classes=3",
         "--input_size=64", "--batch_size=2", "--matmul_size=512", "--repeats=1", "--warmup=1", f"--output={output}"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(output.read_text())
    for key in ("median_s", "min_s", "max_s", "times_s", "flops", "forward_flops", "flops_note",
                "images_per_s", "matmul_flops_per_s", "utilization"):
        assert key in report, key
    assert len(report["times_s"]) == 1
    # The counted gradient graph: forward and backward, about 3× the forward pass.
    assert 2 * report["forward_flops"] < report["flops"] < 4 * report["forward_flops"]
    assert math.isfinite(report["utilization"]) and report["utilization"] > 0
    assert report["images_per_s"] > 0
    assert report["images_per_s"] == 2 / report["median_s"]
    # tools.train's defaults, the v3 paper's step.
    assert report["train_step"] == {"optimizer": "sgd", "momentum": 0.9, "weight_decay": 1e-4,
                                    "last_layer_lr_multiplier": 1.0, "fine_tune_batch_norm": True,
                                    "upsample_logits": True}


def test_tflite_mode_needs_a_model():
    result = subprocess.run([sys.executable, "-m", "tools.benchmark", "--mode=tflite"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("--tflite_model: required with --mode=tflite")


def test_tflite_mode_times_several_models_in_turns_with_speedups_and_operators(tmp_path):
    import keras
    import tensorflow as tf

    paths = []
    for name, size, filters in (("wide", 32, 32), ("narrow", 32, 4), ("small", 16, 4)):
        model = keras.Sequential([keras.Input((size, size, 3), batch_size=1), keras.layers.Conv2D(filters, 3)])
        path = tmp_path / f"{name}.tflite"
        path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
        paths.append(str(path))
    config = BenchmarkConfig(input_size=(32, 32), warmup=1, repeats=3, matmul_size=256, tflite_models=tuple(paths))
    report = run_benchmark("tflite", config)
    json.dumps(report)
    wide, narrow, small = report["models"]
    assert report["median_s"] == wide["median_s"] and len(wide["times_s"]) == 10
    # The reference is the first model at the same input size.
    assert [m["speedup_reference"] for m in (wide, narrow, small)] == [paths[0], paths[0], paths[2]]
    assert wide["speedup"] == small["speedup"] == 1.0
    assert narrow["speedup"] == pytest.approx(
        statistics.median(a / b for a, b in zip(wide["times_s"], narrow["times_s"])))
    assert wide["operators"] == {"CONV_2D": 1}


def test_crf_mode_times_both_backends_in_turns_and_a_batch_per_image():
    config = BenchmarkConfig(input_size=(24, 32), batch_size=2, warmup=0, repeats=3, matmul_size=64,
                             model_config=ModelConfig(backbone="resnet18", num_classes=3))
    report = run_benchmark("crf", config)
    for name in ("tf", "pydensecrf", "tf_batch"):
        assert len(report[name]["times_s"]) == 3 and report[name]["median_s"] > 0, name
    assert report["tf_over_pydensecrf"] == pytest.approx(statistics.median(
        a / b for a, b in zip(report["tf"]["times_s"], report["pydensecrf"]["times_s"])))
    assert report["batch_over_single"] > 0 and report["batch_size"] == 2 and report["num_classes"] == 3
    scene = report["scene"]
    assert scene["tf_over_pydensecrf"] == pytest.approx(statistics.median(
        a / b for a, b in zip(scene["tf"]["times_s"], scene["pydensecrf"]["times_s"])))


def test_runtimes_mode_times_one_export_in_tensorflow_onnx_runtime_and_openvino():
    config = BenchmarkConfig(input_size=(41, 33), warmup=1, repeats=2, matmul_size=64, model_config=ModelConfig(
        backbone="mobilenetv2", width_multiplier=0.35, num_classes=3, aspp_filters=16))
    report = run_benchmark("runtimes", config)
    results = report["runtimes"]
    assert {"tensorflow_float32", "onnxruntime", "openvino_f32"} <= set(results)
    tensorflow = results["tensorflow_float32"]["times_s"]
    assert tensorflow == report["times_s"] and results["tensorflow_float32"]["speedup_over_tensorflow"] == 1.0
    for name, result in results.items():
        assert len(result["times_s"]) == 2 and "threads" in result["runtime"], name
        assert result["speedup_over_tensorflow"] == pytest.approx(statistics.median(
            a / b for a, b in zip(tensorflow, result["times_s"])))
        assert result["argmax_agreement_with_tensorflow"] > 0.99, name
    assert report["num_threads"] == 2 and report["weights"] == "random (latency only)"
    assert ("tensorflow_bfloat16" in results) == report["bfloat16"].startswith("native")
