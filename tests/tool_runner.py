"""Runs a tool as its user does, `python -m tools.<name> flags...` in a subprocess from the repository root.

    from tests.tool_runner import REPO, run_tool
    result = run_tool("evaluate", f"--model_dir={directory}")
"""

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
