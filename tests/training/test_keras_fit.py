"""Keras-native training: SegmentationLoss, MeanIoU, PolyLearningRate and the datasets with compile / fit /
evaluate / predict, checked against the trainer's loss, the library's evaluator and the trainer's loss curve."""

import json

import numpy as np
import pytest
import tensorflow as tf
import keras

import deeplab_tf
from deeplab_tf import data as data_lib
from deeplab_tf.evaluation import evaluate
from deeplab_tf.inference import InferenceSettings, Predictor
from deeplab_tf.metrics import ConfusionMatrix, compute_metrics
from deeplab_tf import losses
from deeplab_tf.training import TrainConfig, train
from deeplab_tf.training.inputs import distributed_dataset
from deeplab_tf.training.step import TrainStep, configure_batch_norm

V3 = deeplab_tf.ModelConfig(variant="v3", backbone="resnet18", output_stride=16, multi_grid=(1, 2), num_classes=6,
                            aspp_filters=16)
V3PLUS = deeplab_tf.ModelConfig(variant="v3plus", backbone="mobilenetv2", output_stride=16, num_classes=6,
                                aspp_filters=16, width_multiplier=0.35)
V2 = deeplab_tf.ModelConfig(variant="v2", backbone="resnet18", output_stride=8, multi_grid=(1, 1), num_classes=6)
V2_MSC = deeplab_tf.ModelConfig.from_dict({**V2.to_dict(), "msc_scales": (1.0, 0.5)})


def _train_config(dataset_dir, **changes):
    values = dict(dataset="synthetic", dataset_dir=dataset_dir, train_split="train", crop_size=(33, 33),
                  batch_size=2, train_steps=2, seed=7, validate_dataset=False)
    return TrainConfig(**{**values, **changes})


def _batch(seed=0, size=33, num_classes=6):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (2, size, size, 3)).astype("float32")
    labels = rng.integers(0, num_classes, (2, size, size)).astype("int32")
    labels[0, :5] = 255
    return tf.constant(images), tf.constant(labels)


# === The loss ===

@pytest.mark.parametrize("model_config, upsample_logits", [(V3, True), (V2, False)],
                         ids=["v3_upsampled_logits", "v2_labels_at_stride"])
def test_segmentation_loss_is_the_trainers_loss(tiny_synthetic, model_config, upsample_logits):
    weights = (0.5, 1.0, 2.0, 1.0, 0.0, 3.0)
    config = _train_config(tiny_synthetic, upsample_logits=upsample_logits)
    model = deeplab_tf.build_model(model_config)
    configure_batch_norm(model, config)
    step = TrainStep(model, model_config, config, keras.optimizers.SGD(), class_weights=weights)
    images, labels = _batch()
    [logits] = step.forward(images)
    labels_list, counts = step.loss_labels(labels)
    expected = losses.segmentation_loss([logits], labels_list, counts, 255, weights)
    got = deeplab_tf.SegmentationLoss(ignore_label=255, class_weights=weights)(labels, logits)
    np.testing.assert_allclose(float(got), float(expected), rtol=1e-6)
    if not upsample_logits:
        assert logits.shape[1] < labels.shape[1]  # v2: the loss took labels downsampled to the logits


def test_loss_serialises_and_refuses_sample_weights():
    loss = deeplab_tf.SegmentationLoss(ignore_label=7, class_weights=[1, 2])
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(clone, deeplab_tf.SegmentationLoss)
    assert (clone.ignore_label, clone.class_weights, clone.name) == (7, (1.0, 2.0), "segmentation_loss")
    logits, labels = tf.random.normal([1, 4, 4, 2], seed=1), tf.constant([[[0, 1, 7, 7]] * 4])
    np.testing.assert_allclose(float(clone(labels, logits)), float(loss(labels, logits)))
    with pytest.raises(deeplab_tf.InputError, match="sample_weight"):
        loss(labels, logits, sample_weight=tf.ones([1]))


def test_msc_compile_points_to_the_per_scale_view_whose_loss_is_the_trainers():
    model = deeplab_tf.build_model(V2_MSC)
    with pytest.raises(deeplab_tf.InputError, match="multi_scale_outputs.*tools.train"):
        model.compile(optimizer="sgd", loss=deeplab_tf.SegmentationLoss())
    config = TrainConfig(dataset_dir="unused", crop_size=(33, 33), upsample_logits=True)
    step = TrainStep(model, V2_MSC, config, keras.optimizers.SGD())
    images, labels = _batch(1)
    outputs = step.forward(images)
    labels_list, counts = step.loss_labels(labels)
    expected = losses.segmentation_loss(outputs, labels_list, counts)

    view = deeplab_tf.multi_scale_outputs(model)
    view.compile(optimizer="sgd", loss=deeplab_tf.SegmentationLoss())
    got = view.compute_loss(y=(labels,) * len(outputs), y_pred=outputs)
    np.testing.assert_allclose(float(got), float(expected), rtol=1e-6)


# === The metric ===

def test_mean_iou_leaves_out_ignored_pixels_and_absent_classes_as_compute_metrics():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, (2, 8, 8)).astype("int32")  # classes 4, 5 absent; 3 only predicted
    labels[1, :4] = 255
    logits = rng.normal(size=(2, 8, 8, 6)).astype("float32")
    logits[..., 4:] = -10.0
    logits[0, 0, 0, 3] = 10.0
    metric = deeplab_tf.MeanIoU(num_classes=6)
    for i in range(2):  # dataset-level: one matrix over both batches, not a mean of batch mIoUs
        metric.update_state(labels[i:i + 1], logits[i:i + 1])
    confusion = ConfusionMatrix(6)
    confusion.update_state(labels, np.argmax(logits, -1))
    expected = compute_metrics(confusion.result())
    assert expected["per_class_iou"][4] is None and expected["per_class_iou"][3] == 0.0
    np.testing.assert_allclose(float(metric.result()), expected["miou"], rtol=1e-6)
    clone = deeplab_tf.MeanIoU.from_config(metric.get_config())
    assert (clone.num_classes, clone.ignore_label, clone.name) == (6, 255, "mean_iou")
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_evaluate_gives_the_library_evaluators_miou(tiny_synthetic):
    model = deeplab_tf.build_model(V3)
    model.compile(loss=deeplab_tf.SegmentationLoss(), metrics=[deeplab_tf.MeanIoU(6)])
    logs = model.evaluate(data_lib.eval_dataset("synthetic", tiny_synthetic, "val"), return_dict=True, verbose=0)
    examples = data_lib.eval_pipeline(data_lib.read_split("synthetic", tiny_synthetic, "val"))
    expected = evaluate(Predictor(model, InferenceSettings()), examples, 6).metrics()
    assert expected["num_images"] == 4
    np.testing.assert_allclose(logs["mean_iou"], expected["miou"], atol=1e-6)


def test_poly_schedule_serialises():
    schedule = deeplab_tf.PolyLearningRate(0.01, decay_steps=100, power=0.9, warmup_steps=5)
    clone = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert isinstance(clone, deeplab_tf.PolyLearningRate) and clone.get_config() == schedule.get_config()
    assert float(clone(42)) == float(schedule(42))


# === The datasets ===

def test_the_trainers_dataset_is_the_recipe_pipeline(tiny_synthetic):
    """The trainer's (and fit's) `train_dataset`, for one and the second of two pipelines, is read_split +
    train_pipeline with the pipeline's seed and share, element for element."""
    config = _train_config(tiny_synthetic, batch_size=4, crop_size=(40, 40))
    info = data_lib.dataset_info("synthetic", tiny_synthetic)

    class Calls:  # a strategy that hands back the dataset function, to call with any context
        def distribute_datasets_from_function(self, dataset_fn):
            return dataset_fn

    dataset_fn = distributed_dataset(Calls(), config, info, seed=11)
    for context in (tf.distribute.InputContext(), tf.distribute.InputContext(2, 1, 2)):
        seed = 11 + context.input_pipeline_id
        examples = data_lib.read_split("synthetic", tiny_synthetic, "train", num_classes=info.num_classes,
                                       shuffle_files=True, seed=seed, input_context=context)
        expected = data_lib.train_pipeline(
            examples, crop_size=(40, 40), batch_size=context.get_per_replica_batch_size(4),
            min_scale=config.min_scale, max_scale=config.max_scale, scale_step=config.scale_step, flip=config.flip,
            seed=seed, ignore_label=info.ignore_label, shuffle_buffer=config.shuffle_buffer)
        for (image_a, label_a), (image_b, label_b) in zip(expected.take(3), dataset_fn(context).take(3)):
            assert image_a.shape[0] == 4 // context.num_replicas_in_sync
            np.testing.assert_array_equal(image_a.numpy(), image_b.numpy())
            np.testing.assert_array_equal(label_a.numpy(), label_b.numpy())


# === compile / fit / evaluate / predict / save ===

def _freeze_batch_norm(model):
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def _moving_means(model):
    return [layer.moving_mean.numpy().copy() for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.BatchNormalization)]


def _compile(model, steps=2):
    model.compile(optimizer=keras.optimizers.SGD(deeplab_tf.PolyLearningRate(0.01, steps), momentum=0.9),
                  loss=deeplab_tf.SegmentationLoss(), metrics=[deeplab_tf.MeanIoU(6)])


def test_v3_fit_evaluate_predict_save_and_the_tools_take_its_model_dir(tiny_synthetic, tmp_path):
    """v3, BN fine-tuned, weight decay: fit, evaluate, predict; model.save and load in safe mode; the tools."""
    from tests.tool_runner import run_tool

    model = deeplab_tf.add_weight_decay(deeplab_tf.build_model(V3), 1e-4)
    _compile(model)
    before = _moving_means(model)
    dataset = data_lib.train_dataset("synthetic", tiny_synthetic, "train", batch_size=2, crop_size=33, seed=0)
    history = model.fit(dataset, steps_per_epoch=2, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and 0 <= history.history["mean_iou"][0] <= 1
    assert all(not np.array_equal(a, b) for a, b in zip(before, _moving_means(model)))  # BN trained
    logs = model.evaluate(data_lib.eval_dataset("synthetic", tiny_synthetic, "val"), return_dict=True, verbose=0)
    assert np.isfinite(logs["loss"]) and 0 <= logs["mean_iou"] <= 1
    images = tf.random.uniform([1, 33, 41, 3], 0, 255, seed=2)
    predicted = model.predict(images, verbose=0)
    assert predicted.shape == (1, 33, 41, 6)

    path = str(tmp_path / "fit.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), predicted, atol=1e-5)
    # The loss and the poly schedule inside the optimizer came back, at the step fit reached.
    assert isinstance(loaded.loss, deeplab_tf.SegmentationLoss)
    assert loaded.optimizer.get_config()["learning_rate"]["registered_name"] == "deeplab_tf>PolyLearningRate"
    np.testing.assert_allclose(float(loaded.optimizer.learning_rate), 0.0, atol=1e-9)  # step 2 of 2: poly at 0
    assert int(loaded.optimizer.iterations) == 2

    run = str(tmp_path / "run")
    deeplab_tf.save_model_dir(loaded, run, dataset=("synthetic", tiny_synthetic))
    result = run_tool("evaluate", f"--model_dir={run}")
    assert result.returncode == 0, result.stderr[-2000:]
    with open(f"{run}/eval/metrics.json") as file:
        miou = json.load(file)["miou"]
    # tools.evaluate folds BN into the convolutions: the same network up to float rounding.
    np.testing.assert_allclose(miou, logs["mean_iou"], atol=1e-3)
    result = run_tool("export", f"--model_dir={run}", f"--export_dir={tmp_path / 'export'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "export" / "saved_model.pb").exists()


def test_v3plus_with_frozen_batch_norm_under_mixed_bfloat16(tiny_synthetic):
    # bfloat16 is emulated on CPUs without AVX-512: one step of the smallest network.
    model = deeplab_tf.build_model(V3PLUS, dtype_policy="mixed_bfloat16")
    _freeze_batch_norm(model)  # before compile, which records what trains
    _compile(model, steps=1)
    before = _moving_means(model)
    history = model.fit(data_lib.train_dataset("synthetic", tiny_synthetic, "train", batch_size=2, crop_size=33,
                                               seed=0), steps_per_epoch=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(np.array_equal(a, b) for a, b in zip(before, _moving_means(model)))  # BN frozen
    assert model.get_layer("classifier").compute_dtype == "bfloat16"
    logs = model.evaluate(tf.data.Dataset.from_tensors(_batch()), return_dict=True, verbose=0)
    assert np.isfinite(logs["loss"]) and 0 <= logs["mean_iou"] <= 1
    assert model.predict(tf.zeros([1, 33, 33, 3]), verbose=0).dtype == np.float32


# === The same numbers as the trainer ===

def test_fit_follows_the_trainers_loss_curve(tiny_synthetic, tmp_path, recorder):
    """Same seed, data, recipe and weight decay: the same losses step by step.

    By design fit has no last-layer learning-rate multiplier (the recipe here
    uses 1, as v3's does); the trainer's `train/miou` and TensorBoard logs have
    no counterpart beyond Keras's own.
    """
    steps = 4
    config = _train_config(tiny_synthetic, batch_size=4, crop_size=(48, 48), train_steps=steps,
                           base_learning_rate=0.01, steps_per_loop=1, summary_steps=steps, image_summary_steps=0,
                           checkpoint_steps=1000)
    train(str(tmp_path / "trainer"), V3, config, callbacks=recorder)
    expected = [p.loss for p in recorder.progress]

    keras.utils.set_random_seed(config.seed)  # as the trainer seeds before building
    model = deeplab_tf.add_weight_decay(deeplab_tf.build_model(V3), config.weight_decay)
    model.compile(optimizer=keras.optimizers.SGD(deeplab_tf.PolyLearningRate(config.base_learning_rate, steps),
                                                 momentum=config.momentum),
                  loss=deeplab_tf.SegmentationLoss())
    dataset = data_lib.train_dataset("synthetic", tiny_synthetic, "train", batch_size=4, crop_size=(48, 48),
                                     seed=config.seed)
    history = model.fit(dataset, steps_per_epoch=1, epochs=steps, verbose=0)  # one step per epoch: each step's loss
    np.testing.assert_allclose(history.history["loss"], expected, rtol=1e-5)


_MIRRORED_PROBE = """
import json, sys
from deeplab_tf.training.strategy import configure_cpu_devices
configure_cpu_devices(2)  # before TensorFlow initialises its devices
import keras, numpy as np, tensorflow as tf
import deeplab_tf

config = deeplab_tf.ModelConfig(variant="v3", backbone="resnet18", output_stride=16, multi_grid=(1, 2),
                                num_classes=6, aspp_filters=16, dropout_rate=0.0)
images, labels = next(iter(deeplab_tf.data.train_dataset("synthetic", sys.argv[1], "train", batch_size=8,
                                                         crop_size=33, seed=0)))
labels = tf.concat([tf.fill([2, 20, 33], 255), labels[:2, 20:]], axis=1).numpy().tolist() + labels[2:].numpy().tolist()
# Replica 0's half of each batch has far fewer labelled pixels than replica 1's.
dataset = tf.data.Dataset.from_tensor_slices((images, tf.constant(labels, tf.int32))).batch(4)

def run(strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = deeplab_tf.build_model(config)
        for layer in model._flatten_layers(include_self=False):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False  # per-replica batch statistics would differ by design
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=deeplab_tf.SegmentationLoss(),
                      metrics=[deeplab_tf.MeanIoU(6)])
    before = model.evaluate(dataset, return_dict=True, verbose=0)
    model.fit(dataset, epochs=2, verbose=0)
    after = model.evaluate(dataset, return_dict=True, verbose=0)
    return {"replicas": strategy.num_replicas_in_sync, "before": before, "after": after,
            "classifier": model.get_layer("classifier").kernel.numpy().ravel().tolist()}

print(json.dumps([run(tf.distribute.get_strategy()),
                  run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))]))
"""


def test_mirrored_strategy_on_two_cpus_gives_the_one_device_numbers(tiny_synthetic):
    """Under MirroredStrategy the loss divides by the global batch's labelled pixels and mIoU sums the replicas'
    counts, so evaluate and two epochs of fit give what one device gives."""
    import subprocess
    import sys

    from tests.tool_runner import REPO, tool_env

    result = subprocess.run([sys.executable, "-c", _MIRRORED_PROBE, tiny_synthetic], cwd=REPO, env=tool_env(),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    single, mirrored = json.loads(result.stdout.strip().splitlines()[-1])
    assert (single["replicas"], mirrored["replicas"]) == (1, 2)
    for when in ("before", "after"):
        np.testing.assert_allclose(mirrored[when]["loss"], single[when]["loss"], rtol=1e-5)
        np.testing.assert_allclose(mirrored[when]["mean_iou"], single[when]["mean_iou"], atol=1e-6)
    assert single["after"]["loss"] != single["before"]["loss"]
    np.testing.assert_allclose(mirrored["classifier"], single["classifier"], atol=1e-5)


def test_the_keras_fit_example_trains_evaluates_and_exports(tiny_synthetic, tmp_path):
    import subprocess
    import sys

    from tests.tool_runner import REPO, tool_env

    output = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "examples.keras_fit", f"--dataset_dir={tiny_synthetic}", f"--output_dir={output}",
         "--epochs=1", "--steps_per_epoch=1", "--batch_size=2", "--crop_size=33"],
        cwd=REPO, env=tool_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "val mIoU" in result.stdout
    assert deeplab_tf.model_dir.read_model_dir_json(str(output))["dataset"]["name"] == "synthetic"
    assert (output / "model.keras").exists() and (output / "export" / "saved_model.pb").exists()
