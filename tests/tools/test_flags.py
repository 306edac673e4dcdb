"""Every tool reads every recipe flagfile, refuses a flagfile key no tool defines, and lists each flag once."""

import glob
import os
import re

import pytest

from tests.tool_runner import REPO, run_tool
from tools import cli

TOOLS = sorted(os.path.basename(path)[:-3] for path in glob.glob(os.path.join(REPO, "tools", "*.py"))
               if "cli.run(" in open(path).read())
RECIPES = sorted(glob.glob(os.path.join(REPO, "flags", "*.flags")))
HELP_LINE = re.compile(r"^  --(?:\[no\])?(\w+):", re.MULTILINE)


def test_the_tools_and_recipes_are_found():
    assert {"train", "evaluate", "predict", "export", "convert_tflite", "benchmark", "model_info"} <= set(TOOLS)
    assert len(RECIPES) >= 7


@pytest.mark.parametrize("tool", TOOLS)
def test_every_recipe_parses_and_help_lists_each_flag_once(tool):
    # --helpfull comes last: absl parses every flagfile value first, then prints the help and exits 1.
    result = run_tool(tool, *(f"--flagfile={path}" for path in RECIPES), "--helpfull")
    assert result.returncode == 1 and f"{tool}: error" not in result.stderr, result.stderr[-2000:]
    names = HELP_LINE.findall(result.stdout)
    assert len(names) > 10, result.stdout[:2000]
    assert sorted(name for name in set(names) if names.count(name) > 1) == []


@pytest.mark.parametrize("tool", TOOLS)
def test_a_typo_in_a_flagfile_exits_2_naming_the_key_the_file_and_the_closest_name(tool, tmp_path):
    recipe = tmp_path / "recipe.flags"
    recipe.write_text(f"# a recipe with a typo\n--flagfile={RECIPES[0]}\n--weigth_decay=0.5\n")
    result = run_tool(tool, f"--flagfile={recipe}")
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"{tool}: error: {recipe}: unknown flag --weigth_decay (did you mean --weight_decay? no tool defines it)")
    assert "Traceback" not in result.stderr


def test_a_key_another_tool_defines_is_ignored_and_a_typed_typo_is_refused(tmp_path):
    recipe = tmp_path / "recipe.flags"
    recipe.write_text("--backbone=resnet18\n--train_steps=5\n--noupsample_logits\n--input_size=64\n")
    result = run_tool("model_info", f"--flagfile={recipe}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"params"' in result.stdout
    typed = run_tool("model_info", f"--flagfile={recipe}", "--train_steps=5")
    assert typed.returncode == 2
    assert typed.stderr.strip().splitlines()[-1] == "model_info: error: unknown flag --train_steps (see --helpfull)"


def test_the_project_names_come_from_every_tool():
    names = cli.project_flag_names()
    assert {"output_stride", "weight_decay", "eval_scales", "export_dir", "quantization", "num_shards",
            "upsample_logits", "noupsample_logits", "model_dir"} <= names
    assert "weigth_decay" not in names


def test_the_mobile_recipe_builds_the_mobile_head():
    result = run_tool("model_info", f"--flagfile={os.path.join(REPO, 'flags', 'voc_mnv2_v3_os16.flags')}",
                      "--input_size=65")
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"backbone": "mobilenetv2"' in result.stdout and '"atrous_rates": []' in result.stdout
    assert '"feature_size": [5, 5]' in result.stdout and '"block_16": [2]' in result.stdout


def test_multi_grid_on_mobilenetv2_is_one_line_naming_the_flag():
    result = run_tool("model_info", "--backbone=mobilenetv2", "--multi_grid=1,2,4", "--input_size=33")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("model_info: error: --multi_grid: does not apply")
