"""Training: the config, the builder, strategies, checkpoints and the training loop (the loss and the poly
schedule are `deeplab_tf.losses` and `deeplab_tf.schedules`)."""

from deeplab_tf.training.callbacks import Callbacks, Progress, TrainResult
from deeplab_tf.training.checkpoints import CheckpointKeeper, resolve_checkpoint, restore_init_checkpoint
from deeplab_tf.training.cluster import PeerLostError, PreemptedError
from deeplab_tf.training.config import INIT_SCOPES, MIXED_PRECISION_POLICIES, OPTIMIZERS, TrainConfig
from deeplab_tf.training.strategy import STRATEGIES, configure_cpu_devices, is_chief, make_strategy
from deeplab_tf.training.task import TrainingTask, build_task
from deeplab_tf.training.loop import NonFiniteLossError
from deeplab_tf.training.trainer import Trainer, train

__all__ = [
    "Callbacks",
    "CheckpointKeeper",
    "INIT_SCOPES",
    "MIXED_PRECISION_POLICIES",
    "OPTIMIZERS",
    "PeerLostError",
    "PreemptedError",
    "NonFiniteLossError",
    "Progress",
    "STRATEGIES",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingTask",
    "build_task",
    "configure_cpu_devices",
    "is_chief",
    "make_strategy",
    "restore_init_checkpoint",
    "resolve_checkpoint",
    "train",
]
