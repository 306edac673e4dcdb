"""The training flags: data order and augmentation, schedule, optimiser, BN, precision, checkpoints.

tools.train reads all of them; tools.benchmark's train mode times the same step
under the same names and defaults, so a recipe flagfile sets both alike. A new
training setting is one flag here and, when it is a `TrainConfig` field of the
same name, one entry of `_FIELDS`.
"""

from absl import flags

from deeplab_tf.training.config import INIT_SCOPES, MEDIAN_FREQUENCY, MIXED_PRECISION_POLICIES, OPTIMIZERS, TrainConfig
from deeplab_tf.training.strategy import STRATEGIES
from tools import cli, data_flags  # noqa: F401  (defines --eval_split, which the training config reads)


# Data.
flags.DEFINE_string("train_split", "train", "The split to train on (VOC: train_aug, trainval, ...).")
flags.DEFINE_bool("skip_bad_examples", TrainConfig.skip_bad_examples,
                  "Validate the split and leave unusable examples out (logged) instead of stopping.")
flags.DEFINE_bool("validate_dataset", TrainConfig.validate_dataset,
                  "Decode every example before training and stop on bad ones.")
flags.DEFINE_list("crop_size", [str(TrainConfig.crop_size[0])], "Training crop height[,width].")
flags.DEFINE_float("min_scale", TrainConfig.min_scale, "Smallest random scale.")
flags.DEFINE_float("max_scale", TrainConfig.max_scale, "Largest random scale.")
flags.DEFINE_float("scale_step", TrainConfig.scale_step, "Step between random scales (0: continuous).")
# Not `--flip`: that is test-time flip in evaluate/predict/export, which read the same flagfiles.
flags.DEFINE_bool("random_flip", TrainConfig.flip, "Random left-right flips in training.")
flags.DEFINE_integer("small_image_steps", TrainConfig.small_image_steps,
                     "Progressive resizing: train the first N steps on images and crops scaled by "
                     "--small_image_scale, then at full size (0: off).")
flags.DEFINE_float("small_image_scale", TrainConfig.small_image_scale, "The scale of --small_image_steps' images.")
flags.DEFINE_integer("shuffle_buffer", TrainConfig.shuffle_buffer, "Examples in the shuffle buffer.")
flags.DEFINE_list("class_weights", None,
                  "Loss weight of each class, w0,w1,... (one per class), or median_frequency: median-frequency "
                  "balancing from the training split's statistics. The weights used go into model_config.json.")
flags.DEFINE_integer("seed", None, "Seeds weights, dropout and data order (default: a random one, logged).")

# The step and its schedule.
flags.DEFINE_integer("batch_size", TrainConfig.batch_size, "Global batch size, split evenly over the replicas.")
flags.DEFINE_integer("train_steps", TrainConfig.train_steps,
                     "The step training stops at (resumes count from the saved step).")
flags.DEFINE_float("base_learning_rate", TrainConfig.base_learning_rate,
                   "Poly schedule: base * (1 - step/train_steps)^learning_power.")
flags.DEFINE_float("learning_power", TrainConfig.learning_power, "Poly schedule power.")
flags.DEFINE_integer("warmup_steps", TrainConfig.warmup_steps, "Linear learning-rate warm-up steps.")
flags.DEFINE_enum("optimizer", TrainConfig.optimizer, list(OPTIMIZERS),
                  "SGD with momentum (the papers), SGD with Nesterov momentum, or Adam.")
flags.DEFINE_float("momentum", TrainConfig.momentum, "SGD momentum (Adam's beta_1).")
flags.DEFINE_float("weight_decay", TrainConfig.weight_decay, "L2 weight decay on convolution kernels (added to the loss).")
flags.DEFINE_float("last_layer_lr_multiplier", TrainConfig.last_layer_lr_multiplier,
                   "Learning-rate multiplier of the classifier (v2: 10).")
flags.DEFINE_bool("fine_tune_batch_norm", TrainConfig.fine_tune_batch_norm,
                  "Train BN; --nofine_tune_batch_norm freezes it (v2, v3 stage 2). Its decay is --batch_norm_decay.")
flags.DEFINE_bool("sync_batch_norm", TrainConfig.sync_batch_norm, "BN statistics over the global batch, across replicas.")
flags.DEFINE_bool("upsample_logits", TrainConfig.upsample_logits, "Loss on logits upsampled to the label size (v3); "
                  "--noupsample_logits downsamples the labels instead (v2).")
# Keras' dtype policy names; `none` is the older spelling of float32.
flags.DEFINE_enum("mixed_precision", "float32", ["float32", *MIXED_PRECISION_POLICIES, "none"],
                  "Keras dtype policy: float32, mixed_bfloat16 (CPU with AMX, TPU) or mixed_float16 "
                  "(GPU, loss scaling); none is float32.")
flags.DEFINE_enum("jit_compile", "auto", ["auto", "true", "false"], "XLA for the forward/backward pass "
                  "(auto: on with a GPU).")
flags.DEFINE_integer("steps_per_loop", TrainConfig.steps_per_loop, "Steps per tf.function call between host reads.")

# Where the weights start.
flags.DEFINE_string("init_checkpoint", None, "Start from this run's model directory or checkpoint.")
flags.DEFINE_enum("init_scope", TrainConfig.init_scope, list(INIT_SCOPES), "What --init_checkpoint provides.")
flags.DEFINE_string("backbone_weights", None, "keras.applications ResNet-50/101 ImageNet .h5 weights file.")

# What the run writes.
flags.DEFINE_integer("checkpoint_steps", TrainConfig.checkpoint_steps,
                     "Save a checkpoint every this many steps (and at the end).")
flags.DEFINE_integer("keep_checkpoints", TrainConfig.keep_checkpoints, "Checkpoints kept.")
flags.DEFINE_integer("summary_steps", TrainConfig.summary_steps, "TensorBoard scalars every this many steps.")
flags.DEFINE_integer("image_summary_steps", TrainConfig.image_summary_steps,
                     "TensorBoard image overlays every this many steps (0: never).")

# Evaluation during training.
flags.DEFINE_integer("eval_steps", TrainConfig.eval_steps,
                     "Evaluate --eval_split every this many steps and at the last step (0: never): single "
                     "scale at the training output stride, each image at its size, mIoU into TensorBoard "
                     "(eval/miou) and the progress line; the best checkpoint is kept in model_dir/best/.")
flags.DEFINE_integer("eval_max_images", TrainConfig.eval_max_images,
                     "With --eval_steps, evaluate only the split's first N images (decoded once, kept in "
                     "memory) to keep evaluations cheap; 0: the whole split, every time.")

# Devices.
flags.DEFINE_enum("strategy", "auto", list(STRATEGIES), "auto, default (one device), mirrored (all GPUs or "
                  "--cpu_logical_devices), multi_worker (TF_CONFIG), tpu.")
flags.DEFINE_integer("cpu_logical_devices", 0, "Split the CPU into this many devices (MirroredStrategy on a CPU).")
flags.DEFINE_string("tpu", None, "TPU name or address (default: this TPU VM's).")
flags.DEFINE_float("peer_timeout", 0, "Multi-worker: seconds a worker may miss its heartbeats before the others "
                   "count it as lost and stop (exit status 3); 0: TensorFlow's default, 10 s.")

FLAGS = flags.FLAGS

# TrainConfig field → the flag a user types, where the names differ.
FLAG_FOR_FIELD = {"flip": "random_flip"}

# TrainConfig fields whose flag has the same name and value.
_FIELDS = [
    "train_split", "skip_bad_examples", "validate_dataset", "min_scale", "max_scale", "scale_step",
    "batch_size", "train_steps", "base_learning_rate", "learning_power", "warmup_steps", "optimizer", "momentum",
    "weight_decay", "last_layer_lr_multiplier", "fine_tune_batch_norm", "sync_batch_norm", "upsample_logits",
    "init_checkpoint", "init_scope", "backbone_weights", "checkpoint_steps", "keep_checkpoints",
    "summary_steps", "image_summary_steps", "steps_per_loop", "shuffle_buffer", "seed",
    "small_image_steps", "small_image_scale",
    "eval_split", "eval_steps", "eval_max_images",
]


def dtype_policy():
    """The Keras dtype policy name of `--mixed_precision` (`none` read as float32)."""
    return "float32" if FLAGS.mixed_precision == "none" else FLAGS.mixed_precision


def jit_compile():
    """`--jit_compile` as `TrainConfig.jit_compile`: True, False or None (on when a GPU is there)."""
    return {"auto": None, "true": True, "false": False}[FLAGS.jit_compile]


def class_weights():
    """`--class_weights` as `TrainConfig.class_weights`: None, "median_frequency" or a tuple of floats."""
    values = FLAGS.class_weights
    if not values:
        return None
    if values == [MEDIAN_FREQUENCY]:
        return MEDIAN_FREQUENCY
    try:
        return tuple(float(v) for v in values)
    except ValueError:
        raise cli.UsageError(f"--class_weights: expected numbers w0,w1,... or {MEDIAN_FREQUENCY}, "
                             f"got {','.join(values)}") from None


def train_config_from_flags(dataset=None, dataset_dir=None):
    """The `TrainConfig` the training flags describe, on `dataset` in `dataset_dir`."""
    return TrainConfig(
        dataset=dataset,
        dataset_dir=dataset_dir,
        crop_size=cli.parse_size("crop_size", FLAGS.crop_size),
        mixed_precision=dtype_policy(),
        jit_compile=jit_compile(),
        flip=FLAGS.random_flip,
        val_fraction=FLAGS.val_fraction,
        class_weights=class_weights(),
        **{field: FLAGS[field].value for field in _FIELDS},
    )
