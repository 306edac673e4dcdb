"""Runs many tool command lines in one process, each as `python -m tools.<name> flags...` runs it.

    python -m tests.tool_batch < cases.json   # [[name, [flag, ...]], ...] -> [{returncode, stdout, stderr}, ...]

Every tool process pays TensorFlow's import (seconds); flag-parsing checks do not need a
process each. Each command line gets the state a fresh process would have: the flags the
previous tool defined are removed, `tools.*` is imported afresh, and the tool runs as
`__main__` with `sys.argv[0]` its file, so its exit status, stdout and stderr are what the
real process gives. Use `tool_runner.run_tools` rather than this module directly.
"""

import contextlib
import io
import json
import os
import runpy
import sys
import traceback

from tests.tool_runner import REPO


def _forget_tools():
    """Drops `tools` and its modules, so the next tool defines its flags (and imports its modules) afresh."""
    for name in [name for name in sys.modules if name == "tools" or name.startswith("tools.")]:
        del sys.modules[name]


def run_one(name, args, base_flags):
    from absl import flags

    for flag in set(flags.FLAGS) - base_flags:
        delattr(flags.FLAGS, flag)
    flags.FLAGS.unparse_flags()
    _forget_tools()
    sys.argv = [os.path.join(REPO, "tools", f"{name}.py"), *args]
    stdout, stderr = io.StringIO(), io.StringIO()
    returncode = 0
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            runpy.run_module(f"tools.{name}", run_name="__main__", alter_sys=True)
        except SystemExit as exit_:
            code = exit_.code
            returncode = code if isinstance(code, int) else (0 if code is None else 1)
            if isinstance(code, str):
                print(code, file=sys.stderr)
        except BaseException:  # what the interpreter prints for an uncaught exception
            traceback.print_exc()
            returncode = 1
    return {"returncode": returncode, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}


def main():
    cases = json.load(sys.stdin)
    from absl import app, flags

    import tools.cli  # noqa: F401  (TensorFlow, Keras and deeplab_tf load once, for every case)

    app.define_help_flags()  # absl defines these once per process, at the first app.run
    base_flags = set(flags.FLAGS)
    results = [run_one(name, args, base_flags) for name, args in cases]
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()
