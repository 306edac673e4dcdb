"""tools.model_info prints the contract's JSON and fails in one line on bad flags."""

import json

import pytest

from tests.tool_runner import run_tools

COMMAND_LINES = {
    "contract": ["--backbone=resnet18", "--output_stride=8", "--num_classes=4", "--input_size=64,96"],
    "small": ["--backbone=resnet18", "--input_size=64"],
    "large": ["--backbone=resnet18", "--input_size=128"],
    "bad_flag": ["--backbone=resnet18", "--multi_grid=1,2,4"],
}


@pytest.fixture(scope="module")
def runs():
    """{name: CompletedProcess} of model_info on each of COMMAND_LINES, run in one process (one TF import)."""
    return dict(zip(COMMAND_LINES, run_tools([("model_info", flags) for flags in COMMAND_LINES.values()])))


def test_prints_contract_keys(runs):
    result = runs["contract"]
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["output_stride"] == 8
    assert info["feature_size"] == [8, 12]
    assert info["unit_rates"]["block3"] == [2, 2]
    assert info["unit_rates"]["block4"] == [4, 8]
    # Both 3×3s of each basic unit: the strided one keeps the rate of the grid it reads.
    assert info["conv_rates"]["block3"] == [[1, 2], [2, 2]]
    assert info["conv_rates"]["block4"] == [[2, 4], [8, 8]]
    assert info["params"] > 11_000_000
    assert info["flops"] > 0


def test_flops_scale_with_input_area(runs):
    small = json.loads(runs["small"].stdout)["flops"]
    large = json.loads(runs["large"].stdout)["flops"]
    assert 3.5 < large / small < 4.5


def test_bad_flag_is_one_line_naming_it(runs):
    result = runs["bad_flag"]
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("model_info: error: --multi_grid:")
    assert "Traceback" not in result.stderr
