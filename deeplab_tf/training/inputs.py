"""The trainer's batches: the train split under the strategy, with progressive resizing's small images first."""

from deeplab_tf import data as data_lib


def distributed_dataset(strategy, config, info, seed, *, small=False):
    """The train split under `strategy`: each input pipeline its share, augmented and batched (`data.train_dataset`).

    With `small`, progressive resizing's first steps: the random scales times `config.small_image_scale`
    and crops of `config.small_crop_size`.
    """
    scale = config.small_image_scale if small else 1.0
    crop_size = config.small_crop_size if small else config.crop_size

    def dataset_fn(context):
        return data_lib.train_dataset(
            config.dataset, config.dataset_dir, config.train_split, batch_size=config.batch_size,
            crop_size=crop_size, min_scale=config.min_scale * scale, max_scale=config.max_scale * scale,
            scale_step=config.scale_step * scale, flip=config.flip, seed=seed, num_classes=info.num_classes,
            skip_bad_examples=config.skip_bad_examples, val_fraction=config.val_fraction,
            shuffle_buffer=config.shuffle_buffer, input_context=context)

    return strategy.distribute_datasets_from_function(dataset_fn)


class TrainInput:
    """The iterator of each step: small images before `config.small_image_steps`, full size after.

    The loop asks `iterator(step)` for each group of steps and cuts groups at the switch
    (`steps_before_switch`), so a group never mixes sizes; the step function traces once per size.
    The full-size pipeline draws from seed + 1 after a small phase, so its scenes come in another order.
    """

    def __init__(self, strategy, config, info, seed, start_step):
        self._strategy, self._config, self._info = strategy, config, info
        self.switch_step = config.small_image_steps
        self._full_seed = seed + 1 if self.switch_step else seed
        self._small = self._make(seed, small=True) if start_step < self.switch_step else None
        self._full = None

    def _make(self, seed, small):
        return iter(distributed_dataset(self._strategy, self._config, self._info, seed, small=small))

    def steps_before_switch(self, step, count):
        """`count`, cut so that the group ends at the switch to full size."""
        return min(count, self.switch_step - step) if step < self.switch_step else count

    def iterator(self, step):
        if step < self.switch_step:
            return self._small
        self._small = None  # its pipeline's buffers go
        if self._full is None:
            self._full = self._make(self._full_seed, small=False)
        return self._full
