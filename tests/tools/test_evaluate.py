"""tools.evaluate: the contract's metrics files, test-time settings, CRF, report, one-line errors."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deeplab_tf import ModelConfig, build_model, model_dir
from deeplab_tf.data import synthetic
from tests.tool_runner import run_tool, run_tools

CONTRACT_KEYS = {"miou", "per_class_iou", "pixel_accuracy", "num_images"}


def _run(*flags):
    return run_tool("evaluate", *flags)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A generated val set and a model directory that records it, with a loss curve."""
    root = tmp_path_factory.mktemp("evaluate")
    data = str(root / "data")
    synthetic.generate_dataset(data, num_train=1, num_val=3, image_size=64, seed=0)
    config = ModelConfig(backbone="resnet18", num_classes=6, aspp_filters=16)
    model = build_model(config)
    model(np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32"), training=True)
    directory = str(root / "model")
    model_dir.save_model_config(directory, config, dataset={"name": "synthetic", "dataset_dir": data})
    tf.train.CheckpointManager(tf.train.Checkpoint(model=model), os.path.join(directory, "checkpoints"), 1).save()
    writer = tf.summary.create_file_writer(os.path.join(directory, "train"))
    with writer.as_default():
        for step in range(3):
            tf.summary.write("loss", tf.constant(1.0 / (step + 1)), step=step)
    writer.close()
    return directory, data


def _read(path):
    with open(path) as file:
        return json.load(file)


def _numpy_miou(confusion):
    confusion = np.asarray(confusion, np.float64)
    intersection = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - intersection
    return np.mean(intersection[union > 0] / union[union > 0])


def test_default_run_writes_the_contract_metrics(run_dir):
    directory, data = run_dir
    result = _run(f"--model_dir={directory}")  # dataset and its folder from model_config.json
    assert result.returncode == 0, result.stderr
    metrics = _read(os.path.join(directory, "eval", "metrics.json"))
    assert CONTRACT_KEYS <= set(metrics)
    assert metrics["num_images"] == 3
    assert metrics["class_names"] == list(synthetic.CLASS_NAMES)
    assert len(metrics["per_class_iou"]) == 6
    assert metrics["miou"] == pytest.approx(_numpy_miou(metrics["confusion_matrix"]))
    labels = [np.asarray(Image.open(os.path.join(data, "SegmentationClass", f"val_{i:05d}.png"))) for i in range(3)]
    assert np.sum(metrics["confusion_matrix"]) == sum(np.sum(label != 255) for label in labels)
    settings = metrics["settings"]
    assert settings["output_stride"] == 16 and settings["eval_scales"] == [1.0] and settings["flip"] is False
    assert settings["dataset"] == "synthetic" and settings["eval_split"] == "val"
    assert metrics["crf"] is False and metrics["timing"]["seconds_per_image"] > 0
    table = result.stdout
    assert "triangle" in table and "mIoU" in table and f"{100 * metrics['miou']:.2f}" in table


def test_bfloat16_inference_counts_the_same_pixels_and_mostly_agrees(run_dir, tmp_path):
    directory, _ = run_dir
    for precision in ("float32", "mixed_bfloat16"):
        result = _run(f"--model_dir={directory}", f"--inference_precision={precision}",
                      f"--output_name=metrics_{precision}.json")
        assert result.returncode == 0, result.stderr
    float32, bfloat16 = (_read(os.path.join(directory, "eval", f"metrics_{p}.json"))
                         for p in ("float32", "mixed_bfloat16"))
    assert bfloat16["settings"]["inference_precision"] == "mixed_bfloat16"
    confusion32, confusion16 = (np.asarray(m["confusion_matrix"]) for m in (float32, bfloat16))
    assert confusion16.sum() == confusion32.sum()
    # Pixels predicted as each class: the two precisions differ only at a few near-ties.
    moved = np.abs(confusion16.sum(0) - confusion32.sum(0)).sum() / confusion32.sum()
    assert moved < 0.05


def test_os8_multi_scale_flip_and_crf_with_report_in_named_files(run_dir):
    directory, data = run_dir
    result = _run(f"--model_dir={directory}", "--dataset=synthetic", f"--dataset_dir={data}",
                  "--output_stride=8", "--eval_scales=0.75,1", "--flip", "--crf", "--crf_iterations=3",
                  "--report", "--report_samples=2", "--output_name=metrics_os8_ms_flip.json")
    assert result.returncode == 0, result.stderr
    eval_dir = os.path.join(directory, "eval")
    plain = _read(os.path.join(eval_dir, "metrics_os8_ms_flip.json"))
    crf = _read(os.path.join(eval_dir, "metrics_os8_ms_flip_crf.json"))
    assert plain["settings"]["output_stride"] == 8 and plain["settings"]["trained_output_stride"] == 16
    assert plain["settings"]["atrous_rates"] == [12, 24, 36]
    assert plain["settings"]["eval_scales"] == [0.75, 1.0] and plain["settings"]["flip"] is True
    assert CONTRACT_KEYS <= set(crf) and crf["crf"] is True
    assert crf["settings"]["crf_params"]["iterations"] == 3
    assert crf["miou_without_crf"] == plain["miou"]
    assert np.sum(crf["confusion_matrix"]) == np.sum(plain["confusion_matrix"])
    report = os.path.join(eval_dir, "report_metrics_os8_ms_flip")
    page = open(os.path.join(report, "report.html")).read()
    for picture in ("sample_00.png", "sample_01.png", "confusion_matrix.png", "class_iou.png", "training_curves.png"):
        assert os.path.isfile(os.path.join(report, picture)) and picture in page
    assert "CRF IoU %" in result.stdout


BAD_FLAGS = [
    (["--eval_scales=1,0"], "--eval_scales"),
    (["--output_stride=12"], "--output_stride"),
    (["--dataset=voc2012", "--dataset_dir=/nonexistent"], "--dataset"),
    (["--crf", "--crf_bilateral_xy_std=0"], "--crf_bilateral_xy_std"),
]


@pytest.fixture(scope="module")
def refused(run_dir, tmp_path_factory):
    """The runs that stop at start, in one process (one TF import): each of BAD_FLAGS, then a folder that is no
    model directory (last, with that folder)."""
    not_a_model_dir = str(tmp_path_factory.mktemp("not_a_model_dir"))
    cases = [("evaluate", [f"--model_dir={run_dir[0]}", *flags]) for flags, _ in BAD_FLAGS]
    return run_tools([*cases, ("evaluate", [f"--model_dir={not_a_model_dir}"])]), not_a_model_dir


@pytest.mark.parametrize("index", range(len(BAD_FLAGS)), ids=[flag for _, flag in BAD_FLAGS])
def test_bad_flags_are_one_line_errors_naming_the_flag(refused, index):
    result, flag = refused[0][index], BAD_FLAGS[index][1]
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"evaluate: error: {flag}:"), result.stderr


def test_a_folder_that_is_no_model_dir_is_named(refused):
    result, tmp_path = refused[0][-1], refused[1]
    assert result.returncode != 0 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("evaluate: error:") and str(tmp_path) in last


def test_crf_search_writes_a_table_of_miou_per_setting_and_the_best(run_dir):
    directory, _ = run_dir
    result = _run(f"--model_dir={directory}", "--crf", "--crf_iterations=2", "--crf_search",
                  "--crf_search_bilateral_weight=2,6", "--crf_search_bilateral_xy_std=67",
                  "--crf_search_bilateral_rgb_std=3,20", "--max_images=1")
    assert result.returncode == 0, result.stderr[-3000:]
    eval_dir = os.path.join(directory, "eval")
    search = _read(os.path.join(eval_dir, "crf_search.json"))
    settings = [(r["params"]["bilateral_weight"], r["params"]["bilateral_rgb_std"]) for r in search["results"]]
    assert settings == [(2.0, 3.0), (2.0, 20.0), (6.0, 3.0), (6.0, 20.0)]
    assert all(r["params"]["bilateral_xy_std"] == 67.0 and r["params"]["iterations"] == 2 for r in search["results"])
    assert search["best"]["miou"] == max(r["miou"] for r in search["results"])
    table = open(os.path.join(eval_dir, "crf_search.md")).read()
    assert table.count("\n| ") == 4 and table.count("| best |") == 1  # a row per setting
    best = search["best"]["params"]
    assert f"--crf_bilateral_weight={best['bilateral_weight']:g}" in result.stdout  # tests/export reads it back
