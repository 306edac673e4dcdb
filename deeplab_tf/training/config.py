"""The typed training configuration (data, schedule, optimiser, BN, checkpoints) and its validation."""

import dataclasses

from deeplab_tf.config import DictConfig
from deeplab_tf.errors import ConfigError

MIXED_PRECISION_POLICIES = ("mixed_bfloat16", "mixed_float16")
OPTIMIZERS = ("sgd", "nesterov", "adam")
INIT_SCOPES = ("all", "backbone")
MEDIAN_FREQUENCY = "median_frequency"


@dataclasses.dataclass(frozen=True)
class TrainConfig(DictConfig):
    """How a DeepLab network is trained; validated when made.

    The defaults are DeepLab v3's PASCAL VOC recipe (v3 paper §4): crop 513,
    global batch 16, poly learning rate 0.007·(1 − t/T)^0.9 over 30k steps,
    SGD momentum 0.9, weight decay 1e-4, BN fine-tuned, random scale 0.5–2.0
    by 0.25, flips, logits upsampled to the label size for the loss.

    Args:
        dataset, dataset_dir, train_split: what to train on (a registered format:
            `voc2012`, `synthetic`, `tfrecord`, `cityscapes`, `ade20k`, `folder`, or one
            added with `deeplab_tf.data.register_format`).
        val_fraction: a folder dataset without split files: the share of its
            names in `val` (None: 0.1).
        skip_bad_examples: validate the split first and leave unusable examples
            out (logged); otherwise an unusable example stops the run at start.
        validate_dataset: decode every example of the split before training
            (the check that `skip_bad_examples` relies on); off saves the time
            on huge sets, and a bad example then fails when it is read.
        batch_size: the global batch, split evenly over the replicas.
        train_steps: the step the run stops at (counted from 0 across resumes).
        crop_size: (height, width) of the training crops.
        min_scale, max_scale, scale_step: random scale augmentation.
        flip: random left-right flips.
        small_image_steps: progressive resizing: the first this many steps
            train on images and crops scaled by `small_image_scale` (cheaper
            steps on the same scenes, smaller), the rest at full size (0: off).
        small_image_scale: the scale of those first steps, in (0, 1).
        base_learning_rate: the poly schedule's base.
        learning_power: the poly schedule's power: base·(1 − t/T)^power.
        warmup_steps: linear warm-up from base/warmup_steps to the poly value.
        optimizer: "sgd" (SGD with momentum, both papers), "nesterov" (the same
            with Nesterov momentum) or "adam" (Adam with beta_1 = `momentum`; for
            short runs from scratch, such as the bundled default, where it learns
            several times faster than SGD).
        momentum: SGD momentum (Adam's beta_1).
        weight_decay: L2 on convolution kernels (not BN, not biases), added to
            the loss as weight_decay·Σ‖w‖²/2, so its gradient is weight_decay·w
            (as Caffe's and slim's `weight_decay`).
        last_layer_lr_multiplier: learning-rate multiplier of the classifier
            (v3's final 1×1 conv, v2's ASPP-L branches); v2 uses 10. It scales
            their gradients, which for SGD with momentum is exactly a rate
            multiplier (so SGD only).
        fine_tune_batch_norm: train BN (batch statistics, moving averages with
            the model's `batch_norm_decay`); False freezes every BN layer in
            inference mode (v2; v3's second stage).
        sync_batch_norm: batch statistics over the global batch, across replicas.
        upsample_logits: True: bilinearly upsample logits to the label size for
            the loss (v3); False: nearest-downsample labels to the logits (v2).
        init_checkpoint: a previous run's model directory or checkpoint prefix
            to start from (fresh runs only).
        init_scope: what `init_checkpoint` provides: "all" layers or "backbone".
        backbone_weights: a `keras.applications` ResNet-50/101 `.h5` weights file.
        mixed_precision: a Keras dtype policy name: "float32" (also None or
            "none"), "mixed_bfloat16" (CPU with AMX, TPU) or
            "mixed_float16" (GPU; dynamic loss scaling).
        checkpoint_steps: save every this many steps (and at the end).
        keep_checkpoints: checkpoints kept.
        summary_steps: TensorBoard scalars every this many steps.
        eval_split: the split evaluated during training (with `eval_steps`).
        eval_steps: evaluate `eval_split` every this many steps and at the
            last step, on the chief, keeping the best checkpoint in
            `model_dir/best/` (0: never).
        eval_max_images: evaluate only the split's first this many images
            (0: all of it).
        image_summary_steps: TensorBoard image overlays every this many steps (0: never).
        steps_per_loop: steps run inside one `tf.function` call between host
            reads (progress, NaN check); capped so that checkpoints and
            summaries fall on their steps.
        shuffle_buffer: examples in the shuffle buffer.
        seed: seeds weights, dropout and the data pipeline; None draws one.
        class_weights: None (every class 1), one weight per class multiplying
            each pixel's cross-entropy by its label's weight, or
            "median_frequency" (computed from the training split's statistics
            when the run starts; the weights are recorded in model_config.json).
        jit_compile: XLA-compile the forward/backward pass; None: on when a GPU is there.
    """

    KIND = "training config"

    dataset: str = "voc2012"
    dataset_dir: str = None
    val_fraction: float = None
    train_split: str = "train_aug"
    skip_bad_examples: bool = False
    validate_dataset: bool = True
    batch_size: int = 16
    train_steps: int = 30000
    crop_size: tuple = (513, 513)
    min_scale: float = 0.5
    max_scale: float = 2.0
    scale_step: float = 0.25
    flip: bool = True
    small_image_steps: int = 0
    small_image_scale: float = 0.5
    base_learning_rate: float = 0.007
    learning_power: float = 0.9
    warmup_steps: int = 0
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 1e-4
    last_layer_lr_multiplier: float = 1.0
    fine_tune_batch_norm: bool = True
    sync_batch_norm: bool = False
    upsample_logits: bool = True
    init_checkpoint: str = None
    init_scope: str = "all"
    backbone_weights: str = None
    mixed_precision: str = None
    checkpoint_steps: int = 1000
    keep_checkpoints: int = 5
    summary_steps: int = 100
    eval_split: str = "val"
    eval_steps: int = 0
    eval_max_images: int = 0
    image_summary_steps: int = 1000
    steps_per_loop: int = 10
    shuffle_buffer: int = 256
    seed: int = None
    jit_compile: bool = None
    class_weights: object = None

    def __post_init__(self):
        crop = self.crop_size
        if isinstance(crop, int):
            crop = (crop, crop)
        elif crop is not None and not isinstance(crop, tuple):
            crop = tuple(crop)
        object.__setattr__(self, "crop_size", crop)
        if self.mixed_precision in ("", "none", "float32"):
            object.__setattr__(self, "mixed_precision", None)
        if self.class_weights is not None and not isinstance(self.class_weights, str):
            try:
                weights = tuple(float(w) for w in self.class_weights)
            except (TypeError, ValueError):
                raise ConfigError("class_weights", f"expected numbers or {MEDIAN_FREQUENCY!r}, "
                                  f"got {self.class_weights!r}") from None
            object.__setattr__(self, "class_weights", weights)
        self._validate()

    def _validate(self):
        if not self.dataset_dir:
            raise ConfigError("dataset_dir", "is required")
        if not self.train_split:
            raise ConfigError("train_split", "is required")
        _positive_int("batch_size", self.batch_size)
        _positive_int("train_steps", self.train_steps)
        if len(self.crop_size) != 2 or any(not isinstance(s, int) or s < 1 for s in self.crop_size):
            raise ConfigError("crop_size", f"expected 1 or 2 positive integers, got {list(self.crop_size)}")
        if not 0 < self.min_scale <= self.max_scale:
            raise ConfigError("min_scale", f"need 0 < min_scale <= max_scale, got {self.min_scale}, {self.max_scale}")
        if self.scale_step < 0:
            raise ConfigError("scale_step", f"must be >= 0, got {self.scale_step}")
        _non_negative_int("small_image_steps", self.small_image_steps)
        if self.small_image_steps:
            if self.small_image_steps >= self.train_steps:
                raise ConfigError("small_image_steps", f"must be below train_steps={self.train_steps}, "
                                  f"got {self.small_image_steps}")
            if not 0 < self.small_image_scale < 1:
                raise ConfigError("small_image_scale", f"must be in (0, 1), got {self.small_image_scale}")
            if not self.upsample_logits:
                raise ConfigError("small_image_steps", "needs --upsample_logits: without it the loss's label "
                                  "size is fixed by --crop_size")
        if not self.base_learning_rate > 0:
            raise ConfigError("base_learning_rate", f"must be positive, got {self.base_learning_rate}")
        if self.learning_power < 0:
            raise ConfigError("learning_power", f"must be >= 0, got {self.learning_power}")
        if not 0 <= self.warmup_steps < self.train_steps:
            raise ConfigError(
                "warmup_steps", f"must be in [0, train_steps={self.train_steps}), got {self.warmup_steps}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError("optimizer", f"got {self.optimizer!r}; allowed values: {', '.join(OPTIMIZERS)}")
        if not 0 <= self.momentum < 1:
            raise ConfigError("momentum", f"must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise ConfigError("weight_decay", f"must be >= 0, got {self.weight_decay}")
        if not self.last_layer_lr_multiplier > 0:
            raise ConfigError(
                "last_layer_lr_multiplier", f"must be positive, got {self.last_layer_lr_multiplier}"
            )
        if self.optimizer == "adam" and self.last_layer_lr_multiplier != 1.0:
            raise ConfigError(
                "last_layer_lr_multiplier", "scales the classifier's gradients, which Adam normalises "
                "away; it needs --optimizer=sgd"
            )
        if self.sync_batch_norm and not self.fine_tune_batch_norm:
            raise ConfigError(
                "sync_batch_norm", "synchronises batch statistics, which frozen BN does not use; "
                "add --fine_tune_batch_norm or drop --sync_batch_norm"
            )
        if self.init_scope not in INIT_SCOPES:
            raise ConfigError("init_scope", f"got {self.init_scope!r}; allowed values: {', '.join(INIT_SCOPES)}")
        if self.init_checkpoint and self.backbone_weights:
            raise ConfigError(
                "init_checkpoint", "give either --init_checkpoint or --backbone_weights, not both"
            )
        if self.mixed_precision is not None and self.mixed_precision not in MIXED_PRECISION_POLICIES:
            raise ConfigError(
                "mixed_precision",
                f"got {self.mixed_precision!r}; allowed values: float32, {', '.join(MIXED_PRECISION_POLICIES)}",
            )
        for field in ("checkpoint_steps", "keep_checkpoints", "summary_steps", "steps_per_loop", "shuffle_buffer"):
            _positive_int(field, getattr(self, field))
        for field in ("image_summary_steps", "eval_steps", "eval_max_images"):
            _non_negative_int(field, getattr(self, field))
        if self.eval_steps and not self.eval_split:
            raise ConfigError("eval_split", "is required with eval_steps (the split to evaluate during training)")
        if isinstance(self.class_weights, str) and self.class_weights != MEDIAN_FREQUENCY:
            raise ConfigError("class_weights", f"expected numbers or {MEDIAN_FREQUENCY!r}, got {self.class_weights!r}")
        if isinstance(self.class_weights, tuple) and (
                not self.class_weights or any(not w >= 0 for w in self.class_weights)
                or not any(w > 0 for w in self.class_weights)):
            raise ConfigError("class_weights", f"need one weight >= 0 per class, not all 0, got {list(self.class_weights)}")
        if self.val_fraction is not None and not 0 <= self.val_fraction < 1:
            raise ConfigError("val_fraction", f"must be in [0, 1), got {self.val_fraction}")
        if self.seed is not None and (not isinstance(self.seed, int) or self.seed < 0):
            raise ConfigError("seed", f"must be a non-negative integer, got {self.seed!r}")

    @property
    def small_crop_size(self):
        """The crops of the first `small_image_steps` steps: (size − 1)·scale + 1, rounded (161 at 0.6: 97)."""
        return tuple(round((size - 1) * self.small_image_scale) + 1 for size in self.crop_size)

    def check_replicas(self, num_replicas):
        """Raises `ConfigError` unless the global batch splits evenly over `num_replicas`."""
        if self.batch_size % num_replicas:
            raise ConfigError(
                "batch_size",
                f"the global batch {self.batch_size} does not divide among {num_replicas} replicas; "
                f"use a multiple of {num_replicas}",
            )


def _positive_int(field, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(field, f"must be a positive integer, got {value!r}")


def _non_negative_int(field, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(field, f"must be >= 0, got {value!r}")
