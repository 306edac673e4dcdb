"""tools.benchmark runs on a tiny model and writes the contract's JSON."""

import json
import subprocess
import sys


def test_inference_mode_writes_utilisation(tmp_path):
    output = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "tools.benchmark", "--mode=inference", "--backbone=resnet18",
         "--num_classes=3", "--input_size=64", "--repeats=2", "--warmup=1", f"--output={output}"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(output.read_text())
    for key in ("median_s", "flops", "matmul_flops_per_s", "utilization"):
        assert report[key] > 0, key
    assert report["min_s"] <= report["median_s"] <= report["max_s"]
    assert report["utilization"] == report["flops"] / report["median_s"] / report["matmul_flops_per_s"]
    assert report["model_config"]["backbone"] == "resnet18"


def test_tflite_mode_needs_a_model():
    result = subprocess.run([sys.executable, "-m", "tools.benchmark", "--mode=tflite"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("--tflite_model: required with --mode=tflite")
