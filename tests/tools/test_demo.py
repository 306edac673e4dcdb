"""`make demo-long`: the demo's plan (`tools.demo --dry_run`) with only v3's training made longer."""

import shlex
import shutil
import subprocess

import pytest

from tests.tool_runner import REPO, run_tools


def _make_command(target, *variables):
    """The tools.demo flags that `make <target>` runs (`make -n`, the venv taken as installed)."""
    if shutil.which("make") is None:
        pytest.skip("no make on PATH")
    printed = subprocess.run(["make", "-n", "-o", ".venv/.requirements-installed", target, *variables], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
    [line] = [line for line in printed.splitlines() if "tools.demo" in line]
    words = shlex.split(line)
    return words[words.index("tools.demo") + 1:]


def _plan(result):
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(line.split(": ", 1) for line in result.stdout.splitlines())


def test_make_demo_long_plans_the_whole_demo_with_v3_trained_longer():
    demo_flags = _make_command("demo")
    long_flags = _make_command("demo-long", "IMAGES=my photos/*.jpg")
    assert "--output_dir=runs/demo_long" in long_flags and "--v3_train_steps=6000" in long_flags
    demo, long = (_plan(result) for result in run_tools([("demo", [*demo_flags, "--dry_run"]),
                                                         ("demo", [*long_flags, "--dry_run"])]))
    assert demo["train v3"].split()[-1].startswith("--mixed_precision=")  # the recipe's own steps
    assert long["train v3"] == demo["train v3"].replace("runs/demo/", "runs/demo_long/") + " --train_steps=6000"
    assert long.pop("predict your images").endswith("'--input=my photos/*.jpg' "
                                                     "--output_dir=runs/demo_long/predictions/yours")
    assert list(long) == list(demo) and len(demo) > 15
    for step, command in demo.items():
        if step != "train v3":
            assert long[step] == command.replace("runs/demo/", "runs/demo_long/"), step
