"""tools.gpu_check --smoke runs every section on the CPU, and a check it cannot pass makes it exit 1."""

import json

from tests.tool_runner import run_tool
from deeplab_tf.gpu_check import CORRECTNESS, SECTIONS

# The smoke's default input, 65x65, upsamples ResNet-18's 5x5 logits to 65x65, which TensorFlow's own
# XLA resize gets wrong (tests/layers/test_resize.py): its XLA rows pass with the model's exact resize.


def _report(directory):
    return json.loads((directory / "gpu_check.json").read_text())


def test_smoke_runs_every_section_and_every_check_passes(tmp_path):
    result = run_tool("gpu_check", "--smoke", f"--output_dir={tmp_path}", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = _report(tmp_path)
    assert list(report["sections"]) == list(SECTIONS) and report["passed"] and report["failed"] == []
    checks = {}
    for name, section in report["sections"].items():
        assert section["finished"] and "error" not in section, (name, section.get("error"))
        assert section["rows"], name
        if name in CORRECTNESS:
            checks.update({row["check"]: row for row in section["rows"]})
    assert all(row["passed"] for row in checks.values())
    assert {"forward float32, XLA", "train step float32, XLA", "train step mixed_float16, loss scaling, XLA",
            "train step mixed_bfloat16", "dense CRF (TF ops)", "SavedModel inference (serving_default)"} <= set(checks)
    # Paths that differ from the plain one compare two computations: close, not equal.
    for name in ("forward float32, XLA", "train step mixed_float16, loss scaling, XLA",
                 "SavedModel inference (serving_default)"):
        assert 0 < checks[name]["difference"] <= checks[name]["tolerance"], name
    assert checks["train step mixed_float16, loss scaling, XLA"]["overflow_step_skipped"]
    device = report["sections"]["device"]["rows"][0]
    assert device["gpus"] == [] and device["device_under_test"] == "/CPU:0"
    speed = {row["benchmark"]["mode"] for name in ("speed_inference", "speed_crf", "speed_train")
             for row in report["sections"][name]["rows"]}
    assert speed == {"inference", "crf", "train"}
    table = (tmp_path / "gpu_check.md").read_text()
    assert "| forward | forward float32, XLA | /CPU:0 | /CPU:0 |" in table and "**all checks passed**" in table
    assert result.stdout == table + "\n"


def test_a_check_out_of_tolerance_and_a_section_out_of_time_exit_1(tmp_path):
    result = run_tool("gpu_check", "--smoke", f"--output_dir={tmp_path}", "--sections=forward,train_step",
                      "--tolerance=1e-12", "--section_timeouts=train_step=2", timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]
    report = _report(tmp_path)
    assert list(report["sections"]) == ["forward", "train_step"]
    rows = {row["check"]: row for row in report["sections"]["forward"]["rows"]}
    # The same path on the same device is exact; XLA's is not, and 1e-12 refuses it.
    assert rows["forward float32"]["difference"] == 0 and rows["forward float32"]["passed"]
    assert not rows["forward float32, XLA"]["passed"]
    timed_out = report["sections"]["train_step"]
    assert timed_out["error"].startswith("timed out after 2 s") and not timed_out["finished"]
    assert "forward: forward float32, XLA" in report["failed"]
    assert any(line.startswith("train_step: timed out") for line in report["failed"])
    assert "**FAILED**" in (tmp_path / "gpu_check.md").read_text()


def test_bad_flags_get_one_line_errors(tmp_path):
    result = run_tool("gpu_check", f"--output_dir={tmp_path}", "--sections=forward,speed")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "gpu_check: error: --sections: unknown section 'speed'; allowed: " + ", ".join(SECTIONS))
    # No GPU here (the tests hide it), and no --smoke.
    result = run_tool("gpu_check", f"--output_dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("gpu_check: error: --device: TensorFlow sees no GPU")
