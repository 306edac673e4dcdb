"""Palette, overlays, plots, TensorBoard scalars and the HTML report."""

import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deeplab_tf import visualize
from deeplab_tf.evaluation.evaluator import Sample
from deeplab_tf.evaluation.report import write_report


def test_voc_palette_colours():
    palette = visualize.voc_palette()
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    # Colours from the VOC devkit's VOClabelcolormap.
    assert tuple(palette[0]) == (0, 0, 0)
    assert tuple(palette[1]) == (128, 0, 0)
    assert tuple(palette[15]) == (192, 128, 128)  # person
    assert tuple(palette[255]) == (224, 224, 192)  # the boundary / ignore label
    np.testing.assert_array_equal(visualize.colorize(np.array([[1, 255]])), [[[128, 0, 0], [224, 224, 192]]])


def test_overlay_tints_classes_and_leaves_background():
    image = np.full((2, 3, 3), 100, np.uint8)
    label = np.array([[0, 1, 2], [2, 0, 1]])
    mixed = visualize.overlay(image, label, alpha=0.5)
    np.testing.assert_array_equal(mixed[label == 0], image[label == 0])
    np.testing.assert_array_equal(mixed[0, 1], [114, 50, 50])  # (100 + 128) / 2, (100 + 0) / 2
    everything = visualize.overlay(image, label, alpha=1.0, transparent=())
    np.testing.assert_array_equal(everything, visualize.colorize(label))


def test_label_png_is_an_indexed_png_with_the_voc_palette():
    label = np.array([[0, 1, 20], [255, 3, 3]], np.uint8)
    picture = Image.open(io.BytesIO(visualize.label_png(label)))
    assert picture.mode == "P"
    np.testing.assert_array_equal(np.asarray(picture), label)
    np.testing.assert_array_equal(np.asarray(picture.convert("RGB")), visualize.colorize(label))


def _write_events(log_dir, tag, points):
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
        for step, value in points:
            tf.summary.write(tag, tf.constant(value, tf.float32), step=step)
    writer.close()


def test_read_scalars_from_event_files_and_plot_them(tmp_path):
    _write_events(str(tmp_path / "train"), "loss", [(0, 2.0), (10, 1.0), (20, 0.5)])
    _write_events(str(tmp_path / "train"), "loss", [(20, 0.4), (30, 0.3)])  # a resumed run
    _write_events(str(tmp_path / "eval"), "miou", [(20, 0.25)])
    scalars = visualize.read_scalars(str(tmp_path))
    assert scalars == {"eval/miou": [(20, 0.25)],
                       "train/loss": [(0, 2.0), (10, 1.0), (20, pytest.approx(0.4)), (30, pytest.approx(0.3))]}
    path = str(tmp_path / "curves.png")
    assert visualize.plot_training_curves(scalars, path)
    assert Image.open(path).size[0] > 300
    assert not visualize.plot_training_curves(visualize.read_scalars(str(tmp_path / "nothing")), path + "2")
    assert not os.path.exists(path + "2")


def test_curve_titles_read_as_words_and_val_miou_is_plotted_even_past_max_plots(tmp_path):
    assert [visualize.curve_title(tag) for tag in ("./loss/total", "./loss/cross_entropy", "./loss/weight_decay",
                                                   "./learning_rate", "./train/miou", "./eval/miou", "train/loss")] \
        == ["Total loss", "Cross-entropy", "Weight decay", "Learning rate", "Train mIoU (crops)", "Val mIoU",
            "Train loss"]
    scalars = {f"./extra/tag_{i}": [(1, 1.0)] for i in range(12)}
    scalars.update({"./loss/total": [(1, 2.0)], "./eval/miou": [(1, 0.5)], "./empty": []})
    tags = visualize.plotted_tags(scalars, max_plots=4)
    assert tags == ["./loss/total", "./eval/miou", "./extra/tag_0", "./extra/tag_1"]
    assert visualize.plot_training_curves(scalars, str(tmp_path / "curves.png"), max_plots=4)


def test_plots_write_pngs(tmp_path):
    names = ["background", "disc", "square"]
    confusion = np.array([[50, 2, 0], [3, 20, 0], [0, 0, 0]])
    visualize.plot_confusion_matrix(confusion, names, str(tmp_path / "confusion.png"))
    visualize.plot_class_iou({"network": [0.9, 0.5, None], "with CRF": [0.92, 0.6, None]}, names,
                             str(tmp_path / "iou.png"))
    visualize.sample_figure([("image", np.zeros((8, 10, 3), np.uint8)), ("truth", np.ones((8, 10), np.uint8))],
                            str(tmp_path / "sample.png"), legend=[("disc", 1)])
    for name in ("confusion.png", "iou.png", "sample.png"):
        assert Image.open(tmp_path / name).format == "PNG"


def test_report_page_links_existing_pictures_and_escapes_names(tmp_path):
    names = ["background", "<b>odd</b>"]
    metrics = {"miou": 0.625, "per_class_iou": [0.75, 0.5], "pixel_accuracy": 0.8, "num_images": 1}
    crf = {**metrics, "miou": 0.65, "per_class_iou": [0.8, 0.5]}
    label = np.array([[0, 1], [255, 1]], np.uint8)
    sample = Sample("2007_000001", np.zeros((2, 2, 3), np.uint8), label, label, label)
    _write_events(str(tmp_path / "run" / "train"), "loss", [(0, 1.0), (5, 0.5)])
    runs = [("metrics.json", {**metrics, "settings": {"output_stride": 16, "eval_scales": [1.0]}})]
    path = write_report(str(tmp_path / "report"), title="run", class_names=names, metrics=metrics,
                        crf_metrics=crf, confusion=np.eye(2), samples=[sample], runs=runs,
                        settings={"output_stride": 16}, log_dir=str(tmp_path / "run"))
    page = open(path).read()
    assert "62.50" in page and "65.00" in page  # mIoU without and with CRF, in percent
    assert "&lt;b&gt;odd&lt;/b&gt;" in page and "<b>odd" not in page
    assert "2007_000001" in page
    for picture in ("class_iou.png", "confusion_matrix.png", "sample_00.png", "training_curves.png"):
        assert f'src="{picture}"' in page
        assert os.path.isfile(tmp_path / "report" / picture)
