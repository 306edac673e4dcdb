"""The evaluation's files: `eval/metrics.json` (and `metrics_crf.json`) and the per-class table.

`tools.evaluate` writes these through this module, and its `--report` (and the
demo's report) read them back with `read_metrics_files`, so a notebook or the
trainer writes the same file the tools read.
"""

import glob
import json
import os

from deeplab_tf.files import write_atomically

# Keys that lead the document, in this order; the other metrics follow them.
_LEADING = ("miou", "per_class_iou", "pixel_accuracy", "num_images")


def metrics_document(result, class_names, settings, *, crf=False):
    """The `metrics.json` document of an `EvaluationResult` (with `crf`, of its CRF confusion matrix).

    Holds `miou`, `per_class_iou` (in `class_names` order, None for a class
    absent from labels and predictions), `pixel_accuracy`, `num_images`,
    `class_names`, the other metrics of `compute_metrics`, `crf`, the
    `settings` the evaluation ran with, `timing` and the `confusion_matrix`;
    the CRF's document adds `miou_without_crf`.

    Args:
        result: an `EvaluationResult`.
        class_names: the dataset's class names.
        settings: JSON-able {name: value} of how the evaluation ran.
        crf: describe the CRF's results (the result must hold them).
    """
    metrics = result.metrics(crf=crf)
    confusion = result.crf_confusion if crf else result.confusion
    document = {
        **{key: metrics[key] for key in _LEADING},
        "class_names": list(class_names),
        **{key: value for key, value in metrics.items() if key not in _LEADING},
        "crf": crf,
        "settings": settings,
        "timing": result.timing,
        "confusion_matrix": confusion.tolist(),
    }
    if crf:
        document["miou_without_crf"] = result.metrics()["miou"]
    return document


def write_metrics_file(path, document):
    """Writes `document` atomically, one top-level key a line (the confusion matrix stays compact)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in document.items()]
    write_atomically(path, "{\n" + ",\n".join(lines) + "\n}\n")


def read_metrics_files(eval_dir):
    """[(file name, document)] of every metrics document in `eval_dir`, by name; other JSON is skipped."""
    runs = []
    for path in sorted(glob.glob(os.path.join(glob.escape(eval_dir), "*.json"))):
        try:
            with open(path) as file:
                document = json.load(file)
        except (OSError, ValueError):
            continue
        if isinstance(document, dict) and "miou" in document:
            runs.append((os.path.basename(path), document))
    return runs


def per_class_table(class_names, metrics, crf_metrics=None):
    """The per-class IoU table of a metrics document (and its CRF one), in percent, as text."""
    width = max(14, *(len(n) for n in class_names)) + 2
    columns = [metrics] + ([crf_metrics] if crf_metrics else [])
    header = f"{'class':<{width}}{'IoU %':>9}" + (f"{'CRF IoU %':>11}" if crf_metrics else "")
    lines = [header, "-" * len(header)]

    def row(name, values):
        cells = [f"{'-' if v is None else f'{100 * v:.2f}':>{9 if i == 0 else 11}}" for i, v in enumerate(values)]
        return f"{name:<{width}}{''.join(cells)}"

    for index, name in enumerate(class_names):
        lines.append(row(name, [m["per_class_iou"][index] for m in columns]))
    lines.append("-" * len(header))
    lines.append(row("mIoU", [m["miou"] for m in columns]))
    lines.append(row("pixel accuracy", [m["pixel_accuracy"] for m in columns]))
    lines.append(f"{'images':<{width}}{metrics['num_images']:>9}")
    return "\n".join(lines)
