"""A format registered from outside the library: validated, trained on, evaluated and converted by name.

The toy format stores each split as one `<split>.npz` of `names`, `images`
(uint8 [N, H, W, 3]) and `labels` (uint8 [N, H, W]); it is defined and
registered below, touching nothing in `deeplab_tf`.
"""

import glob
import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from PIL import Image

import deeplab_tf
from deeplab_tf import model_dir as model_dir_lib
from deeplab_tf.data import (DatasetFormat, DatasetInfo, convert, dataset_info, eval_pipeline, palettes,
                             read_split, register_format, tfrecord, validate, validate_split)
from deeplab_tf.errors import DataError
from deeplab_tf.evaluation import evaluate
from deeplab_tf.inference import Predictor
from deeplab_tf.training import TrainConfig, train

TOY_CLASSES = ("background", "square")
TOY_COLORS = ((10, 20, 30), (200, 100, 0))
SIZE = 33


def _load(dataset_dir, split):
    path = os.path.join(dataset_dir, f"{split}.npz")
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such split")
    with np.load(path) as arrays:
        return [str(n) for n in arrays["names"]], arrays["images"], arrays["labels"]


def _read(dataset_dir, split, info, *, exclude=(), shuffle_files=False, seed=None, input_context=None,
          val_fraction=None):
    names, images, labels = _load(dataset_dir, split)
    keep = [i for i, name in enumerate(names) if name not in exclude]
    return tf.data.Dataset.from_tensor_slices(
        {"image": images[keep], "label": labels[keep], "filename": np.array(names)[keep]})


def _validate(report, dataset_dir, split, val_fraction):
    names, _, labels = _load(dataset_dir, split)
    report.num_examples = len(names)
    for name, label in zip(names, labels):
        bad = (label >= report.info.num_classes) & (label != report.info.ignore_label)
        problems = [validate.Problem(f"{split}.npz {name}", "label values out of range")] if bad.any() else []
        validate.add_example(report, name, problems, [], label)


def _records(dataset_dir, split, info, exclude, val_fraction):
    names, images, labels = _load(dataset_dir, split)
    for name, image, label in zip(names, images, labels):
        if name not in exclude:
            png = io.BytesIO()
            Image.fromarray(image).save(png, format="PNG")
            yield tfrecord.file_example(name, png.getvalue(), label)


TOY = register_format(DatasetFormat(
    name="toy",
    description="one .npz per split",
    info=lambda dataset_dir, num_classes: DatasetInfo("toy", len(TOY_CLASSES), class_names=TOY_CLASSES),
    list_splits=lambda dataset_dir: sorted(os.path.basename(p)[:-4] for p in glob.glob(f"{dataset_dir}/*.npz")),
    read=_read,
    validate=_validate,
    records=_records,
    class_colors=lambda num_classes: TOY_COLORS,
))


def _square(seed):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 60, (SIZE, SIZE, 3), dtype=np.uint8)
    label = np.zeros((SIZE, SIZE), np.uint8)
    label[8:24, 8:24] = 1
    image[label == 1] += 150
    label[8, 8:24] = 255
    return image, label


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    """train: two good examples; val: one good, one with a label value that is no class."""
    directory = tmp_path_factory.mktemp("toy")
    for split, names in (("train", ["a", "b"]), ("val", ["good", "bad"])):
        images, labels = zip(*(_square(seed) for seed in range(len(names))))
        labels = np.stack(labels)
        if split == "val":
            labels[1, 0, 0] = 7
        np.savez(directory / f"{split}.npz", names=names, images=np.stack(images), labels=labels)
    return str(directory)


def test_a_registered_format_has_its_info_palette_and_validation(toy_dir):
    assert dataset_info("toy", toy_dir).class_names == TOY_CLASSES
    assert palettes.class_colors(dataset_info("toy", toy_dir)) == TOY_COLORS
    report = validate_split("toy", toy_dir, "val")
    assert report.bad_examples == ["bad"] and report.num_usable == 1
    assert [str(p) for p in report.problems] == ["val.npz bad: label values out of range"]
    assert validate_split("toy", toy_dir, "train").ok
    with pytest.raises(ValueError, match="already registered"):
        register_format(DatasetFormat("toy", "another", TOY.info, TOY.list_splits, TOY.read))


def test_a_registered_format_trains_a_step_and_evaluates(toy_dir, tmp_path):
    model_config = deeplab_tf.ModelConfig(variant="v3", backbone="resnet18", output_stride=16,
                                          multi_grid=(1, 2), num_classes=2)
    config = TrainConfig(dataset="toy", dataset_dir=toy_dir, train_split="train", crop_size=(SIZE, SIZE),
                         batch_size=2, train_steps=1, checkpoint_steps=1000, summary_steps=1,
                         image_summary_steps=0, steps_per_loop=1, seed=7)
    train(str(tmp_path / "run"), model_config, config)
    assert model_dir_lib.read_model_dir_json(str(tmp_path / "run"))["dataset"]["name"] == "toy"

    predictor = Predictor(model_dir_lib.load_model(str(tmp_path / "run")))
    examples = eval_pipeline(read_split("toy", toy_dir, "val", skip_bad_examples=True))
    result = evaluate(predictor, examples, 2)
    good_label = _square(0)[1]
    assert result.num_images == 1 and result.confusion.sum() == np.sum(good_label != 255)


def test_a_registered_format_converts_to_tfrecords(toy_dir, tmp_path):
    out = str(tmp_path / "records")
    written = convert.write_tfrecords("toy", toy_dir, out, 1, skip_bad_examples=True, log_every=0)
    assert written == {"train": 2, "val": 1}
    with open(os.path.join(out, "dataset.json")) as f:
        meta = json.load(f)
    assert meta["source_dataset"] == "toy" and meta["class_names"] == list(TOY_CLASSES)
    (example,) = read_split("tfrecord", out, "val").as_numpy_iterator()
    image, label = _square(0)
    assert example["filename"] == b"good"
    np.testing.assert_array_equal(example["image"], image)
    np.testing.assert_array_equal(example["label"], label)


def test_the_dataset_flag_takes_any_registered_format():
    from tools import data_flags  # noqa: F401  (defines --dataset)

    try:
        flags.FLAGS(["test", "--dataset=toy"], known_only=True)
        assert flags.FLAGS.dataset == "toy"
        with pytest.raises(flags.IllegalFlagValueError, match="unknown dataset 'nope'.*toy"):
            flags.FLAGS(["test", "--dataset=nope"], known_only=True)
    finally:
        flags.FLAGS.unparse_flags()
