"""The demo's one-page report: metrics of every inference strategy, TFLite parity, pictures."""

import html
import json
import os
import platform
import time

import numpy as np
from PIL import Image

from deeplab_tf import visualize
from deeplab_tf.evaluation.report import STYLE, html_table, percent


# (row name, model, metrics file) in the order the papers add each strategy.
EVALUATIONS = [
    ("v3, OS16, single scale", "v3", "metrics.json"),
    ("v3, OS8 at test time", "v3", "metrics_os8.json"),
    ("v3, OS16, multi-scale + flip", "v3", "metrics_ms_flip.json"),
    ("v3, OS8, multi-scale + flip", "v3", "metrics_os8_ms_flip.json"),
    ("v3, OS16, fresh images (generator seed + 1)", "v3", "metrics_fresh.json"),
    ("v2 (ASPP-L, MSC)", "v2", "metrics.json"),
    ("v2 + dense CRF", "v2", "metrics_crf.json"),
]


def _load(path):
    if not os.path.exists(path):
        return None
    with open(path) as file:
        return json.load(file)


def _metrics_section(out):
    rows, results = [], {}
    for name, model, file_name in EVALUATIONS:
        metrics = _load(os.path.join(out, model, "eval", file_name))
        results[name] = metrics
        if metrics is None:
            rows.append([name, "not run", "", "", ""])
            continue
        seconds = (metrics.get("timing") or {}).get("seconds_per_image")
        rows.append([
            name,
            percent(metrics["miou"]),
            percent(metrics["pixel_accuracy"]),
            metrics["num_images"],
            "" if seconds is None else f"{seconds * 1000:.0f}",
        ])
    parts = ["<h2>Validation mIoU of each inference strategy</h2>",
             html_table(["model and inference", "mIoU %", "pixel accuracy %", "images", "ms / image"], rows)]
    scales = (results.get("v3, OS16, multi-scale + flip") or {}).get("settings", {}).get("eval_scales")
    if scales:
        parts.append(f"<p>Multi-scale rows: scales {', '.join(f'{s:g}' for s in scales)}, each also flipped.</p>")
    before, after = results["v2 (ASPP-L, MSC)"], results["v2 + dense CRF"]
    if before and after:
        gain = 100 * (after["miou"] - before["miou"])
        parts.append(f"<p>The dense CRF changes v2's mIoU by <b>{gain:+.2f} points</b>.</p>")
    return "".join(parts), results


def _tflite_section(out):
    rows = []
    for name in ("float32", "int8"):  # the demo converts int8; older demo directories also have float32
        report = _load(os.path.join(out, "v3", "tflite", f"{name}.parity.json"))
        if report is None:
            continue
        rows.append([
            name,
            f"{report.get('file_size_bytes', 0) / 1e6:.2f}",
            percent(report.get("pixel_agreement")),
            percent(report.get("miou_reference")),
            percent(report.get("miou_tflite")),
            "pass" if report.get("passed") else "FAIL",
        ])
    if not rows:
        rows.append(["int8", "not run", "", "", "", ""])
    header = ["quantisation", "size MB", "argmax agreement %", "SavedModel mIoU %", "TFLite mIoU %", "parity"]
    return "<h2>TFLite parity (v3, LiteRT)</h2>" + html_table(header, rows)


def _index_png(path):
    image = Image.open(path)
    return np.asarray(image) if image.mode == "P" else None


def _samples_section(out, num_samples, class_names):
    data = os.path.join(out, "data")
    predictions = os.path.join(out, "predictions")
    names = sorted(f[:-4] for f in os.listdir(os.path.join(out, "samples")) if f.endswith(".jpg"))[:num_samples]
    parts = ["<h2>Validation samples</h2>"]
    legend = list(zip(class_names, range(len(class_names))))
    for name in names:
        panels = [("image", np.asarray(Image.open(os.path.join(data, "JPEGImages", f"{name}.jpg")).convert("RGB"))),
                  ("ground truth", np.asarray(Image.open(os.path.join(data, "SegmentationClass", f"{name}.png"))))]
        for title, folder in (("v3", "v3"), ("v2", "v2"), ("v2 + CRF", "v2_crf")):
            path = os.path.join(predictions, folder, f"{name}.png")
            if os.path.exists(path):
                panels.append((title, _index_png(path)))
        picture = os.path.join("figures", f"sample_{name}.png")
        visualize.sample_figure(panels, os.path.join(out, picture), legend=legend)
        parts.append(f'<img src="{picture}" alt="{html.escape(name)}">')
    return "".join(parts)


def _figures_section(out, results, class_names):
    parts = []
    series = {}
    for label, name in (("v3", "v3, OS16, single scale"), ("v2", "v2 (ASPP-L, MSC)"), ("v2 + CRF", "v2 + dense CRF")):
        if results.get(name):
            series[label] = results[name]["per_class_iou"]
    if series:
        visualize.plot_class_iou(series, class_names, os.path.join(out, "figures", "class_iou.png"))
        parts.append('<h2>Per-class IoU</h2><img src="figures/class_iou.png" alt="per-class IoU">')
    v3 = results.get("v3, OS16, single scale")
    if v3 and v3.get("confusion_matrix"):
        visualize.plot_confusion_matrix(v3["confusion_matrix"], class_names,
                                        os.path.join(out, "figures", "confusion_v3.png"))
        parts.append('<h2>Confusion matrix (v3, OS16)</h2><img src="figures/confusion_v3.png" alt="confusion">')
    for model in ("v3", "v2"):
        scalars = visualize.read_scalars(os.path.join(out, model, "train"))
        if scalars:
            path = os.path.join("figures", f"training_{model}.png")
            visualize.plot_training_curves(scalars, os.path.join(out, path))
            parts.append(f'<h2>Training curves ({model})</h2><img src="{path}" alt="training {model}">')
    return "".join(parts)


def write_demo_report(out, timings, num_samples=6):
    """Writes `out/report.html` (and `out/figures/`) from what the demo left in `out`."""
    os.makedirs(os.path.join(out, "figures"), exist_ok=True)
    dataset = _load(os.path.join(out, "data", "dataset.json")) or {}
    class_names = dataset.get("class_names", [])
    metrics_html, results = _metrics_section(out)
    timing_rows = [[name, f"{seconds:.0f}"] for name, seconds in timings.items()]
    timing_rows.append(["total", f"{sum(timings.values()):.0f}"])
    parts = [
        "<h1>deeplab_tf demo</h1>",
        f"<p>{html.escape(time.strftime('%Y-%m-%d %H:%M %Z'))} on {html.escape(platform.platform())}, "
        f"{os.cpu_count()} CPU cores. Generated dataset: {dataset.get('num_train')} train / "
        f"{dataset.get('num_val')} val images of {dataset.get('image_size')} px, classes: "
        f"{html.escape(', '.join(class_names))}.</p>",
        metrics_html,
        _tflite_section(out),
        _samples_section(out, num_samples, class_names),
        _figures_section(out, results, class_names),
        "<h2>Time per step (s)</h2>" + html_table(["step", "seconds"], timing_rows),
    ]
    path = os.path.join(out, "report.html")
    with open(path, "w") as file:
        file.write(f"<!doctype html><html><head><meta charset='utf-8'><title>deeplab_tf demo</title>"
                   f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    return path
