"""Input pipelines: batches of augmented crops for training, whole images for evaluation."""

import random

import tensorflow as tf
from absl import logging

from deeplab_tf.data import augment
from deeplab_tf.data.info import MEAN_RGB
from deeplab_tf.label_space import IGNORE_LABEL
from deeplab_tf.errors import ConfigError


def train_pipeline(examples, *, crop_size, batch_size, min_scale=0.5, max_scale=2.0,
                   scale_step=0.25, flip=True, seed=None, ignore_label=IGNORE_LABEL,
                   shuffle_buffer=256, repeat=True, mean_pixel=MEAN_RGB):
    """Shuffled, augmented, batched training crops.

    Deterministic given `seed`: the shuffle is seeded and example i of the
    (repeated) stream is augmented with the stateless seed (seed, i), so the
    batches are the same on every run and whatever the parallelism.

    Args:
        examples: a dataset of {"image": uint8 [H, W, 3], "label": uint8 or uint16 [H, W], ...}
            (from `read_split`; for large datasets use its `shuffle_files=True`,
            since the shuffle buffer here holds decoded images).
        crop_size: int or (height, width).
        batch_size: examples per batch; the last partial batch is dropped.
        min_scale, max_scale, scale_step: the random scale (0.5–2.0 by 0.25).
        flip: random left-right flips.
        seed: int; None draws one (and logs it).
        ignore_label: the label value used for padding.
        shuffle_buffer: examples in the shuffle buffer (0 or 1: no shuffle).
        repeat: repeat forever (the trainer counts steps).
        mean_pixel: the RGB value images are padded with.

    Returns:
        A dataset of (images float32 [B, h, w, 3] RGB 0..255, labels int32 [B, h, w]).
    """
    crop = augment.crop_size_pair(crop_size)
    augment.check_scale_range(min_scale, max_scale, scale_step)
    if batch_size <= 0:
        raise ConfigError("batch_size", f"must be positive, got {batch_size}")
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
        logging.info("train_pipeline: no seed given, using seed %d", seed)
    seed = int(seed)

    dataset = examples
    if shuffle_buffer and shuffle_buffer > 1:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.enumerate()

    def preprocess(index, example):
        return augment.preprocess_for_train(
            example["image"],
            example["label"],
            crop,
            min_scale=min_scale,
            max_scale=max_scale,
            scale_step=scale_step,
            flip=flip,
            mean_pixel=mean_pixel,
            ignore_label=ignore_label,
            seed=tf.stack([tf.constant(seed, tf.int64), index]),
        )

    dataset = dataset.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def eval_pipeline(examples, *, pad_to=None, mean_pixel=MEAN_RGB, ignore_label=IGNORE_LABEL):
    """Whole images, one per batch, at their original size or padded to `pad_to`.

    Never resizes: the metric is measured on the labels as given. Padding is at
    the bottom and right, with the mean pixel and label `ignore_label`, so it
    does not count.

    Returns:
        A dataset of {"image": float32 [1, H, W, 3], "label": int32 [1, H, W],
        "filename": string [1], "original_size": int32 [1, 2] (height, width)}.
    """
    if pad_to is not None:
        augment.crop_size_pair(pad_to)

    def preprocess(example):
        image, label = augment.preprocess_for_eval(
            example["image"],
            example["label"],
            pad_to,
            mean_pixel=mean_pixel,
            ignore_label=ignore_label,
            filename=example["filename"],
        )
        return {
            "image": image,
            "label": label,
            "filename": example["filename"],
            "original_size": tf.shape(example["label"])[:2],
        }

    dataset = examples.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(1).prefetch(tf.data.AUTOTUNE)
