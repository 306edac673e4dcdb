"""SavedModel export: a `serving_default` signature from uint8 images to labels and probabilities."""

import dataclasses
import json
import os

import keras
import tensorflow as tf

from deeplab_tf.errors import InputError
from deeplab_tf.export.fixed_size import at_fixed_size, check_input_size
from deeplab_tf.inference import InferenceSettings, predict_probabilities
from deeplab_tf.inference.saved_model import INPUT_NAME, LABELS, OUTPUT_NAMES, PROBABILITIES, SIGNATURE_KEY
from deeplab_tf.postprocess import dense_crf_tf

# The signature that returns the network's labels beside the CRF's (exports with the CRF only).
CRF_SIGNATURE_KEY = "crf"
RAW_LABELS = "raw_labels"

# Facts about the export that a SavedModel signature cannot carry (beside, not in, the graph).
INFO_FILE = os.path.join("assets.extra", "deeplab_export.json")


def serving_function(model, *, input_size=None, settings=InferenceSettings(), crf_params=None):
    """The serving computation: uint8 RGB [B, H, W, 3] → {"labels", "probabilities"}.

    Preprocessing is inside: the caller feeds raw RGB; the model normalises it.
    Outputs are at the input size: "labels" int32 [B, H, W] (argmax of the
    probabilities) and "probabilities" float32 [B, H, W, C]. With `crf_params`
    both come after DeepLab v2's dense CRF, run on the network's probabilities
    at the input size (`postprocess.dense_crf_tf`, the batch as one lattice),
    and "raw_labels" holds the network's own argmax.

    Args:
        model: a Keras DeepLab model (RGB 0..255 → logits at the input size).
        input_size: None to run at each image's own size, or (height, width)
            to run at a fixed size (see `at_fixed_size`).
        settings: test-time scales, flip and sliding window, an
            `inference.InferenceSettings`: the same computation as
            `tools.evaluate` (`inference.predict_probabilities`).
        crf_params: None, or a `postprocess.CRFParams` to refine with.
    """
    fixed_size = None if input_size is None else check_input_size(input_size)

    def predict(images):
        return predict_probabilities(model, images, settings)

    def serve(images):
        pixels = tf.cast(images, tf.float32)
        probabilities = predict(pixels) if fixed_size is None else at_fixed_size(predict, pixels, fixed_size)
        labels = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        if crf_params is None:
            return {LABELS: labels, PROBABILITIES: probabilities}
        refined = dense_crf_tf(images, probabilities, crf_params, from_probabilities=True)
        return {
            LABELS: tf.argmax(refined, axis=-1, output_type=tf.int32),
            PROBABILITIES: refined,
            RAW_LABELS: labels,
        }

    return serve


def export_saved_model(
    model, export_dir, *, input_size=None, settings=InferenceSettings(), info=None, crf_params=None
):
    """Writes `model` as a SavedModel with the `serving_default` signature.

    The signature takes "images", uint8 [B, H, W, 3] of any batch and size (all
    images of one call share a size), and returns "labels" (int32 [B, H, W])
    and "probabilities" (float32 [B, H, W, C]); see `serving_function`. It
    loads with plain `tf.saved_model.load`, without this library. With
    `crf_params` the dense CRF runs inside it, after the network and before
    "labels", and a second signature, "crf", returns "raw_labels" (the
    network's) and "labels" (the CRF's) together.

    Facts about the export (input size, inference settings, number of classes,
    the model config) are written to `assets.extra/deeplab_export.json`, which
    `read_export_info` reads back.

    Args:
        model: a Keras model from RGB 0..255 to logits at the input size.
        export_dir: the SavedModel directory to write.
        input_size: None, or the (height, width) the network always runs at.
        settings: an `inference.InferenceSettings`: multi-scale, flip and
            sliding-window inference inside the graph.
        info: extra JSON-able facts to store in the info file.
        crf_params: None, or a `postprocess.CRFParams`: the dense CRF in the graph.

    Returns:
        The dict written to the info file.
    """
    fixed_size = None if input_size is None else check_input_size(input_size)
    archive = keras.export.ExportArchive()
    archive.track(model)
    serve = serving_function(model, input_size=fixed_size, settings=settings, crf_params=crf_params)
    input_signature = [tf.TensorSpec([None, None, None, 3], tf.uint8, name=INPUT_NAME)]
    if crf_params is None:
        archive.add_endpoint(SIGNATURE_KEY, serve, input_signature=input_signature)
    else:
        archive.add_endpoint(SIGNATURE_KEY, _outputs(serve, OUTPUT_NAMES), input_signature=input_signature)
        archive.add_endpoint(
            CRF_SIGNATURE_KEY, _outputs(serve, (RAW_LABELS, LABELS)), input_signature=input_signature
        )
    archive.write_out(export_dir, verbose=False)

    config = getattr(model, "model_config", None)
    facts = {
        "signature": SIGNATURE_KEY,
        "input": INPUT_NAME,
        "outputs": list(OUTPUT_NAMES),
        "num_classes": int(model.output.shape[-1]),
        "input_size": None if fixed_size is None else list(fixed_size),
        **settings.to_dict(),
        "crf": False if crf_params is None else dataclasses.asdict(crf_params),
        "model": config.to_dict() if config is not None else None,
        **(info or {}),
    }
    path = os.path.join(export_dir, INFO_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as file:
        json.dump(facts, file, indent=2, sort_keys=True)
        file.write("\n")
    return facts


def _outputs(serve, names):
    """`serve` keeping only the outputs `names`."""

    def outputs(images):
        result = serve(images)
        return {name: result[name] for name in names}

    return outputs


def read_export_info(export_dir):
    """The info dict `export_saved_model` wrote beside the SavedModel, or {} if there is none."""
    if not tf.saved_model.contains_saved_model(export_dir):
        raise InputError(f"saved_model_dir: {export_dir} is not a SavedModel directory")
    path = os.path.join(export_dir, INFO_FILE)
    if not os.path.isfile(path):
        return {}
    try:
        with open(path) as file:
            return json.load(file)
    except (OSError, ValueError) as error:
        raise InputError(f"saved_model_dir: cannot read {path}: {error}") from None


def load_serving_signature(export_dir):
    """The `serving_default` function of a SavedModel, checked to be one of ours.

    Returns:
        (signature, loaded): call `signature(images=uint8 tensor)`; keep `loaded`
        alive while the signature is in use.
    """
    if not tf.saved_model.contains_saved_model(export_dir):
        raise InputError(f"saved_model_dir: {export_dir} is not a SavedModel directory")
    loaded = tf.saved_model.load(export_dir)
    signature = loaded.signatures.get(SIGNATURE_KEY)
    if signature is None:
        raise InputError(f"saved_model_dir: {export_dir} has no {SIGNATURE_KEY!r} signature")
    inputs = signature.structured_input_signature[1]
    spec = inputs.get(INPUT_NAME)
    outputs = set(signature.structured_outputs)
    input_types = {name: tensor.dtype.name for name, tensor in inputs.items()}
    if (
        spec is None
        or len(inputs) != 1
        or spec.dtype != tf.uint8
        or not set(OUTPUT_NAMES) <= outputs
    ):
        raise InputError(
            f"saved_model_dir: {export_dir}: {SIGNATURE_KEY} must map uint8 {INPUT_NAME!r} to "
            f"{' and '.join(OUTPUT_NAMES)} (as tools.export writes it); it maps "
            f"{input_types} to {sorted(outputs)}"
        )
    return signature, loaded


def fixed_size_serving(export_dir, input_size):
    """The `serving_default` signature of a SavedModel as a tf.function of one fixed-size uint8 image.

    Converters (TFLite, ONNX) trace it: with the shape fixed they fold the
    shape-dependent branches and resize targets into constants.

    Returns:
        (function of "images" uint8 [1, height, width, 3] → {"labels",
        "probabilities"}, with its `input_signature`; loaded): keep `loaded`
        alive while the function is in use.
    """
    height, width = check_input_size(input_size)
    signature, loaded = load_serving_signature(export_dir)

    @tf.function(input_signature=[tf.TensorSpec([1, height, width, 3], tf.uint8, name=INPUT_NAME)])
    def serving_default(images):
        outputs = signature(**{INPUT_NAME: images})
        return {name: outputs[name] for name in OUTPUT_NAMES}

    return serving_default, loaded
