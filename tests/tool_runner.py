"""Runs a tool as its user does, `python -m tools.<name> flags...` in a subprocess from the repository root.

    from tests.tool_runner import REPO, run_tool
    result = run_tool("evaluate", f"--model_dir={directory}")
    results = run_tools([("train", ["--helpfull"]), ("evaluate", ["--bad_flag=1"])])
"""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tool_env(**extra):
    """The environment tools run in under test: CPU only, unbuffered, plus `extra`."""
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1", **extra)


def tool_command(name, *flags):
    return [sys.executable, "-m", f"tools.{name}", *flags]


def run_tool(name, *flags, timeout=300, env=None):
    """The `subprocess.CompletedProcess` (text stdout and stderr) of `tools.<name>` with `flags`."""
    return subprocess.run(tool_command(name, *flags), cwd=REPO, env=env or tool_env(), capture_output=True,
                          text=True, timeout=timeout)


def run_tools(cases, timeout=600):
    """One `subprocess.CompletedProcess` per (name, flags) of `cases`, all run in one process (tests/tool_batch.py).

    For command lines whose test is about what the tool parses and prints, not about its process:
    TensorFlow's import is paid once instead of once a case.
    """
    batch = subprocess.run([sys.executable, "-m", "tests.tool_batch"], cwd=REPO, env=tool_env(),
                           input=json.dumps([[name, list(flags)] for name, flags in cases]),
                           capture_output=True, text=True, timeout=timeout)
    if batch.returncode != 0:
        raise RuntimeError(f"tests.tool_batch failed:\n{batch.stderr[-4000:]}")
    return [subprocess.CompletedProcess(tool_command(name, *flags), result["returncode"], result["stdout"],
                                        result["stderr"])
            for (name, flags), result in zip(cases, json.loads(batch.stdout))]
