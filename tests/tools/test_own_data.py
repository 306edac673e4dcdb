"""docs/own_data.md, "Three commands", end to end: validate → train → evaluate + predict on a folder."""

import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from tests.tool_runner import run_tools

COLORS = [[0, 0, 0], [250, 200, 0], [0, 120, 255]]
NAMES = ["background", "sun", "lake"]


@pytest.fixture(scope="module")
def my_data(tmp_path_factory):
    """12 JPEG photos of 64x64 with RGB masks: a disc ("sun") and a bottom band ("lake"); no split files."""
    root = tmp_path_factory.mktemp("own") / "my_data"
    os.makedirs(root / "images")
    os.makedirs(root / "masks")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:64]
    for index in range(12):
        cy, cx, r = rng.integers(14, 30), rng.integers(14, 50), rng.integers(6, 12)
        label = np.zeros((64, 64), np.uint8)
        label[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = 1
        label[y >= 44 + rng.integers(0, 8)] = 2
        image = np.asarray([[90, 110, 130], [240, 230, 60], [30, 60, 160]], np.float64)[label]
        image = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"photo_{index:02d}.jpg", quality=95)
        Image.fromarray(np.asarray(COLORS, np.uint8)[label]).save(root / "masks" / f"photo_{index:02d}.png")
    (root / "classes.json").write_text(json.dumps({"names": NAMES, "colors": COLORS}))
    return str(root)


def _ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_validate_train_evaluate_predict(my_data, tmp_path):
    # The four commands run one after the other in one process (one TensorFlow import, not four).
    stats_dir, model_dir, out = str(tmp_path / "stats"), str(tmp_path / "run"), str(tmp_path / "predictions")
    validated, trained, evaluated, predicted = (_ok(result) for result in run_tools([
        ("validate_dataset", ["--dataset=folder", f"--dataset_dir={my_data}", "--split=train",
                              f"--stats_dir={stats_dir}"]),
        ("train", ["--dataset=folder", f"--dataset_dir={my_data}", f"--model_dir={model_dir}",
                   "--backbone=resnet18", "--multi_grid=1,2", "--crop_size=64", "--batch_size=4",
                   "--train_steps=3", "--optimizer=adam", "--base_learning_rate=0.001",
                   "--class_weights=median_frequency", "--image_summary_steps=0", "--steps_per_loop=1",
                   "--seed=1", "--progress=log"]),
        ("evaluate", [f"--model_dir={model_dir}"]),
        ("predict", [f"--model={model_dir}", f"--input={os.path.join(my_data, 'images')}", f"--output_dir={out}"]),
    ]))

    # 1. Validate: statistics and the class-frequency picture.
    assert "warning:" not in validated.stdout
    with open(os.path.join(stats_dir, "stats.json")) as file:
        stats = json.load(file)
    assert stats["num_usable"] == 11 and stats["image_size"] == {"min": [64, 64], "max": [64, 64]}
    assert [c["name"] for c in stats["classes"]] == NAMES
    assert all(c["images"] == 11 for c in stats["classes"])
    assert sum(c["pixel_share"] for c in stats["classes"]) == pytest.approx(1.0)
    with Image.open(os.path.join(stats_dir, "class_frequencies.png")) as chart:
        assert chart.format == "PNG" and chart.width > 300

    # 2. Train a few steps of a tiny network, median-frequency weighted.
    assert "finished at step 3" in trained.stdout
    with open(os.path.join(model_dir, "model_config.json")) as file:
        record = json.load(file)
    weights = record["train"]["class_weights"]
    assert record["train"]["class_weights_from"] == "median_frequency"
    assert len(weights) == 3 and weights[0] < 1.0 < max(weights[1:])  # the background is the common class
    assert record["dataset"]["palette"] == COLORS

    # 3. Evaluate on the held-out split (by name) and predict, coloured with classes.json's colours.
    with open(os.path.join(model_dir, "eval", "metrics.json")) as file:
        metrics = json.load(file)
    assert metrics["num_images"] == 1 and len(metrics["per_class_iou"]) == 3
    with Image.open(os.path.join(out, "photo_00.png")) as labels:
        assert labels.mode == "P" and labels.size == (64, 64)
        assert np.asarray(labels.getpalette()[:9]).reshape(3, 3).tolist() == COLORS


def test_a_300_class_set_trains_a_step_evaluates_and_predicts(tmp_path):
    """16-bit gray masks, 5 of 300 classes present, ignore 65535: in process (the tools' steps, without 3 starts)."""
    from deeplab_tf import ModelConfig, model_dir as model_dir_lib, visualize
    from deeplab_tf import label_space
    from deeplab_tf.data import dataset_info, eval_pipeline, palettes, read_split
    from deeplab_tf.evaluation import evaluate, metrics_document
    from deeplab_tf.evaluation.report import write_report
    from deeplab_tf.inference import Predictor
    from deeplab_tf.training import TrainConfig, train

    root = tmp_path / "wide"
    os.makedirs(root / "images")
    os.makedirs(root / "masks")
    rng = np.random.default_rng(0)
    for index in range(4):
        label = np.zeros((64, 64), np.uint16)
        for value in (7, 255, 256, 299):
            y, x = rng.integers(0, 48, 2)
            label[y:y + 16, x:x + 16] = value
        label[:2] = 65535
        Image.fromarray(label).save(root / "masks" / f"im{index}.png")
        image = np.clip(np.stack([label % 256, label // 3 % 256, label % 7 * 30], -1) + rng.normal(0, 10, (64, 64, 3)),
                        0, 255).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"im{index}.png")
    (root / "classes.json").write_text(json.dumps({"names": [f"c{k}" for k in range(300)], "ignore_label": 65535}))
    (root / "train.txt").write_text("im0\nim1\nim2\n")
    (root / "val.txt").write_text("im3\n")

    model_dir = str(tmp_path / "run")
    config = ModelConfig(backbone="resnet18", multi_grid=(1, 2), num_classes=300, aspp_filters=16)
    train(model_dir, config, TrainConfig(
        dataset="folder", dataset_dir=str(root), train_split="train", crop_size=(64, 64), batch_size=2,
        train_steps=1, image_summary_steps=1, steps_per_loop=1, seed=1, optimizer="adam"))
    record = model_dir_lib.read_model_dir_json(model_dir)
    assert record["dataset"]["ignore_label"] == 65535 and len(record["dataset"]["palette"]) == 300
    assert os.listdir(os.path.join(model_dir, "train"))  # the overlays and scalars were written

    info = dataset_info("folder", str(root))
    model = model_dir_lib.load_model(model_dir, fold_batch_norm=True)
    examples = eval_pipeline(read_split("folder", str(root), "val"), ignore_label=info.ignore_label)
    result = evaluate(Predictor(model), examples, 300, ignore_label=info.ignore_label, num_samples=1)
    assert result.num_images == 1 and result.confusion.shape == (300, 300)
    assert result.confusion.sum() == 64 * 62  # the two ignored rows are left out
    assert result.confusion[[7, 255, 256, 299]].sum() > 0 and result.confusion[[1, 100, 298]].sum() == 0
    report = write_report(str(tmp_path / "report"), title="wide", class_names=info.class_names,
                          metrics=metrics_document(result, info.class_names, {}), confusion=result.confusion,
                          samples=result.samples, palette=palettes.palette_for(info))
    assert os.path.isfile(report)

    # tools.predict's labels: argmax as uint16, written as a 16-bit gray PNG.
    image = np.asarray(Image.open(root / "images" / "im3.png"))
    probabilities = Predictor(model)(image).numpy()
    labels = np.argmax(probabilities, -1).astype(label_space.prediction_dtype(probabilities.shape[-1]))
    with Image.open(io.BytesIO(visualize.label_png(labels, palettes.palette_for(info)))) as written:
        assert written.mode == "I;16" and written.size == (64, 64)
        np.testing.assert_array_equal(np.asarray(written), np.argmax(probabilities, -1))
