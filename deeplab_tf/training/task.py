"""What a training run trains, built once from the configs: the network, BN set-up, optimiser, schedule and step.

The trainer, `tools.benchmark --mode=train` and the GPU check all build their
training from `build_task`, so a new optimiser or precision option is added
here and nowhere else (the shape of Model Garden's `Task.build_model` /
`create_optimizer` / `train_step`).
"""

import dataclasses

import keras
import tensorflow as tf

from deeplab_tf.label_space import IGNORE_LABEL
from deeplab_tf.models import build_model
from deeplab_tf.schedules import PolyLearningRate
from deeplab_tf.training.step import TrainStep, configure_batch_norm, make_optimizer, unique_layers


@dataclasses.dataclass(frozen=True)
class TrainingTask:
    """The parts of one training run, made together by `build_task`.

    Attributes:
        model: the network, its layers under the run's dtype policy.
        optimizer: built on the model's trainable variables.
        schedule: the poly learning rate, read at `global_step`.
        global_step: the step counter the schedule and the checkpoints follow;
            whoever runs the step advances it.
        train_step: the `TrainStep` of one replica.
    """

    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    schedule: PolyLearningRate
    global_step: tf.Variable
    train_step: TrainStep

    @property
    def moving_statistics(self):
        """Every BN layer's moving mean and variance (what replicas average before a checkpoint)."""
        return [v for layer in unique_layers(self.model) if isinstance(layer, keras.layers.BatchNormalization)
                for v in (layer.moving_mean, layer.moving_variance)]


def build_task(model_config, train_config, *, strategy=None, ignore_label=IGNORE_LABEL, class_weights=None,
               seed=None, weights=None):
    """Builds the network, its BN set-up, optimiser, schedule and `TrainStep` under `strategy`'s scope.

    The layers are made under `train_config.mixed_precision` (float32 when
    None) through their own `dtype`; the global Keras policy is left alone.

    Args:
        model_config: the `ModelConfig`.
        train_config: the `TrainConfig`.
        strategy: the `tf.distribute.Strategy` whose scope holds the variables
            (default: the current one); its replica count splits the batch.
        ignore_label: the label the loss leaves out.
        class_weights: None, or one resolved loss weight per class.
        seed: if given, Keras is seeded with it before the weights are made.
        weights: if given, the network's initial weights (`model.get_weights()` order).

    Returns:
        a `TrainingTask`.
    """
    strategy = strategy or tf.distribute.get_strategy()
    if seed is not None:
        keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = build_model(model_config, dtype_policy=train_config.mixed_precision or "float32")
        if weights is not None:
            model.set_weights(weights)
        configure_batch_norm(model, train_config)
        global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        schedule = PolyLearningRate(train_config.base_learning_rate, train_config.train_steps,
                                    train_config.learning_power, train_config.warmup_steps)
        # The rate follows the global step, so a resumed run continues the schedule.
        optimizer = make_optimizer(train_config, lambda: schedule(global_step))
        optimizer.build(model.trainable_variables)
    train_step = TrainStep(model, model_config, train_config, optimizer, ignore_label=ignore_label,
                           num_replicas=strategy.num_replicas_in_sync, class_weights=class_weights)
    return TrainingTask(model, optimizer, schedule, global_step, train_step)
