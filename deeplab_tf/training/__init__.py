"""Training: the config, loss, poly schedule, strategies, checkpoints and the training loop."""

from deeplab_tf.training.callbacks import Callbacks, Progress, TrainResult
from deeplab_tf.training.checkpoints import CheckpointKeeper, resolve_checkpoint, restore_init_checkpoint
from deeplab_tf.training.cluster import PeerLostError, PreemptedError
from deeplab_tf.training.config import INIT_SCOPES, MIXED_PRECISION_POLICIES, OPTIMIZERS, TrainConfig
from deeplab_tf.training.losses import (
    downsample_labels,
    pixel_cross_entropy_sum,
    segmentation_loss,
    valid_pixel_count,
    weight_decay_loss,
)
from deeplab_tf.training.schedules import PolyLearningRate
from deeplab_tf.training.strategy import STRATEGIES, configure_cpu_devices, is_chief, make_strategy
from deeplab_tf.training.task import TrainingTask, build_task
from deeplab_tf.training.loop import NonFiniteLossError
from deeplab_tf.training.trainer import MODEL_FILE, Trainer, train

__all__ = [
    "Callbacks",
    "CheckpointKeeper",
    "INIT_SCOPES",
    "MIXED_PRECISION_POLICIES",
    "MODEL_FILE",
    "OPTIMIZERS",
    "PeerLostError",
    "PreemptedError",
    "NonFiniteLossError",
    "PolyLearningRate",
    "Progress",
    "STRATEGIES",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingTask",
    "build_task",
    "configure_cpu_devices",
    "downsample_labels",
    "is_chief",
    "make_strategy",
    "pixel_cross_entropy_sum",
    "restore_init_checkpoint",
    "resolve_checkpoint",
    "segmentation_loss",
    "train",
    "valid_pixel_count",
    "weight_decay_loss",
]
