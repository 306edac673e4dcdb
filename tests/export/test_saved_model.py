"""SavedModel export: a fresh TF-only process reproduces the Keras model; fixed size, scales, flip."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import deeplab_tf
from deeplab_tf import ModelConfig, build_model
from deeplab_tf.inference import InferenceSettings
from deeplab_tf.export import (
    export_saved_model,
    load_serving_signature,
    read_export_info,
    serving_function,
)
from deeplab_tf.layers.image_ops import IMAGENET_MEAN_RGB

# Runs in a new interpreter that imports only TensorFlow (and its numpy), as a server would.
_FRESH_PROCESS = r"""
import json, sys
import numpy as np
import tensorflow as tf

inputs = np.load(sys.argv[1])
outputs, facts = {}, {}
for index, export_dir in enumerate(sys.argv[3:]):
    signature = tf.saved_model.load(export_dir).signatures["serving_default"]
    spec = signature.structured_input_signature[1]["images"]
    facts[export_dir] = {"input": [spec.dtype.name, spec.shape.as_list()],
                         "outputs": sorted(signature.structured_outputs)}
    for key in inputs.files:
        result = signature(images=tf.constant(inputs[key]))
        for name, value in result.items():
            outputs[f"{index}/{key}/{name}"] = value.numpy()
np.savez(sys.argv[2], **outputs)
facts["project_modules"] = sorted(m for m in sys.modules if m.split(".")[0] == "deeplab_tf")
print(json.dumps(facts))
"""


def _images(seed, shape):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _keras_probabilities(model, images):
    return tf.nn.softmax(model(tf.cast(images, tf.float32), training=False)).numpy()


def test_fresh_tensorflow_process_matches_keras(tmp_path, v3_model, v3_saved_model):
    """v3 and v2 (MSC, OS8) SavedModels, loaded by plain tf.saved_model.load, equal Keras."""
    v2 = build_model(
        ModelConfig(variant="v2", backbone="resnet18", output_stride=8, num_classes=6, msc_scales=(1.0, 0.5))
    )
    v2_dir = str(tmp_path / "v2")
    info = export_saved_model(v2, v2_dir)
    assert info["crf"] is False and info["model"]["variant"] == "v2"

    inputs = {"batch": _images(0, (2, 64, 64, 3)), "odd": _images(1, (1, 41, 57, 3))}
    np.savez(tmp_path / "inputs.npz", **inputs)
    result = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS, str(tmp_path / "inputs.npz"), str(tmp_path / "out.npz"),
         v3_saved_model, v2_dir],
        capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts.pop("project_modules") == []
    for export_dir in (v3_saved_model, v2_dir):
        assert facts[export_dir] == {"input": ["uint8", [None, None, None, 3]], "outputs": ["labels", "probabilities"]}

    outputs = np.load(tmp_path / "out.npz")
    for index, model in enumerate((v3_model, v2)):
        for key, images in inputs.items():
            expected = _keras_probabilities(model, images)
            probabilities = outputs[f"{index}/{key}/probabilities"]
            labels = outputs[f"{index}/{key}/labels"]
            assert probabilities.dtype == np.float32 and labels.dtype == np.int32
            assert labels.shape == images.shape[:3] and probabilities.shape == images.shape[:3] + (6,)
            np.testing.assert_allclose(probabilities, expected, atol=1e-5)
            np.testing.assert_array_equal(labels, np.argmax(probabilities, axis=-1))


def test_fixed_input_size_pads_small_and_shrinks_large_images(v3_model):
    serve = serving_function(v3_model, input_size=(64, 64))
    mean = np.array(IMAGENET_MEAN_RGB, np.float32)

    small = _images(2, (1, 40, 56, 3))
    canvas = np.broadcast_to(mean, (1, 64, 64, 3)).copy()
    canvas[:, :40, :56] = small
    outputs = serve(tf.constant(small))
    assert outputs["labels"].shape == (1, 40, 56)
    np.testing.assert_allclose(
        outputs["probabilities"], _keras_probabilities(v3_model, canvas)[:, :40, :56], atol=1e-5
    )

    large = _images(3, (1, 96, 80, 3))  # shrunk by 2/3 to 64×53, padded, then resized back
    shrunk = tf.image.resize(large.astype(np.float32), (64, 53)).numpy()
    canvas = np.broadcast_to(mean, (1, 64, 64, 3)).copy()
    canvas[:, :, :53] = shrunk
    expected = tf.image.resize(_keras_probabilities(v3_model, canvas)[:, :, :53], (96, 80)).numpy()
    outputs = serve(tf.constant(large))
    assert outputs["labels"].shape == (1, 96, 80)
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)


def test_multi_scale_and_flip_average_probabilities(v3_model):
    settings = InferenceSettings(scales=(1.0, 0.5), flip=True)
    images = _images(4, (1, 48, 64, 3)).astype(np.float32)
    expected = 0
    for scale in (1.0, 0.5):
        scaled = tf.image.resize(images, (int(np.ceil(48 * scale)), int(np.ceil(64 * scale)))).numpy()
        for flipped in (False, True):
            x = scaled[:, :, ::-1] if flipped else scaled
            logits = v3_model(x, training=False).numpy()
            logits = logits[:, :, ::-1] if flipped else logits
            expected = expected + tf.nn.softmax(tf.image.resize(logits, (48, 64))).numpy()
    expected /= 4
    outputs = serving_function(v3_model, settings=settings)(tf.constant(images.astype(np.uint8)))
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
    np.testing.assert_array_equal(outputs["labels"], np.argmax(expected, axis=-1))


def test_export_info_and_signature_checks(tmp_path, v3_saved_model):
    info = read_export_info(v3_saved_model)
    assert info["num_classes"] == 6 and info["input_size"] is None
    assert info["eval_scales"] == [1.0] and info["flip"] is False
    assert info["model"]["backbone"] == "resnet18"
    with pytest.raises(deeplab_tf.InputError, match="saved_model_dir: .* not a SavedModel"):
        read_export_info(str(tmp_path))

    # A SavedModel with Keras' default float signature is not a segmentation export.
    import keras

    inputs = keras.Input((None, None, 3))
    keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs)).export(str(tmp_path / "foreign"), verbose=False)
    with pytest.raises(deeplab_tf.InputError, match="must map uint8 'images' to labels and probabilities"):
        load_serving_signature(str(tmp_path / "foreign"))
    with pytest.raises(deeplab_tf.ConfigError, match="input_size"):
        serving_function(None, input_size=(64, 0))
    assert os.path.isfile(os.path.join(v3_saved_model, "assets.extra", "deeplab_export.json"))
