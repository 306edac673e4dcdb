"""The split evaluator: one confusion matrix over all images, padding excluded, CRF counted apart."""

import hashlib
import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deeplab_tf import DataError, ModelConfig, build_model
from deeplab_tf.data import eval_pipeline, read_split, synthetic
from deeplab_tf.data.image_io import voc_colormap
from deeplab_tf.evaluation.evaluator import evaluate
from deeplab_tf.inference import Predictor
from deeplab_tf.postprocess import CRFParams

NUM_CLASSES = 4
SIZES = [(40, 33), (25, 48), (48, 20)]


def _png(array, palette=False):
    picture = Image.fromarray(np.asarray(array, np.uint8), mode="P" if palette else None)
    if palette:
        picture.putpalette(voc_colormap().ravel().tolist())
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _voc_tree(root, sizes, label_sizes=None):
    """A VOC-layout val split of random images with blocky labels and 255 boundaries."""
    rng = np.random.default_rng(0)
    names = []
    for index, (height, width) in enumerate(sizes):
        name = f"2007_{index:06d}"
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        label_height, label_width = (label_sizes or sizes)[index]
        label = rng.integers(0, NUM_CLASSES, (label_height // 8 + 1, label_width // 8 + 1)).repeat(8, 0).repeat(8, 1)
        label = label[:label_height, :label_width].astype(np.uint8)
        label[:, ::7] = 255
        for folder, data in (("JPEGImages", _png(image)), ("SegmentationClass", _png(label, palette=True))):
            os.makedirs(os.path.join(root, folder), exist_ok=True)
            extension = ".jpg" if folder == "JPEGImages" else ".png"
            with open(os.path.join(root, folder, name + extension), "wb") as file:
                file.write(data)  # a PNG under .jpg: the readers go by content
        names.append(name)
    os.makedirs(os.path.join(root, "ImageSets", "Segmentation"), exist_ok=True)
    with open(os.path.join(root, "ImageSets", "Segmentation", "val.txt"), "w") as file:
        file.write("\n".join(names) + "\n")
    with open(os.path.join(root, "dataset.json"), "w") as file:
        file.write(f'{{"num_classes": {NUM_CLASSES}, "name": "synthetic"}}')
    return str(root)


@pytest.fixture(scope="module")
def predictor():
    model = build_model(ModelConfig(backbone="resnet18", num_classes=NUM_CLASSES, aspp_filters=16))
    model(np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32"), training=True)
    return Predictor(model)


def test_confusion_counts_every_valid_pixel_once_at_original_size(tmp_path, predictor):
    root = _voc_tree(tmp_path, SIZES)
    examples = eval_pipeline(read_split("synthetic", root, "val"), pad_to=(48, 48))
    result = evaluate(predictor, examples, NUM_CLASSES)

    expected = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    for example, (height, width) in zip(examples, SIZES):
        assert example["image"].shape == (1, 48, 48, 3)  # padded, not resized
        prediction = np.argmax(predictor(example["image"]).numpy()[0, :height, :width], -1)
        label = example["label"].numpy()[0, :height, :width]
        keep = label != 255
        np.add.at(expected, (label[keep], prediction[keep]), 1)
    np.testing.assert_array_equal(result.confusion, expected)
    assert result.num_images == 3
    assert result.confusion.sum() == sum(
        np.sum(np.asarray(Image.open(os.path.join(root, "SegmentationClass", f"2007_{i:06d}.png"))) != 255)
        for i in range(3)
    )
    metrics = result.metrics()
    assert metrics["num_images"] == 3 and 0 <= metrics["miou"] <= 1
    assert result.crf_confusion is None


def test_progress_samples_and_max_images(tmp_path, predictor):
    root = _voc_tree(tmp_path, SIZES)
    calls = []
    result = evaluate(predictor, eval_pipeline(read_split("synthetic", root, "val")), NUM_CLASSES,
                      max_images=2, num_samples=1, progress=lambda *args: calls.append(args))
    assert calls == [(1, 2, "2007_000000"), (2, 2, "2007_000001")]
    assert result.num_images == 2
    (sample,) = result.samples
    assert sample.image.shape == (40, 33, 3) and sample.image.dtype == np.uint8
    assert sample.label.shape == sample.prediction.shape == (40, 33)
    assert result.timing["seconds_per_image"] > 0


def test_an_unreadable_example_is_a_data_error_naming_it(tmp_path, predictor):
    root = _voc_tree(tmp_path, SIZES, label_sizes=[(40, 33), (20, 20), (48, 20)])
    with pytest.raises(DataError, match="2007_000001"):
        evaluate(predictor, eval_pipeline(read_split("synthetic", root, "val")), NUM_CLASSES)


@pytest.fixture(scope="module")
def generated_val(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthetic"))
    synthetic.generate_dataset(root, num_train=1, num_val=6, image_size=64, seed=3)
    return eval_pipeline(read_split("synthetic", root, "val"))


def _coarse_predictor(examples):
    """Probabilities as a network at output stride 8 gives them: the truth, blurred 8×."""
    table = {}
    for example in examples:
        label = example["label"][0].numpy()
        one_hot = np.eye(6, dtype=np.float32)[np.where(label == 255, 0, label)][None]
        coarse = tf.image.resize(tf.nn.avg_pool2d(one_hot, 8, 8, "VALID"), label.shape).numpy()
        table[hashlib.sha1(example["image"].numpy().tobytes()).hexdigest()] = 0.7 * coarse + 0.3 / 6
    return lambda images: tf.constant(table[hashlib.sha1(np.asarray(images).tobytes()).hexdigest()])


@pytest.mark.parametrize("backend", ["tf", "pydensecrf"])
def test_crf_sharpens_coarse_predictions_on_the_generated_val_set(generated_val, backend):
    result = evaluate(_coarse_predictor(generated_val), generated_val, 6, crf_params=CRFParams(),
                      crf_backend=backend, num_samples=1)
    without, with_crf = result.metrics()["miou"], result.metrics(crf=True)["miou"]
    assert with_crf > without + 0.03, (without, with_crf)
    assert result.crf_confusion.sum() == result.confusion.sum()  # the same pixels counted
    assert result.samples[0].crf_prediction.shape == (64, 64)
    assert result.timing["crf_seconds_per_image"] > 0


def test_crf_in_batches_and_a_search_equal_one_image_at_a_time(generated_val):
    predictor = _coarse_predictor(generated_val)
    paper, wider = CRFParams(iterations=3), CRFParams(bilateral_rgb_std=10.0, iterations=3)
    # 6 images of 64x64: runs of 4 and 2; the search runs both settings on the same probabilities.
    batched = evaluate(predictor, generated_val, 6, crf_params=paper, crf_batch_size=4,
                       crf_search=[wider, paper], num_samples=6)
    single = evaluate(predictor, generated_val, 6, crf_params=paper, num_samples=6)
    wide = evaluate(predictor, generated_val, 6, crf_params=wider)
    np.testing.assert_array_equal(batched.crf_confusion, single.crf_confusion)
    np.testing.assert_array_equal(batched.search_confusions[0], wide.crf_confusion)
    np.testing.assert_array_equal(batched.search_confusions[1], single.crf_confusion)
    assert not np.array_equal(wide.crf_confusion, single.crf_confusion)  # the settings differ
    assert [s.filename for s in batched.samples] == [s.filename for s in single.samples]
    for one, other in zip(batched.samples, single.samples):
        np.testing.assert_array_equal(one.crf_prediction, other.crf_prediction)
