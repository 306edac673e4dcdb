"""The crf mode: the dense CRF's time per image for both backends, in turns."""

import numpy as np
from scipy import ndimage

from deeplab_tf.benchmarking import timing
from deeplab_tf.label_space import IGNORE_LABEL
from deeplab_tf.data.synthetic import render_example
from deeplab_tf.postprocess import dense_crf


def crf(config):
    """Dense CRF time per image for both backends, in turns (10 iterations, the model's number of classes).

    Two inputs: uniform noise with random logits (the top-level figures), the worst
    case for the lattice (a vertex per pixel corner, so the TF backend composes
    its bilateral filtering into one matrix), and a generated scene with logits
    that blur its labels (`scene`), whose lattice is small and shared by many
    pixels, as a photograph's is. The backends run one after the other in every
    turn, so a busy machine slows both alike; `tf_over_pydensecrf` is the median
    over turns of their ratio. With `batch_size` B > 1 the TF backend also refines
    B noise images in one call in the same turns (`tf_batch`, times per image, and
    `batch_over_single`).
    """
    rng = np.random.default_rng(0)
    batch = config.batch_size
    images = rng.integers(0, 256, (batch, *config.input_size, 3), dtype=np.uint8)
    num_classes = config.model_config.num_classes
    logits = rng.normal(size=(batch, *config.input_size, num_classes)).astype(np.float32)
    scene_image, scene_logits = _crf_scene(*config.input_size, num_classes, rng)
    runs = {}
    for backend in ("tf", "pydensecrf"):
        runs[backend] = lambda backend=backend: dense_crf(images[0], logits[0], backend=backend)
        runs[f"scene_{backend}"] = lambda backend=backend: dense_crf(scene_image, scene_logits, backend=backend)
    if batch > 1:
        runs["tf_batch"] = lambda: dense_crf(images, logits)
    for _ in range(config.warmup):
        for run in runs.values():
            run()
    times = {name: [] for name in runs}
    for _ in range(config.repeats):
        for name, run in runs.items():
            seconds = timing.time_runs(run, warmup=0, repeats=1)["median_s"]
            times[name].append(seconds / batch if name == "tf_batch" else seconds)
    summaries = {name: {"median_s": float(np.median(values)), "min_s": min(values), "max_s": max(values),
                        "times_s": values} for name, values in times.items()}
    result = {"num_classes": num_classes, "batch_size": batch,
              **{name: summaries[name] for name in ("tf", "pydensecrf", "tf_batch") if name in summaries}}
    result.update(result["tf"])
    result["tf_over_pydensecrf"] = timing.paired_ratio(times["tf"], times["pydensecrf"])
    result["scene"] = {"tf": summaries["scene_tf"], "pydensecrf": summaries["scene_pydensecrf"],
                       "tf_over_pydensecrf": timing.paired_ratio(times["scene_tf"], times["scene_pydensecrf"])}
    if batch > 1:
        result["batch_over_single"] = timing.paired_ratio(times["tf_batch"], times["tf"])
    return result


def _crf_scene(height, width, num_classes, rng):
    """A generated scene, and logits that blur its labels as an upsampled network output does."""
    image, label, _ = render_example(np.random.default_rng(1), max(height, width))
    image, label = image[:height, :width], label[:height, :width]
    one_hot = np.eye(num_classes, dtype=np.float32)[np.where(label == IGNORE_LABEL, 0, label) % num_classes]
    blurred = ndimage.gaussian_filter(one_hot, sigma=(4, 4, 0))
    return image, (4.0 * blurred + rng.normal(0, 0.5, blurred.shape)).astype(np.float32)
