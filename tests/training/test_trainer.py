"""The training loop, in process, on a tiny generated dataset (ResNet-18 at 64×64)."""

import math
import os

import numpy as np
import pytest
import tensorflow as tf

import deeplab_tf
from deeplab_tf import model_dir as model_dir_lib
from deeplab_tf import losses
from deeplab_tf.training import NonFiniteLossError, TrainConfig, Trainer, build_task, train
from deeplab_tf.training import trainer as trainer_module

V3 = deeplab_tf.ModelConfig(variant="v3", backbone="resnet18", output_stride=16, multi_grid=(1, 2), num_classes=6)
V2_MSC = deeplab_tf.ModelConfig(variant="v2", backbone="resnet18", output_stride=8, multi_grid=(1, 1),
                                num_classes=6, msc_scales=(1.0, 0.75, 0.5))


def _config(dataset_dir, **changes):
    values = dict(dataset="synthetic", dataset_dir=dataset_dir, train_split="train", crop_size=(64, 64),
                  batch_size=4, train_steps=4, base_learning_rate=0.01, checkpoint_steps=1000,
                  summary_steps=2, image_summary_steps=0, steps_per_loop=1, seed=7, validate_dataset=False)
    return TrainConfig(**{**values, **changes})


def test_loss_falls_and_the_same_seed_gives_the_same_losses(tiny_synthetic, tmp_path, recorder):
    # Whole 64×64 images, no scaling or flips: 16 images, so the net sees each one 4 times.
    config = _config(tiny_synthetic, train_steps=16, base_learning_rate=0.02, weight_decay=0.0,
                     min_scale=1.0, max_scale=1.0, flip=False)
    train(str(tmp_path / "a"), V3, config, callbacks=recorder)
    first = [p.loss for p in recorder.progress]
    assert [p.step for p in recorder.progress] == list(range(1, 17))
    assert np.mean(first[-4:]) < 0.7 * np.mean(first[:4]), first

    again = type(recorder)()
    train(str(tmp_path / "b"), V3, config, callbacks=again)
    np.testing.assert_allclose([p.loss for p in again.progress], first, rtol=1e-5)

    # The model directory follows the contract: config, checkpoints, events, model.keras.
    record = model_dir_lib.read_model_dir_json(str(tmp_path / "a"))
    assert record["dataset"]["name"] == "synthetic" and record["train"]["train_steps"] == 16
    assert os.listdir(tmp_path / "a" / "train")
    model = model_dir_lib.load_model(str(tmp_path / "a"))
    keras_model = deeplab_tf.model_dir.load_model(str(tmp_path / "a" / "model.keras"))
    images = tf.random.uniform([1, 64, 64, 3], 0, 255, seed=1)
    np.testing.assert_allclose(model(images).numpy(), keras_model(images).numpy(), atol=1e-4)


def test_resume_restores_slots_and_step_then_a_nan_loss_stops_at_its_step(
        tiny_synthetic, tmp_path, recorder, monkeypatch):
    model_dir = str(tmp_path / "run")
    train(model_dir, V3, _config(tiny_synthetic, train_steps=3, checkpoint_steps=3), callbacks=recorder)
    assert model_dir_lib.latest_checkpoint(model_dir).endswith("ckpt-3")

    # Resume: weights, momentum slots and the step come back; the schedule goes on from step 3.
    seen, built = {}, []

    def recording_build_task(*args, **kwargs):
        built.append(build_task(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(trainer_module, "build_task", recording_build_task)

    class Inspect(type(recorder)):
        def on_resume(self, step, checkpoint):
            super().on_resume(step, checkpoint)
            optimizer = built[-1].optimizer
            slots = [v for v in optimizer.variables if "momentum" in v.path]
            seen["iterations"] = int(optimizer.iterations.numpy())
            seen["step"] = int(built[-1].global_step.numpy())
            seen["saved_step"] = model_dir_lib.checkpoint_step(checkpoint)
            seen["slot_norm"] = sum(float(tf.norm(v)) for v in slots)

    resumed = Inspect()
    result = Trainer(model_dir, V3, _config(tiny_synthetic, train_steps=5, checkpoint_steps=5), callbacks=resumed).run()
    assert resumed.resumed[0] == 3
    assert seen["iterations"] == seen["step"] == seen["saved_step"] == 3
    assert seen["slot_norm"] > 0  # momentum came back, not zeros
    assert [p.step for p in resumed.progress] == [4, 5]
    assert resumed.progress[0].learning_rate == pytest.approx(0.01 * (1 - 4 / 5) ** 0.9, rel=1e-5)
    assert (result.step, result.resumed_from) == (5, 3)
    good = model_dir_lib.latest_checkpoint(model_dir)
    assert good.endswith("ckpt-5")

    # A NaN loss at step 6 stops the run naming that step; the step-5 checkpoint stays the latest.
    original = losses.segmentation_loss
    monkeypatch.setattr(losses, "segmentation_loss", lambda *a, **k: original(*a, **k) * math.nan)
    with pytest.raises(NonFiniteLossError) as error:
        train(model_dir, V3, _config(tiny_synthetic, train_steps=9, checkpoint_steps=1))
    assert error.value.step == 6 and "step 6" in str(error.value)
    assert error.value.checkpoint == good == model_dir_lib.latest_checkpoint(model_dir)
    model_dir_lib.load_model(model_dir)  # still readable


def test_v2_msc_with_downsampled_labels_frozen_bn_and_classifier_multiplier(tiny_synthetic, tmp_path, recorder):
    config = _config(tiny_synthetic, train_steps=2, fine_tune_batch_norm=False, upsample_logits=False,
                     last_layer_lr_multiplier=10.0, base_learning_rate=1e-3)
    # What the trainer builds (`build_task`). The loss terms: the fused logits and each scale, at the
    # network's stride, so 64 → 8, 48 → 6, 32 → 4.
    task = build_task(V2_MSC, config, seed=0)
    assert task.train_step.label_sizes(64, 64) == [(8, 8), (8, 8), (6, 6), (4, 4)]
    assert all(not layer.trainable for layer in task.model.backbone.layers if "bn" in layer.name)
    assert sorted(set(task.train_step.gradient_multipliers)) == [1.0, 10.0]
    assert sum(m == 10.0 for m in task.train_step.gradient_multipliers) == 8  # 4 ASPP-L kernels and biases

    result = Trainer(str(tmp_path / "v2"), V2_MSC, config, callbacks=recorder).run()
    assert result.step == 2 and np.isfinite(result.loss)
    assert isinstance(model_dir_lib.load_model(str(tmp_path / "v2")), deeplab_tf.MultiScaleDeepLab)


def test_init_checkpoint_all_layers_at_another_stride_or_backbone_only(tmp_path):
    from deeplab_tf.training import CheckpointKeeper, restore_init_checkpoint

    source = deeplab_tf.build_model(V3)
    keeper = CheckpointKeeper(str(tmp_path), model=source, step=tf.Variable(0, dtype=tf.int64))
    keeper.save(0)
    model_dir_lib.save_model_config(str(tmp_path), V3)

    stage2 = deeplab_tf.build_model(V3.with_output_stride(8))
    restore_init_checkpoint(stage2, str(tmp_path), "all")
    for ours, theirs in zip(stage2.weights, source.weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())

    other = deeplab_tf.build_model(deeplab_tf.ModelConfig(**{**V3.to_dict(), "num_classes": 3}))
    with pytest.raises(deeplab_tf.ConfigError, match="init_checkpoint"):
        restore_init_checkpoint(other, str(tmp_path), "all")
    restore_init_checkpoint(other, str(tmp_path), "backbone")
    for ours, theirs in zip(other.backbone.weights, source.backbone.weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_a_run_of_another_network_is_not_resumed(tiny_synthetic, tmp_path):
    from deeplab_tf.training import CheckpointKeeper

    model_dir = str(tmp_path / "run")
    model_dir_lib.save_model_config(model_dir, V3)
    CheckpointKeeper(model_dir, step=tf.Variable(1, dtype=tf.int64)).save(1)
    with pytest.raises(deeplab_tf.ConfigError) as error:
        train(model_dir, V3.with_output_stride(8), _config(tiny_synthetic, train_steps=2))
    assert error.value.field == "model_dir"
    assert "output_stride: 16 there, 8 here" in str(error.value)


def _scalars(model_dir, tag):
    """{step: value} of `tag` in the run's TensorBoard events."""
    found = {}
    directory = os.path.join(model_dir, "train")
    for name in sorted(os.listdir(directory)):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(directory, name)):
            for value in event.summary.value:
                if value.tag == tag:
                    found[event.step] = float(tf.make_ndarray(value.tensor))
    return found


def test_the_loss_scalars_are_means_over_the_same_steps_and_add_up(tiny_synthetic, tmp_path, recorder):
    # Groups of one step and a summary every 3: each scalar is the mean over 3 groups (the last over 1).
    model_dir = str(tmp_path / "run")
    config = _config(tiny_synthetic, train_steps=4, summary_steps=3, weight_decay=1e-2)
    train(model_dir, V3, config, callbacks=recorder)
    total, cross_entropy, decay = (_scalars(model_dir, f"loss/{part}")
                                   for part in ("total", "cross_entropy", "weight_decay"))
    assert sorted(total) == sorted(cross_entropy) == sorted(decay) == [3, 4]
    for step in total:
        assert total[step] == pytest.approx(cross_entropy[step] + decay[step], rel=1e-6, abs=1e-7)
        assert decay[step] > 0
    windows = {3: recorder.progress[:3], 4: recorder.progress[3:]}
    for step, window in windows.items():
        assert total[step] == pytest.approx(np.mean([p.loss for p in window]), rel=1e-5)
        assert cross_entropy[step] == pytest.approx(np.mean([p.cross_entropy for p in window]), rel=1e-5)
    # The config is not replaced: the drawn seed is recorded, the Trainer keeps what it was given.
    trainer = Trainer(str(tmp_path / "unseeded"), V3, _config(tiny_synthetic, train_steps=1, seed=None))
    trainer.run()
    assert trainer.config.seed is None
    assert isinstance(model_dir_lib.read_model_dir_json(str(tmp_path / "unseeded"))["train"]["seed"], int)
