"""Every tool reads every recipe flagfile, refuses a flagfile key no tool defines, and lists each flag once.

These check what each tool parses and prints, so all their command lines run in one process
(`tool_runner.run_tools`): one TensorFlow import instead of one a command line.
"""

import glob
import os
import re

import pytest

from tests.tool_runner import REPO, run_tools
from tools import cli

TOOLS = sorted(os.path.basename(path)[:-3] for path in glob.glob(os.path.join(REPO, "tools", "*.py"))
               if "cli.run(" in open(path).read())
RECIPES = sorted(glob.glob(os.path.join(REPO, "flags", "*.flags")))
HELP_LINE = re.compile(r"^  --(?:\[no\])?(\w+):", re.MULTILINE)
MOBILE_RECIPE = os.path.join(REPO, "flags", "voc_mnv2_v3_os16.flags")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{case: the tool's CompletedProcess} for every command line below, run together; `typo_recipe` too."""
    typo_recipe = tmp_path_factory.mktemp("typo") / "recipe.flags"
    typo_recipe.write_text(f"# a recipe with a typo\n--flagfile={RECIPES[0]}\n--weigth_decay=0.5\n")
    other_tool = tmp_path_factory.mktemp("other") / "recipe.flags"
    other_tool.write_text("--backbone=resnet18\n--train_steps=5\n--noupsample_logits\n--input_size=64\n")
    cases = {}
    for tool in TOOLS:
        # --helpfull comes last: absl parses every flagfile value first, then prints the help and exits 1.
        cases["help", tool] = (tool, [*(f"--flagfile={path}" for path in RECIPES), "--helpfull"])
        cases["typo", tool] = (tool, [f"--flagfile={typo_recipe}"])
    cases["other_tool"] = ("model_info", [f"--flagfile={other_tool}"])
    cases["typed"] = ("model_info", [f"--flagfile={other_tool}", "--train_steps=5"])
    cases["mobile"] = ("model_info", [f"--flagfile={MOBILE_RECIPE}", "--input_size=65"])
    cases["multi_grid"] = ("model_info", ["--backbone=mobilenetv2", "--multi_grid=1,2,4", "--input_size=33"])
    results = dict(zip(cases, run_tools(list(cases.values()))))
    results["typo_recipe"] = typo_recipe
    return results


def test_the_tools_and_recipes_are_found():
    assert {"train", "evaluate", "predict", "export", "convert_tflite", "benchmark", "model_info"} <= set(TOOLS)
    assert len(RECIPES) >= 7


@pytest.mark.parametrize("tool", TOOLS)
def test_every_recipe_parses_and_help_lists_each_flag_once(tool, runs):
    result = runs["help", tool]
    assert result.returncode == 1 and f"{tool}: error" not in result.stderr, result.stderr[-2000:]
    names = HELP_LINE.findall(result.stdout)
    assert len(names) > 10, result.stdout[:2000]
    assert sorted(name for name in set(names) if names.count(name) > 1) == []


@pytest.mark.parametrize("tool", TOOLS)
def test_a_typo_in_a_flagfile_exits_2_naming_the_key_the_file_and_the_closest_name(tool, runs):
    recipe = runs["typo_recipe"]
    result = runs["typo", tool]
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"{tool}: error: {recipe}: unknown flag --weigth_decay (did you mean --weight_decay? no tool defines it)")
    assert "Traceback" not in result.stderr


def test_a_key_another_tool_defines_is_ignored_and_a_typed_typo_is_refused(runs):
    result = runs["other_tool"]
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"params"' in result.stdout
    typed = runs["typed"]
    assert typed.returncode == 2
    assert typed.stderr.strip().splitlines()[-1] == "model_info: error: unknown flag --train_steps (see --helpfull)"


def test_the_project_names_come_from_every_tool():
    names = cli.project_flag_names()
    assert {"output_stride", "weight_decay", "eval_scales", "export_dir", "quantization", "num_shards",
            "upsample_logits", "noupsample_logits", "model_dir"} <= names
    assert "weigth_decay" not in names


def test_the_mobile_recipe_builds_the_mobile_head(runs):
    result = runs["mobile"]
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"backbone": "mobilenetv2"' in result.stdout and '"atrous_rates": []' in result.stdout
    assert '"feature_size": [5, 5]' in result.stdout and '"block_16": [2]' in result.stdout


def test_multi_grid_on_mobilenetv2_is_one_line_naming_the_flag(runs):
    result = runs["multi_grid"]
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("model_info: error: --multi_grid: does not apply")
