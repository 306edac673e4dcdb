"""Parity of a converted model (.tflite, ONNX, OpenVINO IR) with its reference: argmax agreement and mIoU difference.

The reference is the SavedModel's `serving_default` signature (which equals the
Keras model: tests/export/test_saved_model.py), run on exactly the same uint8
input as the converted model, so the check measures the conversion and
quantisation alone.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from deeplab_tf.data import dataset_info, read_split
from deeplab_tf.label_space import IGNORE_LABEL
from deeplab_tf.errors import InputError
from deeplab_tf.export.fixed_size import check_input_size
from deeplab_tf.layers.image_ops import IMAGENET_MEAN_RGB
from deeplab_tf.metrics import compute_metrics


@dataclasses.dataclass(frozen=True)
class ParityLimits:
    """What a conversion must reach to pass.

    Args:
        min_agreement: least fraction of pixels whose argmax class equals the reference's.
        max_miou_drop: most mIoU points (percent) the .tflite model may lose
            against the reference; checked only where labels exist.
    """

    min_agreement: float
    max_miou_drop: float = 1.0


# The deployment targets, measured on a trained model (random weights give near-tie logits).
PARITY_LIMITS = {
    "none": ParityLimits(min_agreement=0.999),
    "float16": ParityLimits(min_agreement=0.995),
    "dynamic_range": ParityLimits(min_agreement=0.97),
    "int8": ParityLimits(min_agreement=0.97),
}

# The mean pixel rounded to uint8, so that a padded raw image is ~zero after normalisation.
_MEAN_PIXEL_UINT8 = np.round(IMAGENET_MEAN_RGB).astype(np.uint8)


@dataclasses.dataclass(frozen=True)
class Example:
    """One fixed-size model input, its labels, and the part of it that is the image.

    Args:
        image: uint8 [height, width, 3] at the model's input size.
        label: int [height, width] ground truth (ignore label in the padding), or None.
        valid_size: (h, w) of the image inside the canvas; the rest is padding.
        name: where it came from, for the report.
    """

    image: np.ndarray
    label: np.ndarray = None
    valid_size: tuple = None
    name: str = ""


def fit_to_size(image, label, input_size, ignore_label=IGNORE_LABEL, name=""):
    """`image` (and `label`) placed in an `input_size` canvas, as the fixed-size serving graph does.

    An image larger than the canvas is shrunk to fit, keeping its aspect ratio
    (bilinear; labels nearest-neighbour); then it is padded at the bottom and
    right with the mean pixel (labels with `ignore_label`).

    Returns:
        An `Example`.
    """
    height, width = check_input_size(input_size)
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise InputError(f"{name or 'image'}: expected an RGB image [H, W, 3], got shape {image.shape}")
    h, w = image.shape[:2]
    scale = min(1.0, height / h, width / w)
    if scale < 1.0:
        fitted = (min(height, max(1, round(h * scale))), min(width, max(1, round(w * scale))))
        image = tf.image.resize(image.astype(np.float32), fitted, method="bilinear").numpy()
        image = np.clip(np.round(image), 0, 255).astype(np.uint8)
        if label is not None:
            label = tf.image.resize(np.asarray(label)[..., None], fitted, method="nearest").numpy()[..., 0]
        h, w = fitted
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[...] = _MEAN_PIXEL_UINT8
    canvas[:h, :w] = image
    label_canvas = None
    if label is not None:
        label_canvas = np.full((height, width), ignore_label, np.int32)
        label_canvas[:h, :w] = label
    return Example(canvas, label_canvas, (h, w), name)


def dataset_examples(name, dataset_dir, split, input_size, count, num_classes=None, val_fraction=None):
    """Up to `count` examples of a dataset split (in the split's order), fitted to `input_size`.

    `val_fraction`: a folder dataset's split by name, as the model was trained with.
    """
    info = dataset_info(name, dataset_dir, num_classes)
    examples = []
    split_examples = read_split(name, dataset_dir, split, num_classes=num_classes, val_fraction=val_fraction)
    for example in split_examples.take(count):
        examples.append(
            fit_to_size(
                example["image"].numpy(),
                example["label"].numpy(),
                input_size,
                ignore_label=info.ignore_label,
                name=example["filename"].numpy().decode(),
            )
        )
    return examples, info


def parity_examples(input_size, count, *, dataset=None, dataset_dir=None, split="val", num_classes=None,
                    val_fraction=None):
    """The images a parity check runs on: `count` of a dataset's split, or random images without a dataset.

    Returns:
        (examples, where they came from (for the report), the ignore label).
    """
    if not dataset:
        return random_examples(input_size, count), "random (no --dataset)", IGNORE_LABEL
    examples, info = dataset_examples(dataset, dataset_dir, split, input_size, count, num_classes,
                                      val_fraction=val_fraction)
    return examples, f"{dataset}:{split}", info.ignore_label


def random_examples(input_size, count, seed=0):
    """`count` smooth random images (no labels), for a check where no dataset is given."""
    height, width = check_input_size(input_size)
    rng = np.random.default_rng(seed)
    examples = []
    for i in range(count):
        coarse = rng.uniform(0, 255, (1, max(2, height // 8), max(2, width // 8), 3)).astype(np.float32)
        image = tf.image.resize(coarse, (height, width), method="bicubic")[0].numpy()
        image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
        examples.append(Example(image, None, (height, width), f"random_{i}"))
    return examples


def label_agreement(reference_labels, labels):
    """(pixels whose label equals the reference's, pixels) of two label maps of one shape, e.g. argmax classes."""
    reference_labels, labels = np.asarray(reference_labels), np.asarray(labels)
    return int(np.sum(reference_labels == labels)), int(reference_labels.size)


def _confusion(labels, predictions, num_classes, ignore_label):
    keep = labels != ignore_label
    pairs = labels[keep].astype(np.int64) * num_classes + predictions[keep]
    return np.bincount(pairs, minlength=num_classes**2).reshape(num_classes, num_classes)


def check_parity(reference, candidate, examples, *, num_classes, limits, ignore_label=IGNORE_LABEL,
                 candidate_name="tflite"):
    """Compares `candidate` with `reference` on `examples`; returns the parity report.

    Agreement counts every pixel of the image part of each canvas (whatever its
    label); the mIoU of each model is the confusion-matrix mIoU over all
    examples with labels (`deeplab_tf.metrics.compute_metrics`), the difference in points.

    Args:
        reference, candidate: callables uint8 [1, H, W, 3] → {"labels", "probabilities"}.
        examples: `Example`s at the models' input size.
        num_classes: number of classes of the models.
        limits: a `ParityLimits`.
        candidate_name: names the candidate's mIoU in the report ("miou_<name>").

    Returns:
        A JSON-ready dict: "num_images", "num_pixels", "pixel_agreement",
        "min_image_agreement", "max_probability_difference",
        "mean_probability_difference", "miou_reference", "miou_<candidate_name>"
        (in [0, 1], None without labels), "miou_drop_points", "limits", "passed",
        "failures" (one message per limit missed).
    """
    if not examples:
        raise InputError("parity check needs at least one image")
    agreeing = total = 0
    image_agreement = []
    max_difference, difference_sum = 0.0, 0.0
    confusion = {"reference": 0, "candidate": 0}
    labelled = 0
    for example in examples:
        images = example.image[None]
        ours, theirs = reference(images), candidate(images)
        h, w = example.valid_size or example.image.shape[:2]
        ref_labels = np.asarray(ours["labels"])[0, :h, :w]
        new_labels = np.asarray(theirs["labels"])[0, :h, :w]
        same, pixels = label_agreement(ref_labels, new_labels)
        agreeing += same
        total += pixels
        image_agreement.append(same / pixels)
        difference = np.abs(
            np.asarray(ours["probabilities"], np.float32)[0, :h, :w]
            - np.asarray(theirs["probabilities"], np.float32)[0, :h, :w]
        )
        max_difference = max(max_difference, float(difference.max()))
        difference_sum += float(difference.mean())
        if example.label is not None:
            truth = np.asarray(example.label)[:h, :w]
            confusion["reference"] += _confusion(truth, ref_labels, num_classes, ignore_label)
            confusion["candidate"] += _confusion(truth, new_labels, num_classes, ignore_label)
            labelled += 1

    agreement = agreeing / total
    miou = {key: compute_metrics(matrix)["miou"] if labelled else None for key, matrix in confusion.items()}
    drop = None
    if miou["reference"] is not None and miou["candidate"] is not None:
        drop = 100.0 * (miou["reference"] - miou["candidate"])
    failures = []
    if agreement < limits.min_agreement:
        failures.append(f"argmax agreement {100 * agreement:.3f}% < {100 * limits.min_agreement:.3f}%")
    if drop is not None and drop > limits.max_miou_drop:
        failures.append(f"mIoU drop {drop:.3f} points > {limits.max_miou_drop:.3f}")
    return {
        "num_images": len(examples),
        "num_labelled_images": labelled,
        "num_pixels": total,
        "pixel_agreement": agreement,
        "min_image_agreement": min(image_agreement),
        "max_probability_difference": max_difference,
        "mean_probability_difference": difference_sum / len(examples),
        "miou_reference": miou["reference"],
        f"miou_{candidate_name}": miou["candidate"],
        "miou_drop_points": drop,
        "limits": dataclasses.asdict(limits),
        "passed": not failures,
        "failures": failures,
    }


def saved_model_reference(signature):
    """A `check_parity` callable for a loaded `serving_default` signature (numpy in and out)."""

    def run(images):
        outputs = signature(images=tf.constant(images, tf.uint8))
        return {key: value.numpy() for key, value in outputs.items()}

    return run
