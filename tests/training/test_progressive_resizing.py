"""Progressive resizing: small images for the first steps, then full size, with the groups cut at the switch."""

import pytest
import tensorflow as tf

import deeplab_tf
from deeplab_tf.data import info as info_lib
from deeplab_tf.errors import ConfigError
from deeplab_tf.training import TrainConfig, train
from deeplab_tf.training.inputs import TrainInput

V3 = deeplab_tf.ModelConfig(variant="v3", backbone="resnet18", output_stride=16, multi_grid=(1, 2), num_classes=6,
                            aspp_filters=16)


def _config(dataset_dir, **changes):
    values = dict(dataset="synthetic", dataset_dir=dataset_dir, train_split="train", crop_size=(65, 65),
                  batch_size=2, train_steps=5, small_image_steps=3, small_image_scale=0.5, min_scale=1.0,
                  max_scale=1.0, checkpoint_steps=1000, summary_steps=1000, image_summary_steps=0,
                  steps_per_loop=10, seed=3, validate_dataset=False)
    return TrainConfig(**{**values, **changes})


def test_small_batches_until_the_switch_then_full_size(tiny_synthetic):
    config = _config(tiny_synthetic)
    assert config.small_crop_size == (33, 33)
    info = info_lib.dataset_info("synthetic", tiny_synthetic)
    batches = TrainInput(tf.distribute.get_strategy(), config, info, seed=0, start_step=0)
    assert batches.steps_before_switch(0, 10) == 3 and batches.steps_before_switch(3, 10) == 10
    images, labels = next(batches.iterator(0))
    assert images.shape == (2, 33, 33, 3) and labels.shape == (2, 33, 33)
    images, labels = next(batches.iterator(3))
    assert images.shape == (2, 65, 65, 3) and labels.shape == (2, 65, 65)
    # A run resumed past the switch builds no small pipeline.
    assert TrainInput(tf.distribute.get_strategy(), config, info, seed=0, start_step=4)._small is None


def test_a_run_switches_size_at_its_step(tiny_synthetic, tmp_path, recorder):
    train(str(tmp_path / "run"), V3, _config(tiny_synthetic), callbacks=recorder)
    # steps_per_loop is 10, so only the switch cuts the first group.
    assert [p.step for p in recorder.progress] == [3, 5]
    assert all(p.loss > 0 for p in recorder.progress)


@pytest.mark.parametrize("changes, field", [
    (dict(small_image_steps=5), "small_image_steps"),
    (dict(small_image_scale=1.0), "small_image_scale"),
    (dict(upsample_logits=False), "small_image_steps"),
])
def test_bad_settings_name_their_field(tiny_synthetic, changes, field):
    with pytest.raises(ConfigError, match=field):
        _config(tiny_synthetic, **changes)
