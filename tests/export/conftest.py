"""Shared, session-wide artefacts for the export tests: a tiny model directory, its SavedModel, data.

Built once per test process (ResNet-18, 64×64 images), since exporting and
converting dominate these tests' time.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf import ModelConfig, build_model, model_dir

IMAGE_SIZE = 64


def _nudge(model, seed):
    """Moves BN statistics and weights off their initial values, like a little training."""
    images = np.random.default_rng(seed).uniform(0, 255, (2, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")
    model(images, training=True)
    for weight in model.weights:
        if "moving_variance" in weight.path:
            weight.assign(weight * 0.5 + 0.5)
        elif "moving_mean" in weight.path:
            weight.assign(weight + 0.05)


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory):
    """A generated VOC-layout dataset: 6 train + 4 val images of 64×64, 6 classes."""
    from deeplab_tf.data import synthetic

    directory = str(tmp_path_factory.mktemp("synthetic"))
    info = synthetic.generate_dataset(directory, 6, 4, IMAGE_SIZE, 0)
    return directory, info


@pytest.fixture(scope="session")
def v3_model_dir(tmp_path_factory, synthetic_data):
    """A model directory (config + checkpoint) of a v3 ResNet-18 for the synthetic data."""
    directory, info = synthetic_data
    keras.utils.set_random_seed(1)
    config = ModelConfig(backbone="resnet18", num_classes=info.num_classes, aspp_filters=16)
    model = build_model(config)
    _nudge(model, 1)
    path = str(tmp_path_factory.mktemp("v3_model_dir"))
    model_dir.save_model_config(path, config, dataset={"name": "synthetic", "dataset_dir": directory})
    tf.train.CheckpointManager(tf.train.Checkpoint(model=model), os.path.join(path, "checkpoints"), 1).save()
    return path


@pytest.fixture(scope="session")
def v3_model(v3_model_dir):
    return model_dir.load_model(v3_model_dir)


@pytest.fixture(scope="session")
def v3_saved_model(tmp_path_factory, v3_model):
    """The v3 model exported for any input size, single scale."""
    from deeplab_tf.export import export_saved_model

    path = str(tmp_path_factory.mktemp("v3_saved_model"))
    export_saved_model(v3_model, path)
    return path


@pytest.fixture(scope="session")
def mobilenetv2_v3plus_saved_model(tmp_path_factory):
    """A MobileNetV2 v3+ at OS8 (dilated depthwise convolutions, the decoder), BN folded, any input size."""
    from deeplab_tf import fold_batch_norms
    from deeplab_tf.export import export_saved_model, random_examples

    config = ModelConfig(variant="v3plus", backbone="mobilenetv2", width_multiplier=0.5, output_stride=8,
                         num_classes=4, aspp_filters=16)
    model = build_model(config)
    model(random_examples(64, 1, seed=4)[0].image[None].astype("float32"), training=True)  # move BN statistics
    path = str(tmp_path_factory.mktemp("mobilenetv2_v3plus_saved_model"))
    export_saved_model(fold_batch_norms(model), path)
    return path


def tiny_segmenter(num_classes=6):
    """A two-layer stand-in segmenter (RGB 0..255 → logits), for fast conversion tests."""
    from deeplab_tf.layers import AtrousConv2D

    keras.utils.set_random_seed(2)
    images = keras.Input((None, None, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(images)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    logits = AtrousConv2D(num_classes, 3, dilation_rate=2, padding="same")(x)
    return keras.Model(images, logits, name="tiny_segmenter")


@pytest.fixture(scope="session")
def tiny_saved_model(tmp_path_factory, synthetic_data):
    """A SavedModel of `tiny_segmenter`, recording the synthetic dataset like a real export."""
    from deeplab_tf.export import export_saved_model

    directory, info = synthetic_data
    path = str(tmp_path_factory.mktemp("tiny_saved_model"))
    export_saved_model(
        tiny_segmenter(info.num_classes), path, info={"dataset": {"name": "synthetic", "dataset_dir": directory}}
    )
    return path


@pytest.fixture(scope="session")
def bare_saved_model(tmp_path_factory):
    """A SavedModel of `tiny_segmenter` that records no dataset."""
    from deeplab_tf.export import export_saved_model

    path = str(tmp_path_factory.mktemp("bare_saved_model"))
    export_saved_model(tiny_segmenter(), path)
    return path
