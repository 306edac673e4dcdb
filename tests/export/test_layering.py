"""The export package stands on deeplab_tf.inference, not on deeplab_tf.evaluation."""

import pathlib
import subprocess
import sys

_PROBE = """
import sys
import deeplab_tf.export
loaded = sorted(name for name in sys.modules if name == "deeplab_tf.evaluation" or name.startswith("deeplab_tf.evaluation."))
assert "deeplab_tf.inference" in sys.modules, "export should use deeplab_tf.inference"
print("evaluation modules:", loaded)
sys.exit(1 if loaded else 0)
"""


def test_importing_export_loads_no_evaluation_module():
    # A fresh process: in this one, other tests have already imported evaluation.
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=300,
                            cwd=pathlib.Path(__file__).parents[2])
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
