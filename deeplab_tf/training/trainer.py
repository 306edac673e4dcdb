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
import typing

import tensorflow as tf

from deeplab_tf import data as data_lib
from deeplab_tf import model_dir as model_dir_lib
from deeplab_tf.backbones import load_imagenet_weights
from deeplab_tf.data import palettes
from deeplab_tf.inference import InferenceSettings, Predictor
from deeplab_tf.models import build_model
from deeplab_tf.training import checkpoints, cluster as cluster_lib, preflight, strategy as strategy_lib
from deeplab_tf.training.best import BestKeeper, read_best
from deeplab_tf.training.callbacks import Callbacks
from deeplab_tf.training.cluster import PeerLostError, PreemptedError
from deeplab_tf.training.compiled import run_functions
from deeplab_tf.training.evaluations import EvaluationsDuringTraining
from deeplab_tf.training.inputs import TrainInput
from deeplab_tf.training.loop import TrainingLoop
from deeplab_tf.training.summaries import Summaries
from deeplab_tf.training.task import build_task

NUM_OVERLAY_IMAGES = 3


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

    A run goes: the checks of `preflight` (settings, the model directory, the
    data, class weights), `build_task`, restore or initialise, then the loop,
    whose periodic actions (summaries, overlays, evaluations, checkpoints)
    each come due through `periodic.is_due`.

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
        self.model_dir = model_dir
        self.model_config = model_config
        self.config = train_config  # as given; the seed drawn for a run is `run`'s own
        self.strategy = strategy or tf.distribute.get_strategy()
        self.callbacks = callbacks or Callbacks()
        self.num_replicas = self.strategy.num_replicas_in_sync
        self.chief = strategy_lib.is_chief(self.strategy)
        self.is_tpu = isinstance(self.strategy, tf.distribute.TPUStrategy)
        self.cluster = cluster_lib.Cluster(self.strategy, self.chief)

    def run(self):
        try:
            return self._run()
        except tf.errors.OpError as error:
            reason = cluster_lib.peer_failure(error) if self.cluster.multi_worker else None
            if reason is None:
                raise
            raise PeerLostError(reason, model_dir_lib.latest_checkpoint(self.model_dir)) from None

    # === Before training ===

    def _run(self):
        config = self.config
        plan = self._preflight()
        jit_compile = self._resolve_jit()
        task = build_task(self.model_config, config, strategy=self.strategy, ignore_label=plan.info.ignore_label,
                          class_weights=plan.class_weights, seed=plan.seed)
        functions = run_functions(self.strategy, task, task.train_step.make_replica_step(jit_compile),
                                  self.model_config.num_classes)
        evaluating = bool(config.eval_steps) and self.chief
        # Single scale at the training stride, BN in inference mode; one trace serves every image size.
        predictor = Predictor(task.model, InferenceSettings()) if evaluating else None
        eval_examples = _eval_examples(config, plan.info) if evaluating else None
        keeper, best_keeper, resumed = self._restore_or_initialise(plan, task)
        start_step = int(task.global_step.numpy())
        run_facts = self._record_run(plan)
        # A resumed run draws a fresh (still seeded) data stream rather than replaying the old one.
        data_seed = plan.seed if start_step == 0 else (plan.seed * 1_000_003 + start_step) % (2**31)
        batches = TrainInput(self.strategy, config, plan.info, data_seed, start_step)
        overlay_examples = self._overlay_examples(plan.info)
        summaries = Summaries(self.model_dir, enabled=self.chief)
        self._announce(plan, task, jit_compile, start_step)
        # Keras keeps BN moving statistics per replica; checkpoints and evaluations see their mean.
        averaging = self.num_replicas > 1 and config.fine_tune_batch_norm
        average_statistics = functions.average_moving_statistics if averaging else None
        evaluations = EvaluationsDuringTraining(
            predictor=predictor, examples=eval_examples, model_config=self.model_config,
            ignore_label=plan.info.ignore_label, eval_split=config.eval_split, cluster=self.cluster,
            keeper=best_keeper, summaries=summaries,
            best=read_best(self.model_dir) if resumed and config.eval_steps else None,
            run_facts=run_facts, average_statistics=average_statistics, on_evaluation=self.callbacks.on_evaluation)
        loop = TrainingLoop(config, task, functions, keeper, summaries, evaluations,
                            overlay_examples=overlay_examples, info=plan.info, start_step=start_step,
                            resumed=plan.resume_from is not None, average_statistics=average_statistics,
                            chief=self.chief, callbacks=self.callbacks)
        try:
            with cluster_lib.TerminationWatcher() as termination:
                result, stopped = loop.run(batches, termination)
        finally:
            summaries.flush()
        if stopped:
            self.cluster.barrier()  # no worker leaves before the chief has written the checkpoint
            raise PreemptedError(result.step, result.checkpoint if self.chief else None)
        result.model_path = self._save_keras_model(result.checkpoint) if self.chief else None
        self.cluster.barrier()
        self.callbacks.on_end(result)
        return result

    def _preflight(self):
        """The checks and choices made before anything is built (`preflight`), as a `_Plan`."""
        config, num_classes, say = self.config, self.model_config.num_classes, self.callbacks.on_message
        info = preflight.check_settings(config, self.model_config, num_replicas=self.num_replicas,
                                        is_tpu=self.is_tpu, on_message=say)
        if config.eval_steps:
            _eval_examples(config, info)  # a missing --eval_split fails now, not at the first evaluation
        # Every worker resumes from the checkpoint the chief chose (or none), after checking it sees it.
        resume_from = cluster_lib.check_shared_model_dir(
            self.cluster, self.model_dir, os.path.join(self.model_dir, model_dir_lib.CHECKPOINT_DIR))
        preflight.check_model_dir(self.model_dir, self.model_config, resume_from)
        validating = preflight.validates(config, resume_from)
        report = preflight.validate_train_split(config, num_classes, self.cluster, say) if validating else None
        class_weights = preflight.resolve_class_weights(
            config, num_classes, model_dir=self.model_dir, resume_from=resume_from, report=report,
            cluster=self.cluster, on_message=say)
        seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**31)
        seed = int(self.cluster.share_from_chief([seed])[0])  # the chief's draw, on every worker
        return _Plan(info, resume_from, report, class_weights, seed)

    def _restore_or_initialise(self, plan, task):
        """(the `CheckpointKeeper`, the `BestKeeper` or None, the checkpoint resumed from or None)."""
        config = self.config
        worker_id = strategy_lib.task_id(self.strategy)
        keeper = checkpoints.CheckpointKeeper(
            self.model_dir, keep=config.keep_checkpoints, chief=self.chief, worker_id=worker_id,
            model=task.model, optimizer=task.optimizer, step=task.global_step)
        best_keeper = BestKeeper(self.model_dir, chief=self.chief, worker_id=worker_id, model=task.model,
                                 step=task.global_step) if config.eval_steps else None
        resumed = keeper.restore(plan.resume_from) if plan.resume_from else None
        if resumed:
            self.callbacks.on_resume(int(task.global_step.numpy()), resumed)
        else:
            self._initialise(task.model)
        return keeper, best_keeper, resumed

    def _announce(self, plan, task, jit_compile, start_step):
        config = self.config
        self.callbacks.on_start({
            "strategy": strategy_lib.describe(self.strategy), "num_replicas": self.num_replicas,
            "global_batch": config.batch_size, "per_replica_batch": config.batch_size // self.num_replicas,
            "num_examples": plan.report.num_examples if plan.report is not None else None,
            "params": int(task.model.count_params()), "mixed_precision": config.mixed_precision or "float32",
            "jit_compile": jit_compile, "seed": plan.seed, "start_step": start_step,
            "train_steps": config.train_steps,
        })

    def _initialise(self, model):
        config = self.config
        if config.backbone_weights:
            copied = load_imagenet_weights(model, config.backbone_weights)  # a ConfigError names the field
            self.callbacks.on_message(f"initialised {len(copied)} backbone layers from {config.backbone_weights}")
        elif config.init_checkpoint:
            prefix = checkpoints.restore_init_checkpoint(model, config.init_checkpoint, config.init_scope)
            self.callbacks.on_message(f"initialised {config.init_scope} from {prefix}")
        else:
            self.callbacks.on_message("initialised from scratch (no --backbone_weights or --init_checkpoint)")

    def _record_run(self, plan):
        """The `dataset` and `train` sections of `model_config.json`, which the chief writes."""
        config, info, seed, class_weights = self.config, plan.info, plan.seed, plan.class_weights
        train_facts = {**config.to_dict(), "seed": seed}
        if class_weights is not None:  # the numbers, also when asked for "median_frequency"
            train_facts.update(class_weights=list(class_weights),
                               class_weights_from=config.class_weights if isinstance(config.class_weights, str)
                               else "list")
        dataset_facts = {
            "name": config.dataset,
            "dataset_dir": os.path.abspath(config.dataset_dir),
            "train_split": config.train_split,
            "num_classes": info.num_classes,
            "ignore_label": info.ignore_label,
            "class_names": list(info.class_names),
            "palette": [list(colour) for colour in palettes.class_colors(info)],
            **({"val_fraction": config.val_fraction} if config.val_fraction is not None else {}),
        }
        run_facts = {"dataset": dataset_facts, "train": train_facts}
        if self.chief:
            model_dir_lib.save_model_config(self.model_dir, self.model_config, **run_facts)
        return run_facts

    def _overlay_examples(self, info):
        """A few whole training images for the TensorBoard overlays (not on TPU)."""
        config = self.config
        if not config.image_summary_steps or not self.chief or self.is_tpu:
            return []
        examples = data_lib.read_split(config.dataset, config.dataset_dir, config.train_split,
                                       num_classes=info.num_classes, val_fraction=config.val_fraction)
        return list(data_lib.eval_pipeline(examples.take(NUM_OVERLAY_IMAGES)).as_numpy_iterator())

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

    # === After training ===

    def _save_keras_model(self, checkpoint):
        """`model_dir/model.keras`: a float32 copy of the final checkpoint (safe-mode loadable), atomically.

        Read back through the checkpoint, as `model_dir.load_model` does, so the
        file holds exactly what evaluation of the model directory sees.
        """
        copy = build_model(self.model_config, dtype_policy="float32")
        tf.train.Checkpoint(model=copy).read(checkpoint).expect_partial().assert_existing_objects_matched()
        return model_dir_lib.save_keras_file(copy, self.model_dir)


class _Plan(typing.NamedTuple):
    """What `Trainer._preflight` settles before the run builds anything."""

    info: object  # the dataset's `DatasetInfo`
    resume_from: str  # the checkpoint every worker resumes from, or None for a fresh start
    report: object  # the train split's `ValidationReport` (the chief's, when checked), or None
    class_weights: tuple  # resolved loss weights per class, or None
    seed: int  # the run's seed, the chief's draw on every worker


def _eval_examples(config, info):
    """The eval split as `eval_pipeline` gives it (each image at its size); a subset cached in memory."""
    examples = data_lib.eval_pipeline(
        data_lib.read_split(config.dataset, config.dataset_dir, config.eval_split, num_classes=info.num_classes,
                            val_fraction=config.val_fraction),
        ignore_label=info.ignore_label,
    )
    if config.eval_max_images:
        examples = examples.take(config.eval_max_images).cache()  # decoded once, evaluated many times
    return examples
