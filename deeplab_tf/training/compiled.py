"""The compiled functions of a training run: the loop of steps, BN statistics averaging, prediction.

`train_loop` runs up to `num_steps` steps in one `tf.function` call with no
host round trip, and returns the group's mean losses, its confusion matrix,
the first step whose loss or gradients were not finite, and whether some
worker asked to stop (SIGTERM) before the group's first step.
"""

import typing

import tensorflow as tf


class RunFunctions(typing.NamedTuple):
    """What `run_functions` returns."""

    train_loop: object  # (iterator, num_steps, stop_requested) → dict of the group's figures
    average_moving_statistics: object  # () → None: every replica gets the mean BN moving statistics
    predict: object  # image [1, H, W, 3] float32 → labels [1, H, W]


def run_functions(strategy, task, replica_step, num_classes):
    """The compiled functions of a run on `task` (a `TrainingTask`), with `replica_step` as each replica's step."""
    model, step, moving_averages = task.model, task.global_step, task.moving_statistics

    def reduce(value):
        return strategy.reduce("sum", value, axis=None)

    def count_asking(stop_requested):
        return tf.distribute.get_replica_context().all_reduce("sum", tf.cast(stop_requested, tf.float32))

    @tf.function
    def train_loop(iterator, num_steps, stop_requested):
        # Whether any worker asks to stop (SIGTERM): then no step runs, on every worker alike.
        asking = strategy.run(count_asking, args=(stop_requested,))
        stop = strategy.experimental_local_results(asking)[0] > 0
        num_steps = tf.where(stop, tf.constant(0, tf.int64), num_steps)
        loss_sum = tf.constant(0.0)
        cross_entropy_sum = tf.constant(0.0)
        confusion = tf.zeros([num_classes, num_classes], tf.int32)
        bad_step = tf.constant(-1, tf.int64)
        done = tf.constant(0, tf.int64)
        for _ in tf.range(num_steps):
            images, labels = next(iterator)
            loss, cross_entropy, step_confusion, bad = strategy.run(replica_step, args=(images, labels))
            step.assign_add(1)
            done += 1
            loss_sum += reduce(loss)
            cross_entropy_sum += reduce(cross_entropy)
            confusion += reduce(step_confusion)
            if reduce(bad) > 0:
                bad_step = step.read_value()
                break
        return {
            "loss": loss_sum / tf.cast(tf.maximum(done, 1), tf.float32),
            "cross_entropy": cross_entropy_sum / tf.cast(tf.maximum(done, 1), tf.float32),
            "confusion": confusion,
            "bad_step": bad_step,
            "stop": stop,
        }

    @tf.function
    def average_moving_statistics():
        # Keras keeps BN moving averages per replica; checkpoints get their mean.
        def average():
            context = tf.distribute.get_replica_context()
            values = [tf.identity(v.value) for v in moving_averages]
            for variable, value in zip(moving_averages, context.all_reduce("mean", values)):
                variable.assign(value)

        strategy.run(average)

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])
    def predict(image):
        return tf.argmax(model(image, training=False), axis=-1, output_type=tf.int32)

    return RunFunctions(train_loop, average_moving_statistics, predict)
