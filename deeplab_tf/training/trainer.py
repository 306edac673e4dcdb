"""The DeepLab training loop: `tf.distribute`, resumable checkpoints, NaN stop, TensorBoard.

One training step (`step.TrainStep`), on each replica (`strategy.run`), with no
host round trip: count the labelled pixels of the global batch (an all-reduce),
run the network and the loss and take the gradients (XLA-compiled where asked),
scale the classifier's gradients by the last-layer multiplier, and apply SGD
with momentum (Keras all-reduces the gradients). `steps_per_loop` such steps
run in one `tf.function` call; the host then reads the losses, a confusion
matrix and whether any loss was NaN or infinite.

With `eval_steps`, the chief evaluates the eval split every that many steps
(and at the last) with the library's evaluator, single scale at the training
output stride, BN in inference mode, each image at its own size, and keeps the
best checkpoint in `model_dir/best/` (see `best.py`).
"""

import os
import random
import time

import keras
import numpy as np
import tensorflow as tf

from deeplab_tf import data as data_lib
from deeplab_tf import model_dir as model_dir_lib
from deeplab_tf.backbones import load_imagenet_weights
from deeplab_tf.data import palettes, statistics
from deeplab_tf.errors import ConfigError, DataError, InputError
from deeplab_tf.evaluation import evaluate
from deeplab_tf.files import atomic_path
from deeplab_tf.inference import InferenceSettings, Predictor
from deeplab_tf.layers.atrous_conv import cpu_runs_dilations
from deeplab_tf.metrics import compute_metrics
from deeplab_tf.models import build_model
from deeplab_tf.training import checkpoints, cluster as cluster_lib, strategy as strategy_lib
from deeplab_tf.training.config import MEDIAN_FREQUENCY
from deeplab_tf.training.best import BestKeeper, read_best
from deeplab_tf.training.callbacks import Callbacks, Evaluation, Progress, TrainResult
from deeplab_tf.training.cluster import PeerLostError, PreemptedError
from deeplab_tf.training.task import build_task
from deeplab_tf.training.summaries import Summaries

MODEL_FILE = "model.keras"
NUM_OVERLAY_IMAGES = 3


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


def train(model_dir, model_config, train_config, *, strategy=None, callbacks=None):
    """Trains (or resumes training) a DeepLab network; see `Trainer`. Returns a `TrainResult`."""
    return Trainer(model_dir, model_config, train_config, strategy=strategy, callbacks=callbacks).run()


class Trainer:
    """Trains `model_config` under `train_config` into `model_dir`, resuming if it holds a checkpoint.

    The model directory follows `deeplab_tf.model_dir`: `model_config.json`
    (with `dataset` and `train` sections), `checkpoints/` (the network under
    the key `model`, plus `optimizer` and `step`), `train/` TensorBoard events,
    and `model.keras` at the end; with `eval_steps`, also `best/` (see
    `deeplab_tf.training.best`).

    Args:
        model_dir: where the run lives.
        model_config: the `ModelConfig`; its `num_classes` must be the dataset's.
        train_config: a `TrainConfig`.
        strategy: a `tf.distribute.Strategy` (default: the current one);
            create it with `strategy.make_strategy` before any TensorFlow op.
        callbacks: a `Callbacks` receiving progress (default: silent).

    Raises (from `run`):
        ConfigError, DataError, InputError: bad settings or data, before training.
        NonFiniteLossError: the loss diverged.
        PreemptedError: SIGTERM (on any worker); every worker saved the current step and stopped.
        PeerLostError: under `MultiWorkerMirroredStrategy`, a worker died or stopped answering.
    """

    def __init__(self, model_dir, model_config, train_config, *, strategy=None, callbacks=None):
        # Every attribute of a Trainer is assigned here or, for what needs the
        # strategy's scope, the dtype policy and a seed, in `_build` (in one block).
        # What the run is:
        self.model_dir = model_dir
        self.model_config = model_config
        self.config = train_config  # as given; the seed drawn for a run is `run`'s own
        self.strategy = strategy or tf.distribute.get_strategy()
        self.callbacks = callbacks or Callbacks()
        self.num_replicas = self.strategy.num_replicas_in_sync
        self.chief = strategy_lib.is_chief(self.strategy)
        self.is_tpu = isinstance(self.strategy, tf.distribute.TPUStrategy)
        self.cluster = cluster_lib.Cluster(self.strategy, self.chief)
        # The checkpoint the run resumes from, as the chief chose it for every worker (None: a fresh start).
        self.resume_from = None
        # What `_build` makes: the dataset facts, the network and its training state,
        # the compiled functions, and what the evaluations during training use.
        self.info = None  # the dataset's DatasetInfo
        self.class_weights = None  # resolved loss weights per class, or None
        self.jit_compile = None
        self.model = self.optimizer = self.step = self.schedule = None
        self.moving_averages = self.train_step = None
        self.train_loop = self.average_moving_statistics = self.predict = None
        self.eval_predictor = self.eval_examples = None

    # === Set-up ===

    def _check_settings(self):
        config = self.config
        config.check_replicas(self.num_replicas)
        if config.eval_steps and self.is_tpu:
            raise ConfigError("eval_steps", "evaluation during training runs outside the TPU step; "
                              "evaluate the checkpoints with tools.evaluate instead")
        if config.mixed_precision == "mixed_float16" and self.is_tpu:
            raise ConfigError("mixed_precision", "TPUs compute in bfloat16; use mixed_bfloat16")
        if config.mixed_precision == "mixed_float16" and not tf.config.list_physical_devices("GPU"):
            self.callbacks.on_message("mixed_float16 without a GPU is slow; mixed_bfloat16 suits CPUs with AMX")
        if (config.mixed_precision == "mixed_bfloat16" and not self.is_tpu
                and not tf.config.list_physical_devices("GPU") and not cpu_runs_dilations("bfloat16")):
            self.callbacks.on_message("this CPU has no native bfloat16 (no AVX-512 or AMX): TensorFlow emulates "
                                      "it, tens of times slower than --mixed_precision=float32")
        if config.init_checkpoint:
            checkpoints.resolve_checkpoint(config.init_checkpoint)  # fail now, not after building
        if config.backbone_weights and not os.path.isfile(config.backbone_weights):
            raise ConfigError("backbone_weights", f"no such file: {config.backbone_weights}")
        info = data_lib.dataset_info(config.dataset, config.dataset_dir, self.model_config.num_classes)
        if config.eval_steps:
            self._eval_examples(info)  # a missing --eval_split fails now, not at the first evaluation

    def _check_model_dir(self):
        """A model directory holding another network's checkpoints must not be resumed into."""
        if self.resume_from is None or not os.path.isfile(os.path.join(self.model_dir, model_dir_lib.CONFIG_FILE)):
            return
        saved = model_dir_lib.read_model_dir_json(self.model_dir).get("model", {})
        ours = self.model_config.to_dict()
        differing = [k for k in sorted(set(saved) | set(ours)) if saved.get(k) != ours.get(k)]
        if differing:
            changes = "; ".join(f"{k}: {saved.get(k)!r} there, {ours.get(k)!r} here" for k in differing[:3])
            raise ConfigError(
                "model_dir",
                f"{self.model_dir} holds a run of a different network ({changes}); "
                "use a new --model_dir, or --init_checkpoint to start from it",
            )

    def _chief_report(self):
        """(the train split's `ValidationReport`, whether every example is usable), read on the chief only.

        The workers share the data, so one reading serves them all: the others
        get None for the report and the chief's answer for the rest (the same
        on every worker), so all raise or none does.

        Raises:
            DataError: on every worker, when the chief could not read the split.
        """
        config = self.config
        report, error = None, None
        if self.chief:
            try:
                report = data_lib.validate_split(config.dataset, config.dataset_dir, config.train_split,
                                                 num_classes=self.model_config.num_classes,
                                                 val_fraction=config.val_fraction)
            except DataError as raised:
                error = raised
        # 0: unreadable, 1: every example usable, 2: some not (the other workers' value is ignored).
        state = 0.0 if error is not None else 1.0 if report is None or report.ok else 2.0
        state = self.cluster.share_from_chief([state])[0]
        if error is not None:
            raise error
        if state == 0.0:
            raise DataError(f"{config.dataset_dir}: the chief could not read split {config.train_split!r}; "
                            "its output says why")
        return report, state == 1.0

    def _validates(self):
        """Whether the run checks the split before training (from the flags and the chief's choice: every worker alike)."""
        config = self.config
        # read_split validates (and skips) itself with skip_bad_examples; a resumed run was checked when it started.
        return config.validate_dataset and not config.skip_bad_examples and self.resume_from is None

    def _validate_dataset(self):
        """Checks every example before training (on the chief); returns the `ValidationReport` (None if unchecked).

        Under several workers the other workers get None (see `_chief_report`).
        """
        config = self.config
        if not self._validates():
            return None
        report, usable = self._chief_report()
        if not usable and report is None:
            raise DataError(f"{config.dataset_dir}: split {config.train_split!r} has unusable examples (the "
                            "chief's output names them); fix them or pass --skip_bad_examples")
        if not usable:
            shown = "; ".join(str(p) for p in report.problems[:3])
            more = f" (and {len(report.problems) - 3} more)" if len(report.problems) > 3 else ""
            raise DataError(
                f"{config.dataset_dir}: split {config.train_split!r} has {len(report.bad_examples)} unusable "
                f"example(s): {shown}{more}; fix them or pass --skip_bad_examples"
            )
        if report is not None:
            self.callbacks.on_message(
                f"validated {config.dataset} split {config.train_split!r}: {report.num_examples} examples"
            )
        return report

    def _resolve_class_weights(self, report):
        """The loss weight of each class: the given list, or median-frequency balancing of the train split.

        Median-frequency weights are computed when a run starts (from `report`,
        or a fresh validation) and read back from `model_config.json` on resume.
        """
        config, num_classes = self.config, self.model_config.num_classes
        if config.class_weights is None:
            return None
        if config.class_weights != MEDIAN_FREQUENCY:
            if len(config.class_weights) != num_classes:
                raise ConfigError("class_weights", f"{len(config.class_weights)} weights for {num_classes} "
                                  "classes; give one per class")
            return tuple(config.class_weights)
        if self.resume_from is not None:
            recorded = model_dir_lib.read_model_dir_json(self.model_dir).get("train", {}).get("class_weights")
            if isinstance(recorded, list) and len(recorded) == num_classes:
                return tuple(float(w) for w in recorded)
        if not self._validates():
            report = self._chief_report()[0]  # None on the workers other than the chief
        # Computed on the chief, from the split it read, and handed to every worker.
        weights = statistics.median_frequency_weights(report) if self.chief else np.zeros(num_classes)
        weights = tuple(float(w) for w in self.cluster.share_from_chief(weights))
        self.callbacks.on_message("median-frequency class weights: " + ", ".join(f"{w:.3g}" for w in weights))
        return weights

    def _build(self, seed):
        """Builds what a run trains and evaluates, and assigns it (the one place besides `__init__`).

        The variables are created under the strategy's scope and the current
        dtype policy, after seeding Keras with `seed`.
        """
        config = self.config
        info = data_lib.dataset_info(config.dataset, config.dataset_dir, self.model_config.num_classes)
        jit_compile = self._resolve_jit()
        task = build_task(self.model_config, config, strategy=self.strategy, ignore_label=info.ignore_label,
                          class_weights=self.class_weights, seed=seed)
        model, optimizer, step, schedule = task.model, task.optimizer, task.global_step, task.schedule
        moving_averages, train_step = task.moving_statistics, task.train_step
        functions = _make_functions(self.strategy, model, step, train_step.make_replica_step(jit_compile),
                                    moving_averages, self.model_config.num_classes)
        evaluating = bool(config.eval_steps) and self.chief

        self.info, self.jit_compile = info, jit_compile
        self.model, self.optimizer, self.step, self.schedule = model, optimizer, step, schedule
        self.moving_averages, self.train_step = moving_averages, train_step
        self.train_loop, self.average_moving_statistics, self.predict = functions
        # Single scale at the training stride, BN in inference mode; one trace serves every image size.
        self.eval_predictor = Predictor(model, InferenceSettings()) if evaluating else None
        self.eval_examples = self._eval_examples(info) if evaluating else None

    def _eval_examples(self, info):
        """The eval split as `eval_pipeline` gives it (each image at its size); a subset cached in memory."""
        config = self.config
        examples = data_lib.eval_pipeline(
            data_lib.read_split(config.dataset, config.dataset_dir, config.eval_split, num_classes=info.num_classes,
                                val_fraction=config.val_fraction),
            ignore_label=info.ignore_label,
        )
        if config.eval_max_images:
            examples = examples.take(config.eval_max_images).cache()  # decoded once, evaluated many times
        return examples

    def _initialise(self):
        config = self.config
        if config.backbone_weights:
            try:
                copied = load_imagenet_weights(self.model, config.backbone_weights)
            except InputError as error:  # its message starts "backbone_weights: "
                raise ConfigError("backbone_weights", str(error).split(": ", 1)[-1]) from None
            self.callbacks.on_message(
                f"initialised {len(copied)} backbone layers from {config.backbone_weights}"
            )
        elif config.init_checkpoint:
            prefix = checkpoints.restore_init_checkpoint(self.model, config.init_checkpoint, config.init_scope)
            self.callbacks.on_message(f"initialised {config.init_scope} from {prefix}")
        else:
            self.callbacks.on_message("initialised from scratch (no --backbone_weights or --init_checkpoint)")

    def _dataset(self, seed):
        config = self.config
        num_classes = self.model_config.num_classes

        def dataset_fn(context):
            index = context.input_pipeline_id
            examples = data_lib.read_split(  # this pipeline's share, taken before decoding
                config.dataset, config.dataset_dir, config.train_split, num_classes=num_classes,
                skip_bad_examples=config.skip_bad_examples, shuffle_files=True, seed=seed + index,
                val_fraction=config.val_fraction, input_context=context,
            )
            return data_lib.train_pipeline(
                examples,
                crop_size=config.crop_size,
                batch_size=context.get_per_replica_batch_size(config.batch_size),
                min_scale=config.min_scale,
                max_scale=config.max_scale,
                scale_step=config.scale_step,
                flip=config.flip,
                seed=seed + index,
                ignore_label=self.info.ignore_label,
                shuffle_buffer=config.shuffle_buffer,
            )

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    def _overlay_examples(self):
        """A few whole training images for the TensorBoard overlays (not on TPU)."""
        config = self.config
        if not config.image_summary_steps or not self.chief or self.is_tpu:
            return []
        examples = data_lib.read_split(
            config.dataset, config.dataset_dir, config.train_split, num_classes=self.model_config.num_classes,
            val_fraction=config.val_fraction,
        )
        return list(data_lib.eval_pipeline(examples.take(NUM_OVERLAY_IMAGES)).as_numpy_iterator())

    # === The loop ===

    def run(self):
        try:
            return self._run()
        except tf.errors.OpError as error:
            reason = cluster_lib.peer_failure(error) if self.cluster.multi_worker else None
            if reason is None:
                raise
            raise PeerLostError(reason, model_dir_lib.latest_checkpoint(self.model_dir)) from None

    def _run(self):
        config = self.config
        self._check_settings()
        # Every worker resumes from the checkpoint the chief chose (or none), after checking it sees it.
        self.resume_from = cluster_lib.check_shared_model_dir(
            self.cluster, self.model_dir, os.path.join(self.model_dir, model_dir_lib.CHECKPOINT_DIR))
        self._check_model_dir()
        report = self._validate_dataset()
        num_examples = report.num_examples if report is not None else None
        self.class_weights = self._resolve_class_weights(report)
        seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**31)
        seed = int(self.cluster.share_from_chief([seed])[0])  # the chief's draw, on every worker

        previous_policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy(config.mixed_precision or "float32")
        try:
            self._build(seed)
            worker_id = strategy_lib.task_id(self.strategy)
            keeper = checkpoints.CheckpointKeeper(
                self.model_dir, keep=config.keep_checkpoints, chief=self.chief, worker_id=worker_id,
                model=self.model, optimizer=self.optimizer, step=self.step,
            )
            best_keeper = BestKeeper(self.model_dir, chief=self.chief, worker_id=worker_id,
                                     model=self.model, step=self.step) if config.eval_steps else None
            resumed = keeper.restore(self.resume_from) if self.resume_from else None
            start_step = int(self.step.numpy())
            if resumed:
                self.callbacks.on_resume(start_step, resumed)
            else:
                self._initialise()
            # A fresh run starts its best anew; a resumed one must beat what best/ holds.
            best = read_best(self.model_dir) if resumed and config.eval_steps else None
            train_facts = {**config.to_dict(), "seed": seed}
            if self.class_weights is not None:  # the numbers, also when asked for "median_frequency"
                train_facts.update(class_weights=list(self.class_weights),
                                   class_weights_from=config.class_weights if isinstance(config.class_weights, str)
                                   else "list")
            run_facts = {"dataset": self._dataset_facts(), "train": train_facts}
            if self.chief:
                model_dir_lib.save_model_config(self.model_dir, self.model_config, **run_facts)
            # A resumed run draws a fresh (still seeded) data stream rather than replaying the old one.
            data_seed = seed if start_step == 0 else (seed * 1_000_003 + start_step) % (2**31)
            iterator = iter(self._dataset(data_seed))
            overlay_examples = self._overlay_examples()
            summaries = Summaries(self.model_dir, enabled=self.chief)
            self.callbacks.on_start({
                "strategy": strategy_lib.describe(self.strategy),
                "num_replicas": self.num_replicas,
                "global_batch": config.batch_size,
                "per_replica_batch": config.batch_size // self.num_replicas,
                "num_examples": num_examples,
                "params": int(self.model.count_params()),
                "mixed_precision": config.mixed_precision or "float32",
                "jit_compile": self.jit_compile,
                "seed": seed,
                "start_step": start_step,
                "train_steps": config.train_steps,
            })
            evaluator = _Evaluations(self, best_keeper, summaries, best, run_facts)
            try:
                with cluster_lib.TerminationWatcher() as termination:
                    result, stopped = self._loop(iterator, keeper, summaries, overlay_examples, start_step,
                                                 evaluator, termination)
            finally:
                summaries.flush()
        finally:
            keras.config.set_dtype_policy(previous_policy)
        if stopped:
            self.cluster.barrier()  # no worker leaves before the chief has written the checkpoint
            raise PreemptedError(result.step, result.checkpoint if self.chief else None)
        result.model_path = self._save_keras_model(result.checkpoint) if self.chief else None
        self.cluster.barrier()
        self.callbacks.on_end(result)
        return result

    def _loop(self, iterator, keeper, summaries, overlay_examples, start_step, evaluations, termination):
        """Trains to `train_steps`, or until a SIGTERM (`termination`) on any worker, then saves.

        Returns:
            (`TrainResult`, whether it stopped early on SIGTERM).
        """
        config = self.config
        step = start_step
        last_saved = start_step if self.resume_from else None
        stopped = False
        # The summary window: sums over every step since the last summary, so the
        # scalars written are means over the same steps and total = CE + decay.
        window_loss, window_cross_entropy, window_confusion, window_steps = 0.0, 0.0, None, 0
        timed_steps, timed_seconds, loss, train_miou = 0, 0.0, None, None
        started = time.perf_counter()
        first_group = True
        while step < config.train_steps:
            count = _steps_to_next_event(step, config)
            group_start = time.perf_counter()
            out = self.train_loop(iterator, tf.constant(count, tf.int64), tf.constant(termination.requested))
            if bool(out["stop"]):  # some worker got SIGTERM: all stop here, before the group's first step
                stopped = True
                break
            bad_step = int(out["bad_step"])
            if bad_step >= 0:
                raise NonFiniteLossError(bad_step, keeper.latest)
            seconds = time.perf_counter() - group_start
            step += count
            loss = float(out["loss"])
            cross_entropy = float(out["cross_entropy"])
            confusion = out["confusion"].numpy().astype(np.int64)
            window_loss += loss * count
            window_cross_entropy += cross_entropy * count
            window_steps += count
            window_confusion = confusion if window_confusion is None else window_confusion + confusion
            rate = None
            if not first_group:
                timed_steps += count
                timed_seconds += seconds
                rate = count / seconds
            first_group = False
            learning_rate = float(self.schedule(step))
            if config.eval_steps and (step % config.eval_steps == 0 or step == config.train_steps):
                evaluations.run(step)
            self.callbacks.on_progress(Progress(
                step=step, train_steps=config.train_steps, start_step=start_step, loss=loss,
                cross_entropy=cross_entropy, learning_rate=learning_rate,
                steps_per_second=rate, examples_per_second=rate and rate * config.batch_size,
                elapsed_s=time.perf_counter() - started,
                val_miou=evaluations.latest and evaluations.latest.miou,
                best_val_miou=evaluations.best and evaluations.best["miou"],
            ))
            if step % config.summary_steps == 0 or step == config.train_steps:
                metrics = compute_metrics(window_confusion)
                train_miou = metrics["miou"]
                total = window_loss / window_steps
                mean_cross_entropy = window_cross_entropy / window_steps
                summaries.scalars(step, {
                    "loss/total": total,
                    "loss/cross_entropy": mean_cross_entropy,
                    "loss/weight_decay": total - mean_cross_entropy,
                    "learning_rate": learning_rate,
                    "train/miou": train_miou,
                    "train/pixel_accuracy": metrics["pixel_accuracy"],
                    "steps_per_second": rate,
                })
                window_loss, window_cross_entropy, window_confusion, window_steps = 0.0, 0.0, None, 0
            if overlay_examples and (step % config.image_summary_steps == 0 or step == config.train_steps):
                self._write_overlays(summaries, step, overlay_examples)
            if step % config.checkpoint_steps == 0 or step == config.train_steps:
                self._save(keeper, step)
                last_saved = step
        if last_saved != step:
            self._save(keeper, step)
        latest, best = evaluations.latest, evaluations.best
        return TrainResult(
            step=step,
            resumed_from=start_step,
            checkpoint=keeper.latest,
            model_path=None,
            loss=loss,
            train_seconds=time.perf_counter() - started,
            steps_per_second=timed_steps / timed_seconds if timed_seconds else None,
            examples_per_second=timed_steps * config.batch_size / timed_seconds if timed_seconds else None,
            train_miou=train_miou,
            eval_miou=latest and latest.miou,
            eval_step=latest and latest.step,
            best_miou=best and best["miou"],
            best_step=best and best["step"],
            best_checkpoint=evaluations.best_checkpoint,
        ), stopped

    def _save(self, keeper, step):
        if self.num_replicas > 1 and self.config.fine_tune_batch_norm:
            self.average_moving_statistics()
        path = keeper.save(step)
        if self.chief:
            self.callbacks.on_checkpoint(step, path)

    def _write_overlays(self, summaries, step, examples):
        images, labels, predictions = [], [], []
        for example in examples:
            height, width = example["original_size"][0]
            images.append(example["image"][0, :height, :width].round().clip(0, 255).astype(np.uint8))
            labels.append(example["label"][0, :height, :width])
            predictions.append(self.predict(tf.constant(example["image"])).numpy()[0, :height, :width])
        summaries.overlays(step, images, labels, predictions, self.info.ignore_label,
                           palettes.palette_for(self.info))

    def _save_keras_model(self, checkpoint):
        """`model_dir/model.keras`: a float32 copy of the final checkpoint (safe-mode loadable), atomically.

        Read back through the checkpoint, as `model_dir.load_model` does, so the
        file holds exactly what evaluation of the model directory sees.
        """
        copy = build_model(self.model_config)
        tf.train.Checkpoint(model=copy).read(checkpoint).expect_partial().assert_existing_objects_matched()
        path = os.path.join(self.model_dir, MODEL_FILE)
        with atomic_path(path, suffix=".keras") as temporary:
            copy.save(temporary)
        return path

    def _dataset_facts(self):
        return {
            "name": self.config.dataset,
            "dataset_dir": os.path.abspath(self.config.dataset_dir),
            "train_split": self.config.train_split,
            "num_classes": self.info.num_classes,
            "ignore_label": self.info.ignore_label,
            "class_names": list(self.info.class_names),
            "palette": [list(colour) for colour in palettes.class_colors(self.info)],
            **({"val_fraction": self.config.val_fraction} if self.config.val_fraction is not None else {}),
        }

    def _resolve_jit(self):
        jit = self.config.jit_compile
        if jit is None:
            jit = bool(tf.config.list_physical_devices("GPU"))
        if self.is_tpu:
            return False  # TPUStrategy compiles the whole step anyway
        if jit and self.config.sync_batch_norm and self.num_replicas > 1:
            self.callbacks.on_message("sync_batch_norm all-reduces inside the network: running it without XLA")
            return False
        return bool(jit)


class _Evaluations:
    """The evaluations during training (`eval_steps`): TensorBoard `eval/miou`, and `model_dir/best/`.

    Only the chief evaluates. Under `MultiWorkerMirroredStrategy` every worker
    reaches each evaluation at the same step (the schedule is the config's):
    all average the BN moving statistics (a collective), the chief evaluates
    while the others wait in `Cluster.share_from_chief` (a collective that completes
    once the chief joins), which hands every worker the chief's mIoU and its
    decision whether it is the best; all then take part in saving `best/` or
    none does, so no worker waits on a collective another skipped, and the
    weights stay the same everywhere (evaluation changes no variable).

    Args:
        trainer: the `Trainer` (its model, predictor, examples and functions).
        keeper: a `BestKeeper`, or None without `eval_steps`.
        summaries: the run's `Summaries`.
        best: `best/eval.json` of a resumed run (to beat), or None.
        run_facts: the `model_config.json` sections copied into `best/`.
    """

    def __init__(self, trainer, keeper, summaries, best, run_facts):
        self.trainer, self.keeper, self.summaries, self.run_facts = trainer, keeper, summaries, run_facts
        self.best = best
        self.best_checkpoint = (model_dir_lib.latest_checkpoint(keeper.directory)
                                if best and keeper and trainer.chief else None)
        self.latest = None

    def run(self, step):
        trainer, config = self.trainer, self.trainer.config
        started = time.perf_counter()
        if trainer.num_replicas > 1 and config.fine_tune_batch_norm:
            trainer.average_moving_statistics()  # the replicas' mean statistics, as a checkpoint gets
        miou, per_class_iou, num_images, is_best = None, None, None, False
        if trainer.chief:
            result = evaluate(trainer.eval_predictor, trainer.eval_examples, trainer.model_config.num_classes,
                              ignore_label=trainer.info.ignore_label)
            metrics = result.metrics()
            miou, per_class_iou, num_images = metrics["miou"], metrics["per_class_iou"], metrics["num_images"]
            is_best = miou is not None and (self.best is None or miou > self.best["miou"])
        # The chief's result on every worker (in one process, the values as they are).
        shared = trainer.cluster.share_from_chief([np.nan if miou is None else miou, float(is_best)])
        if not trainer.chief:
            miou = None if np.isnan(shared[0]) else float(shared[0])
            is_best = bool(shared[1] > 0.5)
        if is_best:
            record = {"step": int(step), "miou": miou, "per_class_iou": per_class_iou,
                      "num_images": num_images, "eval_split": config.eval_split}
            path = self.keeper.save(step, record, trainer.model_config, **self.run_facts)
            self.best = record
            self.best_checkpoint = path if trainer.chief else None
        if miou is not None:
            self.summaries.scalars(step, {"eval/miou": miou})
        self.latest = Evaluation(
            step=int(step), miou=miou, per_class_iou=per_class_iou, num_images=num_images,
            eval_split=config.eval_split, seconds=time.perf_counter() - started, is_best=is_best,
            best_miou=self.best and self.best["miou"], best_step=self.best and self.best["step"],
            best_checkpoint=self.best_checkpoint,
        )
        trainer.callbacks.on_evaluation(self.latest)


def _make_functions(strategy, model, step, replica_step, moving_averages, num_classes):
    """The compiled functions of a run: (train_loop, average_moving_statistics, predict)."""

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

    return train_loop, average_moving_statistics, predict


def _steps_to_next_event(step, config):
    """Steps until the next checkpoint, summary, image summary, evaluation or the end, at most `steps_per_loop`."""
    events = [config.train_steps, _next_multiple(step, config.checkpoint_steps),
              _next_multiple(step, config.summary_steps), step + config.steps_per_loop]
    for every in (config.image_summary_steps, config.eval_steps):
        if every:
            events.append(_next_multiple(step, every))
    return min(events) - step


def _next_multiple(step, every):
    return (step // every + 1) * every
