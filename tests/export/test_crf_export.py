"""tools.export --crf: the dense CRF inside the SavedModel, equal to tools.predict --crf; TFLite refuses it."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

from deeplab_tf.data.synthetic import render_example
from deeplab_tf.evaluation.crf_search import search_document, write_search
from deeplab_tf.postprocess import CRFParams
from tests.tool_runner import run_tools, tool_env

# Loads the export with TensorFlow alone (no deeplab_tf) and runs both signatures.
_SERVE = """
import sys
import numpy as np
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
for path in sys.argv[2:]:
    images = tf.constant(np.asarray(np.load(path))[None])
    served = loaded.signatures["serving_default"](images=images)
    both = loaded.signatures["crf"](images=images)
    np.savez(path + ".served.npz", labels=served["labels"][0], crf_labels=both["labels"][0],
             raw_labels=both["raw_labels"][0], probabilities=served["probabilities"][0])
print("deeplab_tf" in sys.modules)
"""

# a and b share a size, so predict --crf refines them in one call (--crf_batch_size=4),
# the export one by one.
SIZES = (("a", (37, 45)), ("b", (37, 45)), ("c", (51, 29)))


def test_crf_export_serves_the_labels_of_predict_crf_at_odd_sizes(tmp_path, v3_model_dir):
    crf_flags = ["--crf", "--crf_iterations=3", "--crf_bilateral_rgb_std=5"]
    # tools.evaluate --crf_search's result, whose best setting (these flags') export takes without flags.
    model_dir = tmp_path / "model"
    shutil.copytree(v3_model_dir, model_dir)
    grid = [CRFParams(iterations=3, bilateral_rgb_std=5.0), CRFParams(iterations=3)]
    write_search(model_dir / "eval", search_document(grid, [np.eye(2) * 5, np.ones((2, 2))], 0.5, {}))
    export_dir = tmp_path / "export"
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    rng = np.random.default_rng(3)
    for name, (height, width) in SIZES:
        image = render_example(rng, 64)[0][:height, :width]
        Image.fromarray(image).save(inputs / f"{name}.png")
        np.save(tmp_path / f"{name}.npy", image)
    # A CRF export is refused by TFLite conversion with one line, by predict --crf (twice the CRF)
    # and by predict with scales (the CRF would refine each scale on its own).
    refusals = (
        ("convert_tflite", [f"--saved_model_dir={export_dir}", f"--output={tmp_path / 'm.tflite'}"],
         "--saved_model_dir:"),
        ("predict", [f"--model={export_dir}", f"--input={inputs}", f"--output_dir={tmp_path / 'o2'}", "--crf"],
         "--crf:"),
        ("predict", [f"--model={export_dir}", f"--input={inputs}", f"--output_dir={tmp_path / 'o3'}",
                     "--eval_scales=0.5,1"], "--eval_scales:"),
    )
    # The export, predict --crf and the refusals run one after the other in one process (one
    # TensorFlow import, not five); the export is served below by a process of its own.
    result, predicted, *refused_runs = run_tools([
        ("export", [f"--model_dir={model_dir}", f"--export_dir={export_dir}", "--crf"]),
        ("predict", [f"--model={v3_model_dir}", f"--input={inputs}", f"--output_dir={tmp_path / 'out'}", *crf_flags,
                     "--crf_batch_size=4"]),
        *((tool, flags) for tool, flags, _ in refusals),
    ])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "crf_search.json (the best of its search, 100.00% mIoU)" in result.stdout
    assert "dense CRF (3 iterations)" in result.stdout
    with open(export_dir / "assets.extra" / "deeplab_export.json") as file:
        recorded = json.load(file)["crf"]
    assert recorded["iterations"] == 3 and recorded["bilateral_rgb_std"] == 5.0

    assert predicted.returncode == 0, predicted.stderr[-3000:]
    arrays = [str(tmp_path / f"{name}.npy") for name, _ in SIZES]
    served = subprocess.run([sys.executable, "-c", _SERVE, str(export_dir), *arrays], cwd=tmp_path,
                            env=tool_env(), capture_output=True, text=True, timeout=300)
    assert served.returncode == 0, served.stderr[-3000:]
    assert served.stdout.strip() == "False"  # TensorFlow alone loaded it
    changed = 0
    for name, size in SIZES:
        outputs = np.load(tmp_path / f"{name}.npy.served.npz")
        expected = np.asarray(Image.open(tmp_path / "out" / f"{name}.png"))
        assert outputs["labels"].shape == expected.shape == size
        np.testing.assert_array_equal(outputs["labels"], expected)
        np.testing.assert_array_equal(outputs["crf_labels"], outputs["labels"])
        np.testing.assert_allclose(outputs["probabilities"].sum(-1), 1.0, atol=1e-5)
        changed += np.sum(outputs["raw_labels"] != outputs["labels"])
    assert changed > 0  # the CRF moved some labels, so "raw" and "refined" are not one output twice

    for (tool, _, starts), refused in zip(refusals, refused_runs):
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr[-2000:]
        assert refused.stderr.strip().splitlines()[-1].startswith(f"{tool}: error: {starts}")
    assert not os.path.exists(tmp_path / "m.tflite")
