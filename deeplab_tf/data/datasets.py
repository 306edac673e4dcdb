"""`(images, labels)` datasets of any dataset the tools read, for `model.fit` / `model.evaluate` and the trainer."""

import tensorflow as tf

from deeplab_tf.data import info as info_lib
from deeplab_tf.data.pipeline import eval_pipeline, train_pipeline
from deeplab_tf.data.readers import read_split


def train_dataset(name, dataset_dir, split, *, batch_size, crop_size, min_scale=0.5, max_scale=2.0,
                  scale_step=0.25, flip=True, seed=None, num_classes=None, skip_bad_examples=False,
                  val_fraction=None, shuffle_buffer=256, input_context=None):
    """Endless batches of the recipe's augmented crops: (images float32 [B, h, w, 3], labels int32 [B, h, w]).

    The trainer's input pipeline (`read_split` with its file order shuffled,
    then `train_pipeline`): random scale, padding with the mean pixel and the
    dataset's ignore label, random crop, flip. Deterministic given `seed`.

    Args:
        name, dataset_dir, split: the dataset (a registered format name, `data.format_names()`), its
            directory and the split, as the tools take them.
        batch_size: the global batch; with `input_context` each pipeline
            gives its replicas' share (`get_per_replica_batch_size`).
        crop_size: int or (height, width).
        min_scale, max_scale, scale_step, flip: the augmentation (the papers':
            0.5–2.0 by 0.25, flips).
        seed: int; pipeline i of `input_context` uses seed + i. None draws one (logged).
        num_classes: checked against the dataset's (required for a `tfrecord`
            set without metadata).
        skip_bad_examples: validate the split first and leave unusable examples out.
        val_fraction: a folder dataset without split files: the share of it in `val`.
        shuffle_buffer: decoded examples in the shuffle buffer.
        input_context: a `tf.distribute.InputContext` (from
            `strategy.distribute_datasets_from_function`): this pipeline's share.

    Example:
    ```python
    dataset = deeplab_tf.data.train_dataset("voc2012", "data/voc", "train_aug", batch_size=16, crop_size=513,
                                            seed=0)
    model.fit(dataset, steps_per_epoch=1000, epochs=30)
    ```
    """
    info = info_lib.dataset_info(name, dataset_dir, num_classes)
    index = input_context.input_pipeline_id if input_context is not None else 0
    if seed is not None:
        seed = seed + index
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    examples = read_split(  # this pipeline's share, taken before decoding
        name, dataset_dir, split, num_classes=info.num_classes, skip_bad_examples=skip_bad_examples,
        shuffle_files=True, seed=seed, val_fraction=val_fraction, input_context=input_context,
    )
    return train_pipeline(
        examples, crop_size=crop_size, batch_size=batch_size, min_scale=min_scale, max_scale=max_scale,
        scale_step=scale_step, flip=flip, seed=seed, ignore_label=info.ignore_label, shuffle_buffer=shuffle_buffer,
    )


def eval_dataset(name, dataset_dir, split, *, pad_to=None, num_classes=None, val_fraction=None):
    """Each image of a split once, at its own size: (image float32 [1, H, W, 3], label int32 [1, H, W]).

    What `tools.evaluate` scores (`eval_pipeline`), as pairs for
    `model.evaluate` or `fit(validation_data=...)`; with `pad_to`, padded (never
    resized) with the mean pixel and the ignore label, so `.unbatch().batch(n)`
    can batch them.

    Example:
    ```python
    model.evaluate(deeplab_tf.data.eval_dataset("voc2012", "data/voc", "val"))
    ```
    """
    info = info_lib.dataset_info(name, dataset_dir, num_classes)
    examples = read_split(name, dataset_dir, split, num_classes=info.num_classes, val_fraction=val_fraction)
    batches = eval_pipeline(examples, pad_to=pad_to, ignore_label=info.ignore_label)
    return batches.map(lambda example: (example["image"], example["label"]),
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
