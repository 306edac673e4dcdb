"""The serving signature's contract, and an exported SavedModel used as a logits model.

`deeplab_tf.export` writes SavedModels to this contract; `SavedModelLogits` reads
them back, so evaluation and prediction run on an export as on a Keras model.
The names live here, below both, so that export and inference share one
definition without export importing evaluation.
"""

import tensorflow as tf

from deeplab_tf.errors import InputError

SIGNATURE_KEY = "serving_default"
INPUT_NAME = "images"
LABELS = "labels"
PROBABILITIES = "probabilities"
OUTPUT_NAMES = (LABELS, PROBABILITIES)
# log() floor for a SavedModel's probabilities: the smallest normal float32.
_TINY = 1.1754944e-38


class SavedModelLogits:
    """An exported SavedModel used as a logits model by `predict_probabilities`.

    The `serving_default` signature (docs/deployment.md, SavedModel) maps uint8 image(s) to
    `probabilities`; log-probabilities serve as logits, since softmax(log p) = p,
    so scales, flips and windows work on it as on a Keras model (each resized
    input is rounded to uint8 first, as the signature takes).

    Args:
        path: the SavedModel directory.
    """

    def __init__(self, path):
        self._loaded = tf.saved_model.load(path)  # keeps the signature's variables alive
        if SIGNATURE_KEY not in self._loaded.signatures:
            raise InputError(f"model: {path} has no {SIGNATURE_KEY} signature")
        self._signature = self._loaded.signatures[SIGNATURE_KEY]
        inputs = self._signature.structured_input_signature[1]
        if len(inputs) != 1 or PROBABILITIES not in self._signature.structured_outputs:
            raise InputError(f"model: {path}'s {SIGNATURE_KEY} does not map one image input to {PROBABILITIES}")
        (self._input_name, spec), = inputs.items()
        self._dtype = spec.dtype
        self._batched = spec.shape.rank != 3

    def __call__(self, images, training=False):
        del training
        if self._dtype.is_integer:
            images = tf.cast(tf.clip_by_value(tf.round(images), 0, 255), self._dtype)
        else:
            images = tf.cast(images, self._dtype)
        if self._batched:
            probabilities = self._run(images)
        else:
            probabilities = tf.map_fn(self._run, images, fn_output_signature=tf.float32)
        return tf.math.log(tf.maximum(tf.cast(probabilities, tf.float32), _TINY))

    def _run(self, images):
        return tf.cast(self._signature(**{self._input_name: images})[PROBABILITIES], tf.float32)
