"""The generated dataset: VOC layout, determinism, sizes, the 255 band, colour edges."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from deeplab_tf import ConfigError
from deeplab_tf.data import dataset_info, read_split, synthetic


def _files(root):
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = f.read()
    return found


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthetic"))
    synthetic.generate_dataset(root, num_train=6, num_val=2, image_size=64, seed=5)
    return root


@pytest.fixture(scope="module")
def samples():
    """(image, label, objects) of 80 examples at the default size."""
    return [
        synthetic.render_example(np.random.default_rng(np.random.SeedSequence([1, 0, i])), 128)
        for i in range(80)
    ]


def test_writes_the_voc_layout_and_metadata(generated, data_helpers):
    for split, count in (("train", 6), ("val", 2), ("trainval", 8)):
        with open(os.path.join(generated, "ImageSets", "Segmentation", split + ".txt")) as f:
            assert len(f.read().split()) == count
    label = Image.open(os.path.join(generated, "SegmentationClass", "train_00000.png"))
    assert label.mode == "P"
    palette = np.array(label.getpalette()[: 256 * 3], np.uint8).reshape(256, 3)
    np.testing.assert_array_equal(palette, data_helpers.voc_palette())
    image = Image.open(os.path.join(generated, "JPEGImages", "val_00001.jpg"))
    assert image.format == "JPEG" and image.size == (64, 64) and image.mode == "RGB"
    with open(os.path.join(generated, "dataset.json")) as f:
        meta = json.load(f)
    assert meta["num_classes"] == 6 and meta["class_names"][0] == "background"
    info = dataset_info("synthetic", generated)
    assert info.num_classes == 6 and info.class_names == synthetic.CLASS_NAMES
    examples = list(read_split("synthetic", generated, "val").as_numpy_iterator())
    assert [e["image"].shape for e in examples] == [(64, 64, 3)] * 2


def test_same_seed_gives_identical_bytes_and_another_seed_differs(generated, tmp_path):
    synthetic.generate_dataset(str(tmp_path / "again"), 6, 2, 64, 5)
    synthetic.generate_dataset(str(tmp_path / "other"), 6, 2, 64, 6)
    first, again, other = _files(generated), _files(tmp_path / "again"), _files(tmp_path / "other")
    assert first == again
    assert first["JPEGImages/train_00000.jpg"] != other["JPEGImages/train_00000.jpg"]


def test_the_tool_in_two_processes_writes_the_same_bytes_as_the_library(generated, tmp_path,
                                                                       data_helpers):
    result = data_helpers.run_tool(
        "make_synthetic_data", f"--output_dir={tmp_path / 'tool'}", "--num_train=6",
        "--num_val=2", "--image_size=64", "--seed=5", "--processes=2",
    )
    assert result.returncode == 0, result.stderr
    assert _files(tmp_path / "tool") == _files(generated)


def test_object_sizes_span_twenty_times_and_more(samples):
    objects = [o for _, _, found in samples for o in found]
    areas = np.array([area for _, area in objects])
    assert areas.min() < 0.02 and areas.max() > 0.35
    assert areas.max() / areas.min() >= 20
    assert set(c for c, _ in objects) == {1, 2, 3, 4, 5}
    # Large and small objects share images.
    mixed = [f for _, _, f in samples if len(f) > 1]
    assert any(max(a for _, a in f) > 0.2 and min(a for _, a in f) < 0.05 for f in mixed)


def test_a_thin_255_band_separates_every_pair_of_classes(samples):
    band_fractions = []
    for _, label, _ in samples:
        for a, b in ((label[:, 1:], label[:, :-1]), (label[1:, :], label[:-1, :])):
            touching = (a != b) & (a != 255) & (b != 255)
            assert not touching.any()
        band_fractions.append(np.mean(label == 255))
        assert set(np.unique(label)) <= set(range(6)) | {255}
    assert 0.0 < np.mean(band_fractions) < 0.08


def test_object_edges_follow_colour_edges(samples):
    edge_strength, interior_strength = [], []
    for image, label, _ in samples:
        gray = image.astype(np.float32).mean(-1)
        gradient = np.zeros_like(gray)
        gradient[:, 1:-1] += np.abs(gray[:, 2:] - gray[:, :-2])
        gradient[1:-1, :] += np.abs(gray[2:, :] - gray[:-2, :])
        band = label == 255
        interior_background = label == 0
        edge_strength.append(gradient[band].mean())
        interior_strength.append(gradient[interior_background].mean())
    assert np.mean(edge_strength) > 3 * np.mean(interior_strength)


def test_classes_are_not_told_apart_by_colour(samples):
    # A nearest-mean-colour classifier, fitted on half the objects, is near chance on the rest.
    features, classes = [], []
    for image, label, _ in samples:
        for c in range(1, 6):
            if (label == c).sum() > 30:
                features.append(image[label == c].mean(0))
                classes.append(c)
    features, classes = np.array(features), np.array(classes)
    half = len(classes) // 2
    centroids = np.array([features[:half][classes[:half] == c].mean(0) for c in range(1, 6)])
    distances = np.linalg.norm(features[half:, None] - centroids[None], axis=-1)
    accuracy = np.mean(distances.argmin(1) + 1 == classes[half:])
    assert accuracy < 0.4, accuracy  # chance is 0.2


def test_a_scoring_set_has_val_only_and_differs_from_the_seed_before(generated, tmp_path):
    # The demo scores its v3 model on such a set, drawn with --seed + 1, beside the val split.
    root = str(tmp_path / "fresh")
    synthetic.generate_dataset(root, num_train=0, num_val=2, image_size=64, seed=6)
    with open(os.path.join(root, "ImageSets", "Segmentation", "val.txt")) as file:
        assert file.read().split() == ["val_00000", "val_00001"]
    assert len(list(read_split("synthetic", root, "val"))) == 2
    ours = Image.open(os.path.join(root, "JPEGImages", "val_00000.jpg"))
    before = Image.open(os.path.join(generated, "JPEGImages", "val_00000.jpg"))
    assert np.any(np.asarray(ours) != np.asarray(before))
    with pytest.raises(ConfigError, match="num_val"):
        synthetic.generate_dataset(str(tmp_path / "empty"), num_train=0, num_val=0, image_size=64)
