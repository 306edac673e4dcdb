"""Evaluation of a split: one confusion matrix over every image, optionally also after the CRF."""

import dataclasses
import time

import numpy as np
import tensorflow as tf

from deeplab_tf.data.info import IGNORE_LABEL
from deeplab_tf.errors import DataError
from deeplab_tf.metrics import ConfusionMatrix, compute_metrics
from deeplab_tf.postprocess import dense_crf


@dataclasses.dataclass
class Sample:
    """One evaluated image at its original size, for pictures of the results."""

    filename: str
    image: np.ndarray  # uint8 [H, W, 3]
    label: np.ndarray  # int32 [H, W], ignore label kept
    prediction: np.ndarray  # int32 [H, W]
    crf_prediction: np.ndarray = None  # int32 [H, W], with the CRF


@dataclasses.dataclass
class EvaluationResult:
    """What `evaluate` measured.

    Attributes:
        confusion: int64 [C, C] pixel counts (rows: ground truth) of the network.
        crf_confusion: the same after the CRF, or None without it.
        num_images: images evaluated.
        timing: seconds: `inference_s` and `crf_s` in total, `seconds_per_image`
            and `crf_seconds_per_image` as medians (the first image, which
            traces the graph, is left out when there are others), `total_s`.
        samples: the first `num_samples` images with their predictions.
    """

    confusion: np.ndarray
    crf_confusion: np.ndarray
    num_images: int
    timing: dict
    samples: list

    def metrics(self, crf=False):
        """`compute_metrics` of the network's (or, with `crf`, the CRF's) confusion matrix."""
        confusion = self.crf_confusion if crf else self.confusion
        return {**compute_metrics(confusion), "num_images": self.num_images}


def evaluate(predictor, examples, num_classes, *, ignore_label=IGNORE_LABEL, crf_params=None,
             crf_backend="tf", max_images=None, num_samples=0, progress=None):
    """Runs `predictor` over a split and counts one confusion matrix for all of it.

    Images are measured at the size `examples` gives them (the original size,
    or padded with the ignore label by `eval_pipeline(pad_to=...)`, never
    resized); padding and `ignore_label` pixels do not count.

    Args:
        predictor: images float [1, H, W, 3] → probabilities [1, H, W, C], e.g.
            an `inference.Predictor`.
        examples: a dataset from `deeplab_tf.data.eval_pipeline`.
        num_classes: C.
        ignore_label: the label left out of the metrics.
        crf_params: a `CRFParams` to also run the dense CRF on each image's
            probabilities over its unpadded region, counted separately; None
            for no CRF.
        crf_backend: "tf" or "pydensecrf".
        max_images: stop after this many images (None: the whole split).
        num_samples: keep this many images and predictions in the result.
        progress: called as `progress(done, total, filename)` after each image;
            `total` is None when the split's size is unknown.

    Returns:
        An `EvaluationResult`.

    Raises:
        DataError: an example that cannot be decoded (the message names it).
    """
    confusion = ConfusionMatrix(num_classes, ignore_label)
    crf_confusion = ConfusionMatrix(num_classes, ignore_label) if crf_params is not None else None
    total = int(examples.cardinality())
    total = None if total < 0 else total
    if max_images is not None:
        examples = examples.take(max_images)
        total = max_images if total is None else min(total, max_images)
    inference_times, crf_times, samples = [], [], []
    started = time.perf_counter()
    done = 0
    for example in _checked(examples):
        filename = example["filename"][0].numpy().decode("utf-8", "replace")
        height, width = (int(v) for v in example["original_size"][0])
        label = example["label"]

        start = time.perf_counter()
        probabilities = predictor(example["image"])
        prediction = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        confusion.update_state(label, prediction)
        prediction = prediction[0, :height, :width].numpy()
        inference_times.append(time.perf_counter() - start)

        crf_prediction = None
        if crf_params is not None:
            start = time.perf_counter()
            image = _uint8(example["image"][0])
            refined = dense_crf(image, probabilities[0].numpy(), crf_params, crf_backend,
                                valid_size=(height, width), from_probabilities=True)
            crf_prediction = refined[:height, :width].argmax(axis=-1).astype(np.int32)
            crf_confusion.update_state(label[0, :height, :width], crf_prediction)
            crf_times.append(time.perf_counter() - start)

        if len(samples) < num_samples:
            samples.append(Sample(
                filename,
                _uint8(example["image"][0, :height, :width]),
                label[0, :height, :width].numpy(),
                prediction,
                crf_prediction,
            ))
        done += 1
        if progress is not None:
            progress(done, total, filename)

    timing = {
        "inference_s": float(np.sum(inference_times)),
        "seconds_per_image": _steady_median(inference_times),
        "total_s": time.perf_counter() - started,
    }
    if crf_params is not None:
        timing.update(crf_s=float(np.sum(crf_times)), crf_seconds_per_image=_steady_median(crf_times))
    return EvaluationResult(
        confusion=confusion.result().numpy(),
        crf_confusion=None if crf_confusion is None else crf_confusion.result().numpy(),
        num_images=done,
        timing=timing,
        samples=samples,
    )


def _checked(examples):
    # Decoding errors surface while iterating; the data layer's messages name the file.
    iterator = iter(examples)
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except tf.errors.OpError as error:
            raise DataError(f"cannot read an evaluation example: {error.message.splitlines()[0]}") from None


def _uint8(image):
    return np.clip(np.round(np.asarray(image)), 0, 255).astype(np.uint8)


def _steady_median(times):
    steady = times[1:] if len(times) > 1 else times
    return float(np.median(steady)) if steady else None
