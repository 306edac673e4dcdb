"""The evaluations during training (`TrainConfig.eval_steps`): TensorBoard `eval/miou`, and `model_dir/best/`."""

import time

import numpy as np

from deeplab_tf import model_dir as model_dir_lib
from deeplab_tf.evaluation import evaluate
from deeplab_tf.training.callbacks import Evaluation


class EvaluationsDuringTraining:
    """Evaluates the eval split on the chief at the steps the loop asks, and keeps the best checkpoint.

    Under `MultiWorkerMirroredStrategy` every worker reaches each evaluation at
    the same step (the schedule is the config's): all average the BN moving
    statistics (a collective), the chief evaluates while the others wait in
    `Cluster.share_from_chief` (a collective that completes once the chief
    joins), which hands every worker the chief's mIoU and whether it is the
    best; all then take part in saving `best/` or none does, so no worker waits
    on a collective another skipped, and the weights stay the same everywhere
    (evaluation changes no variable).

    Args:
        predictor: the chief's `Predictor` (single scale, BN in inference mode); None elsewhere.
        examples: the eval split as `data.eval_pipeline` gives it; None elsewhere.
        model_config: the network's `ModelConfig` (recorded in `best/`).
        ignore_label: the label the metric leaves out.
        eval_split: the split's name, for the records.
        cluster: the run's `Cluster`.
        keeper: the run's `BestKeeper`.
        summaries: the run's `Summaries`.
        best: `best/eval.json` of a resumed run (to beat), or None.
        run_facts: the `model_config.json` sections copied into `best/`.
        average_statistics: called before each evaluation when the replicas' BN statistics differ, else None.
        on_evaluation: receives each `Evaluation`.
    """

    def __init__(self, *, predictor, examples, model_config, ignore_label, eval_split, cluster, keeper, summaries,
                 best, run_facts, average_statistics, on_evaluation):
        self.predictor, self.examples = predictor, examples
        self.model_config, self.ignore_label, self.eval_split = model_config, ignore_label, eval_split
        self.cluster, self.keeper, self.summaries, self.run_facts = cluster, keeper, summaries, run_facts
        self.average_statistics, self.on_evaluation = average_statistics, on_evaluation
        self.best = best
        self.best_checkpoint = (model_dir_lib.latest_checkpoint(keeper.directory)
                                if best and cluster.chief else None)
        self.latest = None

    def run(self, step):
        started = time.perf_counter()
        if self.average_statistics is not None:
            self.average_statistics()  # the replicas' mean statistics, as a checkpoint gets
        miou, per_class_iou, num_images, is_best = None, None, None, False
        if self.cluster.chief:
            metrics = evaluate(self.predictor, self.examples, self.model_config.num_classes,
                               ignore_label=self.ignore_label).metrics()
            miou, per_class_iou, num_images = metrics["miou"], metrics["per_class_iou"], metrics["num_images"]
            is_best = miou is not None and (self.best is None or miou > self.best["miou"])
        shared_miou, shared_is_best = self.cluster.share_from_chief([np.nan if miou is None else miou, is_best])
        miou = None if np.isnan(shared_miou) else float(shared_miou)
        is_best = bool(shared_is_best)
        if is_best:
            record = {"step": int(step), "miou": miou, "per_class_iou": per_class_iou,
                      "num_images": num_images, "eval_split": self.eval_split}
            path = self.keeper.save(step, record, self.model_config, **self.run_facts)
            self.best = record
            self.best_checkpoint = path if self.cluster.chief else None
        if miou is not None:
            self.summaries.scalars(step, {"eval/miou": miou})
        self.latest = Evaluation(
            step=int(step), miou=miou, per_class_iou=per_class_iou, num_images=num_images,
            eval_split=self.eval_split, seconds=time.perf_counter() - started, is_best=is_best,
            best_miou=self.best and self.best["miou"], best_step=self.best and self.best["step"],
            best_checkpoint=self.best_checkpoint,
        )
        self.on_evaluation(self.latest)
