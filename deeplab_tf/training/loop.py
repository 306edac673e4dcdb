"""The training loop of one session: groups of compiled steps, and the periodic actions between them."""

import time

import numpy as np
import tensorflow as tf

from deeplab_tf.data import palettes
from deeplab_tf.training.callbacks import Progress, TrainResult
from deeplab_tf.training.metric_window import MetricWindow, Throughput
from deeplab_tf.training.periodic import is_due, steps_to_next_due


class NonFiniteLossError(RuntimeError):
    """The loss (or a gradient) became NaN or infinite; nothing after the last good checkpoint was saved.

    Attributes:
        step: the first step (1-based, as progress counts) whose loss or gradient was not finite.
        checkpoint: the last good checkpoint's path, or None.
    """

    def __init__(self, step, checkpoint):
        where = f"the last good checkpoint is {checkpoint}" if checkpoint else "no checkpoint was written"
        super().__init__(f"the loss became NaN or infinite at step {step}; stopped ({where})")
        self.step = step
        self.checkpoint = checkpoint



class TrainingLoop:
    """The training loop of one session: groups of steps, then whichever periodic actions are due.

    Each action (evaluation, summaries, overlays, checkpoints) runs when
    `periodic.is_due`, and each group of steps ends at the next step where one
    is due (`periodic.steps_to_next_due`), at most `steps_per_loop` long.
    """

    def __init__(self, config, task, functions, keeper, summaries, evaluations, *, overlay_examples, info,
                 start_step, resumed, average_statistics, chief, callbacks):
        self.config, self.chief, self.callbacks = config, chief, callbacks
        self.task, self.functions, self.keeper, self.summaries = task, functions, keeper, summaries
        self.evaluations, self.overlay_examples, self.info = evaluations, overlay_examples, info
        self.start_step = start_step
        self.last_saved = start_step if resumed else None
        self.average_statistics = average_statistics
        self.window, self.throughput = MetricWindow(), Throughput()
        self.loss, self.train_miou = None, None  # the last group's, and the last summary window's

    def run(self, batches, termination):
        """Trains to `train_steps`, or until a SIGTERM (`termination`) on any worker, then saves.

        Returns:
            (`TrainResult`, whether it stopped early on SIGTERM).
        """
        config, step, stopped = self.config, self.start_step, False
        started = time.perf_counter()
        while step < config.train_steps:
            periods = (config.checkpoint_steps, config.summary_steps, config.image_summary_steps, config.eval_steps)
            count = batches.steps_before_switch(
                step, steps_to_next_due(step, periods, config.train_steps, config.steps_per_loop))
            group_start = time.perf_counter()
            out = self.functions.train_loop(batches.iterator(step), tf.constant(count, tf.int64),
                                            tf.constant(termination.requested))
            if bool(out["stop"]):  # some worker got SIGTERM: all stop here, before the group's first step
                stopped = True
                break
            if int(out["bad_step"]) >= 0:
                raise NonFiniteLossError(int(out["bad_step"]), self.keeper.latest)
            rate = self.throughput.add(count, time.perf_counter() - group_start)
            step += count
            self._after_group(step, count, out, rate, started)
        if self.last_saved != step:
            self._save(step)
        return self._result(step, started), stopped

    def _after_group(self, step, count, out, rate, started):
        config = self.config
        self.loss, cross_entropy = float(out["loss"]), float(out["cross_entropy"])
        self.window.add(count, self.loss, cross_entropy, out["confusion"].numpy().astype(np.int64))
        learning_rate = float(self.task.schedule(step))
        if is_due(step, config.eval_steps, config.train_steps):
            self.evaluations.run(step)
        latest, best = self.evaluations.latest, self.evaluations.best
        self.callbacks.on_progress(Progress(
            step=step, train_steps=config.train_steps, start_step=self.start_step, loss=self.loss,
            cross_entropy=cross_entropy, learning_rate=learning_rate, steps_per_second=rate,
            examples_per_second=rate and rate * config.batch_size, elapsed_s=time.perf_counter() - started,
            val_miou=latest and latest.miou, best_val_miou=best and best["miou"],
        ))
        if is_due(step, config.summary_steps, config.train_steps):
            scalars = self.window.scalars()
            self.train_miou = scalars["train/miou"]
            self.summaries.scalars(step, {**scalars, "learning_rate": learning_rate, "steps_per_second": rate})
            self.window = MetricWindow()
        if self.overlay_examples and is_due(step, config.image_summary_steps, config.train_steps):
            self._write_overlays(step)
        if is_due(step, config.checkpoint_steps, config.train_steps):
            self._save(step)

    def _save(self, step):
        if self.average_statistics is not None:
            self.average_statistics()
        path = self.keeper.save(step)
        self.last_saved = step
        if self.chief:
            self.callbacks.on_checkpoint(step, path)

    def _write_overlays(self, step):
        images, labels, predictions = [], [], []
        for example in self.overlay_examples:
            height, width = example["original_size"][0]
            images.append(example["image"][0, :height, :width].round().clip(0, 255).astype(np.uint8))
            labels.append(example["label"][0, :height, :width])
            predicted = self.functions.predict(tf.constant(example["image"])).numpy()
            predictions.append(predicted[0, :height, :width])
        self.summaries.overlays(step, images, labels, predictions, self.info.ignore_label,
                                palettes.palette_for(self.info))

    def _result(self, step, started):
        config, throughput = self.config, self.throughput
        latest, best = self.evaluations.latest, self.evaluations.best
        return TrainResult(
            step=step, resumed_from=self.start_step, checkpoint=self.keeper.latest, model_path=None,
            loss=self.loss, train_seconds=time.perf_counter() - started,
            steps_per_second=throughput.steps_per_second,
            examples_per_second=throughput.steps_per_second and throughput.steps_per_second * config.batch_size,
            train_miou=self.train_miou, eval_miou=latest and latest.miou, eval_step=latest and latest.step,
            best_miou=best and best["miou"], best_step=best and best["step"],
            best_checkpoint=self.evaluations.best_checkpoint,
        )
