"""The HTML reports as a browser shows them: every picture they link loads, and a broken one is caught.

The demo's report is written by its own code (`write_demo_report`) from what a demo run leaves,
made small: two generated val images of 33 px, metrics documents of a 6-class confusion matrix,
predictions that copy the truth, and a few training scalars.
"""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.data import synthetic
from deeplab_tf.evaluation import EvaluationResult, Sample, metrics_document, write_metrics_file
from deeplab_tf.evaluation.demo_report import EVALUATIONS, write_demo_report
from deeplab_tf.evaluation.report import write_report
from tests.browser import page_images

NUM_SAMPLES = 2
# Pictures of the demo report: one per sample, per-class IoU, v3's confusion matrix, v3's and v2's curves.
DEMO_PICTURES = NUM_SAMPLES + 4


def _write_scalars(log_dir, points):
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
        for step, value in points:
            tf.summary.write("loss/total", tf.constant(value, tf.float32), step=step)
    writer.close()


def _fake_demo_run(out):
    """The files a finished demo leaves in `out`, as small as the report allows."""
    data = os.path.join(out, "data")
    synthetic.generate_dataset(data, num_train=0, num_val=NUM_SAMPLES, image_size=33, seed=3)
    names = [f"val_{i:05d}" for i in range(NUM_SAMPLES)]
    os.makedirs(os.path.join(out, "samples"))
    for name in names:
        shutil.copyfile(os.path.join(data, "JPEGImages", f"{name}.jpg"), os.path.join(out, "samples", f"{name}.jpg"))
        for folder in ("v3", "v2", "v2_crf"):
            os.makedirs(os.path.join(out, "predictions", folder), exist_ok=True)
            shutil.copyfile(os.path.join(data, "SegmentationClass", f"{name}.png"),
                            os.path.join(out, "predictions", folder, f"{name}.png"))
    confusion = np.diag(np.arange(10, 16)).astype(np.int64)
    confusion[1, 0] = 4
    result = EvaluationResult(confusion=confusion, crf_confusion=None, num_images=NUM_SAMPLES, timing={}, samples=[])
    for _, model, file_name in EVALUATIONS:
        document = metrics_document(result, synthetic.CLASS_NAMES, {"eval_scales": [0.75, 1.0, 1.25]})
        write_metrics_file(os.path.join(out, model, "eval", file_name), document)
    for model in ("v3", "v2"):
        _write_scalars(os.path.join(out, model, "train"), [(0, 2.0), (10, 1.2), (20, 0.9)])


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("demo"))
    _fake_demo_run(out)
    return write_demo_report(out, {"train v3": 1.0}, num_samples=NUM_SAMPLES)


def test_every_picture_of_the_demo_report_loads_in_chromium(chromium, demo_report):
    images = page_images(chromium, demo_report)
    assert len(images) == DEMO_PICTURES, images
    assert len({image["src"] for image in images}) == DEMO_PICTURES
    assert [image for image in images if not (image["complete"] and image["width"] > 0)] == []
    assert all(not os.path.isabs(image["src"]) for image in images)  # the folder can be moved or served


def test_a_missing_or_corrupt_picture_is_caught(chromium, demo_report, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(os.path.dirname(demo_report), moved)
    os.remove(moved / "figures" / "confusion_v3.png")
    (moved / "figures" / "class_iou.png").write_bytes(b"\x89PNG\r\n\x1a\n not a picture")
    images = page_images(chromium, moved / "report.html")
    broken = sorted(image["src"] for image in images if image["width"] == 0)
    assert broken == ["figures/class_iou.png", "figures/confusion_v3.png"]
    assert len(images) - len(broken) == DEMO_PICTURES - 2  # the moved copy still shows the others


def test_every_picture_of_the_evaluation_report_loads_in_chromium(chromium, tmp_path):
    names = ["background", "disc"]
    metrics = {"miou": 0.625, "per_class_iou": [0.75, 0.5], "pixel_accuracy": 0.8, "num_images": 1}
    label = np.array([[0, 1], [255, 1]], np.uint8)
    sample = Sample("val_00000", np.zeros((2, 2, 3), np.uint8), label, label, label)
    _write_scalars(str(tmp_path / "run" / "train"), [(0, 1.0), (5, 0.5)])
    path = write_report(str(tmp_path / "report"), title="run", class_names=names, metrics=metrics,
                        crf_metrics=metrics, confusion=np.eye(2), samples=[sample], log_dir=str(tmp_path / "run"))
    images = page_images(chromium, path)
    assert len(images) == 4, images  # per-class IoU, confusion matrix, the sample, the training curves
    assert [image for image in images if not (image["complete"] and image["width"] > 0)] == []
