"""Evaluation of a split: one confusion matrix over every image, optionally also after the CRF."""

import dataclasses
import time

import numpy as np
import tensorflow as tf

from deeplab_tf.label_space import IGNORE_LABEL
from deeplab_tf.errors import DataError
from deeplab_tf.metrics import ConfusionMatrix, compute_metrics
from deeplab_tf.postprocess import dense_crf, same_size_runs


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
        timing: seconds: `inference_s` and `crf_s` (every CRF setting's) in total,
            `seconds_per_image` and `crf_seconds_per_image` (`crf_params`' own) as medians
            (the first image, which traces the graph, is left out when there are others), `total_s`.
        samples: the first `num_samples` images with their predictions.
        search_confusions: the CRF's confusion matrix for each of `crf_search`'s
            settings, in its order.
    """

    confusion: np.ndarray
    crf_confusion: np.ndarray
    num_images: int
    timing: dict
    samples: list
    search_confusions: list = dataclasses.field(default_factory=list)

    def metrics(self, crf=False):
        """`compute_metrics` of the network's (or, with `crf`, the CRF's) confusion matrix."""
        confusion = self.crf_confusion if crf else self.confusion
        return {**compute_metrics(confusion), "num_images": self.num_images}


def evaluate(predictor, examples, num_classes, *, ignore_label=IGNORE_LABEL, crf_params=None,
             crf_backend="tf", crf_batch_size=1, crf_search=(), max_images=None, num_samples=0,
             progress=None):
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
        crf_batch_size: consecutive images of one (padded) size are refined up
            to this many in one CRF call; the results are those of one by one.
        crf_search: more `CRFParams`, each run on the same probabilities (the
            network runs once per image), each with its own confusion matrix
            (a setting equal to `crf_params` runs once for both).
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
    # Each distinct setting runs once, though `crf_params` may also be in the search.
    settings = list(dict.fromkeys(([crf_params] if crf_params is not None else []) + list(crf_search)))
    crf_confusions = [ConfusionMatrix(num_classes, ignore_label) for _ in settings]
    total = int(examples.cardinality())
    total = None if total < 0 else total
    if max_images is not None:
        examples = examples.take(max_images)
        total = max_images if total is None else min(total, max_images)
    inference_times, crf_times, samples = [], [], []
    crf_total = 0.0  # every setting's CRF time
    started = time.perf_counter()

    def network_pass():
        for example in _checked(examples):
            height, width = (int(v) for v in example["original_size"][0])
            start = time.perf_counter()
            probabilities = predictor(example["image"])
            prediction = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
            confusion.update_state(example["label"], prediction)
            image = _Image(
                filename=example["filename"][0].numpy().decode("utf-8", "replace"),
                size=(height, width),
                image=_uint8(example["image"][0]),
                label=example["label"][0, :height, :width].numpy(),
                probabilities=probabilities[0].numpy() if settings else None,
                prediction=prediction[0, :height, :width].numpy(),
            )
            inference_times.append(time.perf_counter() - start)
            yield image

    done = 0
    for run in same_size_runs(network_pass(), crf_batch_size if settings else 1,
                              lambda image: image.image.shape):
        if settings:
            images, probabilities = np.stack([i.image for i in run]), np.stack([i.probabilities for i in run])
            for params, crf_confusion in zip(settings, crf_confusions):
                start = time.perf_counter()
                refined = dense_crf(images, probabilities, params, crf_backend, valid_size=[i.size for i in run],
                                    from_probabilities=True)
                for image, scores in zip(run, refined):
                    height, width = image.size
                    crf_prediction = scores[:height, :width].argmax(axis=-1).astype(np.int32)
                    crf_confusion.update_state(image.label, crf_prediction)
                    if params is crf_params:
                        image.crf_prediction = crf_prediction
                seconds = time.perf_counter() - start
                crf_total += seconds
                if params is crf_params:  # the per-image time is that of --crf's own setting
                    crf_times.extend([seconds / len(run)] * len(run))
        for image in run:
            if len(samples) < num_samples:
                samples.append(image.sample())
            done += 1
            if progress is not None:
                progress(done, total, image.filename)

    timing = {
        "inference_s": float(np.sum(inference_times)),
        "seconds_per_image": _steady_median(inference_times),
        "total_s": time.perf_counter() - started,
    }
    if crf_params is not None:
        timing.update(crf_s=crf_total, crf_seconds_per_image=_steady_median(crf_times))
    results = {params: c.result().numpy() for params, c in zip(settings, crf_confusions)}
    return EvaluationResult(
        confusion=confusion.result().numpy(),
        crf_confusion=results.get(crf_params),
        num_images=done,
        timing=timing,
        samples=samples,
        search_confusions=[results[params] for params in crf_search],
    )


@dataclasses.dataclass
class _Image:
    """One image after the network: what its CRF and its sample need."""

    filename: str
    size: tuple  # (height, width) unpadded
    image: np.ndarray  # uint8 [H, W, 3], padded as evaluated
    label: np.ndarray  # [height, width]
    probabilities: np.ndarray  # float32 [H, W, C], for the CRF only
    prediction: np.ndarray  # int32 [height, width]
    crf_prediction: np.ndarray = None  # int32 [height, width]

    def sample(self):
        height, width = self.size
        return Sample(
            self.filename,
            self.image[:height, :width],
            self.label,
            self.prediction,
            self.crf_prediction,
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
