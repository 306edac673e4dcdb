"""Segmenting image files into palette label PNGs and colour overlays (`tools.predict`'s work).

One image that cannot be read, or that runs out of memory, is reported and skipped:
the others are still written.
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from deeplab_tf import label_space, visualize
from deeplab_tf.data import DatasetInfo, palettes
from deeplab_tf.errors import DataError, InputError
from deeplab_tf.evaluation import images as image_files
from deeplab_tf.postprocess import dense_crf, same_size_runs


@dataclasses.dataclass(frozen=True)
class Outputs:
    """Where one image's results go."""

    image: str
    labels: str
    overlay: str


def plan_outputs(paths, output_dir):
    """`Outputs` per image path, refusing (InputError) any that would overwrite an input."""
    outputs = [Outputs(path, os.path.join(output_dir, stem + ".png"), os.path.join(output_dir, stem + "_overlay.png"))
               for path, stem in zip(paths, image_files.output_stems(paths))]
    inputs = {os.path.abspath(p) for p in paths}
    for path in (p for o in outputs for p in (o.labels, o.overlay)):
        if os.path.abspath(path) in inputs:
            raise InputError(f"--output_dir: writing {path} would overwrite an input image")
    return outputs


def palette_from_record(dataset):
    """The class colours a model's recorded dataset facts name, else its dataset's palette, else VOC's."""
    ignore_label = int(dataset.get("ignore_label", label_space.IGNORE_LABEL))
    if dataset.get("palette"):
        return palettes.palette_array([tuple(c) for c in dataset["palette"]], ignore_label)
    names = dataset.get("class_names")
    if dataset.get("name") and names:
        return palettes.palette_for(DatasetInfo(dataset["name"], len(names), ignore_label, class_names=names))
    return palettes.palette_array()


def segment_files(predictor, outputs, *, palette, class_names=None, overlay_alpha=0.5,
                  max_pixels=image_files.DEFAULT_MAX_PIXELS, crf_params=None, crf_backend="tf", crf_batch_size=1,
                  on_error=print, on_written=None):
    """Writes each image's label PNG and overlay; returns how many images failed.

    Args:
        predictor: image uint8 [H, W, 3] → class probabilities [H, W, C] (`inference.Predictor`).
        outputs: `Outputs` per image (`plan_outputs`).
        palette: the class colours (`palette_from_record`).
        class_names: the model's classes; "background" stays untinted in overlays (class 0 when unknown).
        crf_params: refine with the dense CRF; consecutive images of one size share a call (`crf_batch_size`).
        on_error: called with a one-line message per failed image.
        on_written: called with (image path, label PNG path) per written image.
    """
    transparent = [i for i, name in enumerate(class_names or ["background"]) if name == "background"]
    failed = 0

    def out_of_memory(output, image):
        size = "" if image is None else f" at {image.shape[1]}x{image.shape[0]}"
        return f"{output.image}: out of memory{size}; lower --max_pixels or set --window_size"

    def network_pass():
        nonlocal failed
        for output in outputs:
            image = None
            try:
                image = image_files.read_image(output.image, max_pixels)
                yield output, image, predictor(image).numpy()
            except DataError as error:
                on_error(str(error))
                failed += 1
            except (tf.errors.ResourceExhaustedError, MemoryError):
                on_error(out_of_memory(output, image))
                failed += 1

    batch_size = crf_batch_size if crf_params is not None else 1
    for run in same_size_runs(network_pass(), batch_size, lambda item: item[2].shape):
        probabilities = [item[2] for item in run]
        if crf_params is not None:
            try:
                probabilities = dense_crf(np.stack([item[1] for item in run]), np.stack(probabilities),
                                          crf_params, crf_backend, from_probabilities=True)
            except (tf.errors.ResourceExhaustedError, MemoryError):
                for output, image, _ in run:
                    on_error(out_of_memory(output, image))
                failed += len(run)
                continue
        for (output, image, _), scores in zip(run, probabilities):
            labels = np.argmax(scores, axis=-1).astype(label_space.prediction_dtype(scores.shape[-1]))
            with open(output.labels, "wb") as file:
                file.write(visualize.label_png(labels, palette))
            with open(output.overlay, "wb") as file:
                file.write(visualize.rgb_png(visualize.overlay(image, labels, overlay_alpha, transparent, palette)))
            if on_written:
                on_written(output.image, output.labels)
    return failed
