"""The correctness sections of inference: the forward pass (plain, XLA, BN folded), the dense CRF and the SavedModel."""

import shutil
import tempfile

import numpy as np
import tensorflow as tf

from deeplab_tf.batch_norm_folding import fold_batch_norms
from deeplab_tf.export import export_saved_model, load_serving_signature
from deeplab_tf.gpu_check.compare import check_config, compare, logits, network_on, random_images, seeded_weights
from deeplab_tf.inference import INPUT_NAME
from deeplab_tf.postprocess import dense_crf, dense_crf_tf


def forward(settings):
    """The network's inference-mode logits on the device (plain, XLA, BN folded) against the plain reference."""
    tf.config.experimental.enable_tensor_float_32_execution(False)
    config = check_config(settings)
    weights = seeded_weights(config)
    images = random_images(settings)
    reference = logits(settings.reference_device, network_on(settings.reference_device, config, weights), images)
    network = network_on(settings.device, config, weights)
    yield compare("forward float32", settings, logits(settings.device, network, images), reference,
                  settings.tolerance)
    yield compare("forward float32, XLA", settings, logits(settings.device, network, images, jit_compile=True),
                  reference, settings.tolerance, jit_compile=True)
    with tf.device(settings.device):
        folded = fold_batch_norms(network)
    yield compare("forward float32, BN folded (as tools.evaluate)", settings,
                  logits(settings.device, folded, images), reference, settings.tolerance)


def _crf_inputs(settings):
    """A blocky image and smooth logits at the input size: regions and edges for the CRF to act on."""
    rng = np.random.default_rng(0)
    height, width = settings.input_size
    coarse = rng.integers(0, 256, (1, height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
    image = tf.image.resize(coarse, (height, width), method="nearest").numpy()[0].astype(np.uint8)
    scores = rng.normal(0, 2, (1, height // 16 + 1, width // 16 + 1, settings.model_config.num_classes))
    logits = tf.image.resize(scores.astype(np.float32), (height, width)).numpy()[0]
    return image, logits


def crf(settings):
    """The dense CRF's TF ops on the device against the same ops on the reference device, and against pydensecrf."""
    tf.config.experimental.enable_tensor_float_32_execution(False)
    image, logits = _crf_inputs(settings)

    def refine(device_name):
        with tf.device(device_name):
            return tf.function(lambda: dense_crf_tf(image, logits))().numpy()

    refined = refine(settings.device)
    yield compare("dense CRF (TF ops)", settings, refined, refine(settings.reference_device), settings.tolerance)
    row = compare("dense CRF (TF ops) against pydensecrf (C++)", settings, refined,
                  dense_crf(image, logits, backend="pydensecrf"), settings.tolerance)
    row["reference_device"] = "pydensecrf on the CPU"
    yield row


def saved_model(settings):
    """`tools.export`'s SavedModel, loaded and run on the device, against the Keras model on the reference device."""
    tf.config.experimental.enable_tensor_float_32_execution(False)
    config = check_config(settings)
    weights = seeded_weights(config)
    images = random_images(settings)
    network = network_on(settings.reference_device, config, weights)
    reference = tf.nn.softmax(logits(settings.reference_device, network, images)).numpy()
    directory = tempfile.mkdtemp(prefix="gpu_check_saved_model_")
    try:
        with tf.device(settings.reference_device):
            export_saved_model(fold_batch_norms(network), directory)  # as tools.export: BN folded
        with tf.device(settings.device):
            signature, loaded = load_serving_signature(directory)
            probabilities = signature(**{INPUT_NAME: tf.cast(images, tf.uint8)})["probabilities"].numpy()
        del loaded
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    yield compare("SavedModel inference (serving_default)", settings, probabilities, reference, settings.tolerance)
