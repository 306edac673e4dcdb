"""The evaluation report: one HTML page with tables, sample overlays, confusion matrix, IoU bars, curves."""

import html
import os

from deeplab_tf import visualize

REPORT_FILE = "report.html"

STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


def write_report(report_dir, *, title, class_names, metrics, crf_metrics=None, confusion=None,
                 samples=(), runs=(), settings=None, log_dir=None, palette=None):
    """Writes `report_dir/report.html` and the PNGs it shows.

    Args:
        report_dir: created if needed.
        title: the page heading (e.g. the model directory).
        class_names: one name per class.
        metrics: `compute_metrics`-style dict of the network's results.
        crf_metrics: the same with the CRF, or None.
        confusion: [C, C] counts for the confusion-matrix picture (the CRF's
            when there is one), or None.
        samples: `evaluator.Sample`s to draw as image | truth | prediction | with CRF.
        runs: earlier results to compare, as (name, metrics dict with a
            "settings" entry) pairs, e.g. every `eval/metrics*.json`.
        settings: {name: value} of how this evaluation ran.
        log_dir: a folder of TensorBoard event files to plot the training curves of.
        palette: uint8 [N, 3] class colours of the samples (default VOC's).

    Returns:
        The path of the HTML page.
    """
    os.makedirs(report_dir, exist_ok=True)
    parts = [f"<h1>{_text(title)}</h1>"]
    if settings:
        parts.append("<h2>Settings</h2>" + html_table(["setting", "value"], [[k, _value(v)] for k, v in settings.items()]))
    parts.append(_summary(metrics, crf_metrics))
    if runs:
        parts.append("<h2>All evaluations of this model</h2>" + _runshtml_table(runs))

    series = {"network": metrics["per_class_iou"]}
    if crf_metrics is not None:
        series["with CRF"] = crf_metrics["per_class_iou"]
    visualize.plot_class_iou(series, class_names, os.path.join(report_dir, "class_iou.png"))
    rows = [[name] + [percent(values[i]) for values in series.values()] for i, name in enumerate(class_names)]
    parts.append("<h2>Per-class IoU</h2>" + html_table(["class", *(f"{s} IoU %" for s in series)], rows))
    parts.append('<img src="class_iou.png" alt="per-class IoU">')

    if confusion is not None:
        visualize.plot_confusion_matrix(confusion, class_names, os.path.join(report_dir, "confusion_matrix.png"))
        which = " (with CRF)" if crf_metrics is not None else ""
        parts.append(f"<h2>Confusion matrix{which}</h2>"
                     '<img src="confusion_matrix.png" alt="confusion matrix">')

    if samples:
        pictures = [_sample(report_dir, index, sample, class_names, palette) for index, sample in enumerate(samples)]
        parts.append("<h2>Samples</h2>" + "".join(pictures))

    if log_dir and os.path.isdir(log_dir):
        curves = visualize.read_scalars(log_dir)
        if visualize.plot_training_curves(curves, os.path.join(report_dir, "training_curves.png")):
            parts.append(f"<h2>Training curves</h2><p>From the TensorBoard logs in <code>{_text(log_dir)}</code>.</p>"
                         '<img src="training_curves.png" alt="training curves">')

    page = (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{_text(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
    path = os.path.join(report_dir, REPORT_FILE)
    with open(path, "w") as file:
        file.write(page)
    return path


def _summary(metrics, crf_metrics):
    rows = [["mIoU %", percent(metrics["miou"])], ["pixel accuracy %", percent(metrics["pixel_accuracy"])],
            ["images", metrics.get("num_images", "")]]
    header = ["", "network"]
    if crf_metrics is not None:
        header.append("with CRF")
        rows[0].append(percent(crf_metrics["miou"]))
        rows[1].append(percent(crf_metrics["pixel_accuracy"]))
        rows[2].append(crf_metrics.get("num_images", ""))
    return "<h2>Results</h2>" + html_table(header, rows)


def _runshtml_table(runs):
    header = ["file", "output stride", "scales", "flip", "window", "CRF", "images", "mIoU %", "pixel acc. %"]
    rows = []
    for name, result in runs:
        settings = result.get("settings", {})
        rows.append([
            name,
            settings.get("output_stride", ""),
            ",".join(f"{s:g}" for s in settings.get("eval_scales", [])),
            "yes" if settings.get("flip") else "no",
            "x".join(map(str, settings.get("window_size") or [])) or "whole image",
            settings.get("crf_backend", "") if result.get("crf") else "no",
            result.get("num_images", ""),
            percent(result.get("miou")),
            percent(result.get("pixel_accuracy")),
        ])
    return html_table(header, rows)


def _sample(report_dir, index, sample, class_names, palette):
    panels = [("image", sample.image), ("ground truth", sample.label), ("prediction", sample.prediction)]
    if sample.crf_prediction is not None:
        panels.append(("with CRF", sample.crf_prediction))
    present = sorted(set(sample.label.ravel()) | set(sample.prediction.ravel()))
    legend = [(class_names[i], i) for i in present if i < len(class_names)]
    legend += [("ignored", i) for i in present if i >= len(class_names)]
    name = f"sample_{index:02d}.png"
    visualize.sample_figure(panels, os.path.join(report_dir, name), legend=legend, palette=palette)
    return f'<p>{_text(sample.filename)}</p><img src="{name}" alt="{_text(sample.filename)}">'


def html_table(header, rows):
    """An HTML table of escaped cells."""
    head = "".join(f"<th>{_text(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_text(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def percent(value):
    return "–" if value is None else f"{100 * value:.2f}"


def _value(value):
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return "" if value is None else value


def _text(value):
    return html.escape(str(value))
