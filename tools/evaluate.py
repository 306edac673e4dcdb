"""Evaluates a trained model directory on a split: mIoU from one confusion matrix over it.

    python -m tools.evaluate --model_dir=runs/demo/v3                      # as trained
    python -m tools.evaluate --model_dir=runs/voc_v3 --output_stride=8 \
        --eval_scales=0.5,0.75,1,1.25,1.5,1.75 --flip --output_name=metrics_os8_ms_flip.json
    python -m tools.evaluate --model_dir=runs/demo/v2 --crf --report
    python -m tools.evaluate --model_dir=runs/voc_v3 --watch --flip    # beside tools.train, as it trains
    python -m tools.evaluate --model_dir=runs/demo/v2 --crf --crf_search   # eval/crf_search.md

Writes `model_dir/eval/metrics.json` (with `--crf` also `metrics_crf.json`, from
the same pass; with `--crf_search` also `crf_search.json` and `.md`), prints a
per-class table and, with `--report`, an HTML page.
`--dataset`/`--dataset_dir` default to what the model directory records;
`--output_stride`, when given, is the stride at test time (v3's OS16 → OS8
step: same weights, ASPP rates follow), else the model's own. The other model
flags, which recipe flagfiles carry, are ignored: the network is the model
directory's.

With `--watch` it is a sidecar evaluator (`deeplab_tf.evaluation.watch`): every
checkpoint, as the trainer writes it, with the same settings, into
`eval/metrics_history.jsonl` and TensorBoard events in `eval/sidecar/` (another
`--output_name=<name>.json`: `<name>_history.jsonl`, `eval/sidecar_<name>/`). It exits
with status 0 after the final step's checkpoint, 3 when --watch_timeout passes
without a new one.
"""

import dataclasses
import os

from absl import flags, logging

# tools.cli first: it sets TensorFlow's log level before TensorFlow loads.
from tools import cli, data_flags, inference_flags, model_flags, output_flags  # noqa: F401  (--model_dir)

import tensorflow as tf  # noqa: E402

from deeplab_tf import model_dir as model_dir_lib  # noqa: E402
from deeplab_tf.config import ModelConfig  # noqa: E402
from deeplab_tf.data import eval_pipeline, palettes, read_split  # noqa: E402
from deeplab_tf.errors import ConfigError  # noqa: E402
from deeplab_tf.evaluation import (  # noqa: E402
    crf_search,
    evaluate,
    metrics_document,
    per_class_table,
    read_metrics_files,
    write_metrics_file,
)
from deeplab_tf.evaluation import sidecar  # noqa: E402
from deeplab_tf.evaluation.report import write_report  # noqa: E402
from deeplab_tf.inference import Predictor  # noqa: E402

flags.DEFINE_list("eval_pad_size", None, "Pad every image (never resize) to height[,width] with label "
                  "255, as official DeepLab's 513; default: each image at its own size.")
flags.DEFINE_string("output_name", "metrics.json", "File name in model_dir/eval/; with --crf the CRF "
                    "results go to the same name + _crf.")
flags.DEFINE_integer("max_images", 0, "Evaluate only the first N images (0: all).")
flags.DEFINE_bool("report", False, "Also write an HTML report with pictures.")
flags.DEFINE_string("report_dir", None, "Where the report goes (default: model_dir/eval/report).")
flags.DEFINE_integer("report_samples", 6, "Images drawn in the report.")
flags.DEFINE_bool("watch", False, "Sidecar evaluation: evaluate each checkpoint of --model_dir as the trainer "
                  "writes it, in step order, until the final step's (docs/evaluation.md, Sidecar "
                  "evaluation); writes eval/metrics_history.jsonl and TensorBoard events in eval/sidecar/.")
flags.DEFINE_float("watch_interval", 60.0, "With --watch: seconds between looks for a new checkpoint.")
flags.DEFINE_float("watch_timeout", 3600.0, "With --watch: stop (exit status 3) when no new checkpoint appeared "
                   "for this many seconds; 0: wait forever.")
# Around v2's released values (4, 67, 3), the parameters the paper cross-validated.
flags.DEFINE_bool("crf_search", False, "With --crf: also run the CRF for every combination of the "
                  "--crf_search_* lists on the same network outputs; writes eval/crf_search.json and .md "
                  "(mIoU per setting), whose best setting tools.export --crf then uses.")
flags.DEFINE_list("crf_search_bilateral_weight", ["3", "4", "5"], "--crf_search grid: w1 values.")
flags.DEFINE_list("crf_search_bilateral_xy_std", ["50", "67", "80"], "--crf_search grid: θα values (pixels).")
flags.DEFINE_list("crf_search_bilateral_rgb_std", ["3", "4", "5"], "--crf_search grid: θβ values (RGB units).")
flags.mark_flag_as_required("model_dir")
FLAGS = flags.FLAGS
# The exit status of a watch that stopped at --watch_timeout before the final step's checkpoint.
WATCH_TIMEOUT_STATUS = 3


def _dataset_from_flags(record):
    name, directory = data_flags.dataset_from_flags(record.get("dataset"))
    if not name:
        raise cli.UsageError("--dataset: required (the model directory does not record its dataset)")
    if not directory:
        raise cli.UsageError("--dataset_dir: required (the model directory does not record its dataset's directory)")
    return name, directory


def _output_names():
    name = FLAGS.output_name
    if not name.endswith(".json") or os.path.basename(name) != name or name == ".json":
        raise cli.UsageError(f"--output_name: expected a file name ending in .json, got {name!r}")
    return name, name[: -len(".json")] + "_crf.json"


def _progress(done, total, filename):
    every = max(1, (total or 100) // 10)
    if done == 1 or done % every == 0 or done == total:
        logging.info("evaluated %d/%s images (last: %s)", done, total or "?", filename)


@dataclasses.dataclass
class _Job:
    """What the flags ask to evaluate, checked before anything slow runs."""

    config: ModelConfig
    test_config: ModelConfig
    output_stride: int
    dataset: str
    dataset_dir: str
    info: "deeplab_tf.data.info.DatasetInfo"
    settings: "deeplab_tf.inference.InferenceSettings"
    crf_params: "deeplab_tf.postprocess.CRFParams | None"
    pad_to: "tuple[int, int] | None"
    output_name: str
    crf_output_name: str
    crf_search: list  # the --crf_search settings ([] without it)
    examples: "tf.data.Dataset"


def _job_from_flags():
    record = model_dir_lib.read_model_dir_json(FLAGS.model_dir)
    config = ModelConfig.from_dict(record["model"])
    output_stride = model_flags.output_stride_at_test_time()
    name, directory = _dataset_from_flags(record)
    output_name, crf_output_name = _output_names()
    info = data_flags.dataset_info_for_model(name, directory, config.num_classes)
    settings = inference_flags.inference_settings_from_flags()
    crf_params = inference_flags.crf_params_from_flags()
    pad_to = cli.parse_size("eval_pad_size", FLAGS.eval_pad_size)
    if FLAGS.max_images < 0:
        raise cli.UsageError(f"--max_images: must be >= 0, got {FLAGS.max_images}")
    grid = _search_grid(crf_params)
    recorded = record.get("dataset") if name == (record.get("dataset") or {}).get("name") else None
    examples = eval_pipeline(read_split(name, directory, FLAGS.eval_split, num_classes=info.num_classes,
                                        val_fraction=data_flags.val_fraction_from_flags(recorded)),
                             pad_to=pad_to, ignore_label=info.ignore_label)
    return _Job(
        config=config,
        test_config=config.with_output_stride(output_stride) if output_stride else config,
        output_stride=output_stride,
        dataset=name,
        dataset_dir=directory,
        info=info,
        settings=settings,
        crf_params=crf_params,
        pad_to=pad_to,
        output_name=output_name,
        crf_output_name=crf_output_name,
        crf_search=grid,
        examples=examples,
    )


def _evaluate_checkpoint(job, checkpoint, num_samples=0):
    """(result, metrics document, CRF document or None, settings) of `checkpoint` (None: the newest)."""
    checkpoint = checkpoint or model_dir_lib.latest_checkpoint(FLAGS.model_dir)  # once: training may add one
    model = model_dir_lib.load_model(FLAGS.model_dir, output_stride=job.output_stride, fold_batch_norm=True,
                                     dtype_policy=FLAGS.inference_precision, checkpoint=checkpoint)
    logging.info("evaluating %s at output stride %d on %s %s (%s)", checkpoint, job.test_config.output_stride,
                 job.dataset, FLAGS.eval_split, job.settings)
    result = evaluate(
        Predictor(model, job.settings), job.examples, job.info.num_classes, ignore_label=job.info.ignore_label,
        crf_params=job.crf_params, crf_backend=FLAGS.crf_backend, crf_batch_size=FLAGS.crf_batch_size,
        crf_search=job.crf_search, max_images=FLAGS.max_images or None, num_samples=num_samples,
        progress=_progress,
    )
    run_settings, crf_settings = _settings(job, checkpoint)
    metrics = metrics_document(result, job.info.class_names, run_settings)
    crf_metrics = metrics_document(result, job.info.class_names, crf_settings, crf=True) if crf_settings else None
    return result, metrics, crf_metrics, run_settings


def _settings(job, checkpoint=None):
    """(settings, CRF settings or None) recorded with an evaluation of `checkpoint` (None: without its facts)."""
    facts = {"checkpoint": os.path.basename(checkpoint), "step": model_dir_lib.checkpoint_step(checkpoint)} if checkpoint else {}
    settings = {
        "model_dir": FLAGS.model_dir,
        **facts,
        "dataset": job.dataset,
        "dataset_dir": job.dataset_dir,
        "eval_split": FLAGS.eval_split,
        "output_stride": job.test_config.output_stride,
        "inference_precision": FLAGS.inference_precision,
        "trained_output_stride": job.config.output_stride,
        "atrous_rates": list(job.test_config.atrous_rates),
        **job.settings.to_dict(),
        "eval_pad_size": list(job.pad_to) if job.pad_to else None,
        "max_images": FLAGS.max_images or None,
    }
    if job.crf_params is None:
        return settings, None
    return settings, {**settings, "crf_backend": FLAGS.crf_backend, "crf_params": dataclasses.asdict(job.crf_params)}


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    cli.assume_frozen_weights()  # each checkpoint gets a model of its own, whose weights never change
    if FLAGS.watch:
        return _watch()
    # Every flag is checked before the (slow) model and data are loaded.
    job = _job_from_flags()
    result, metrics, crf_metrics, run_settings = _evaluate_checkpoint(
        job, None, num_samples=FLAGS.report_samples if FLAGS.report else 0)
    eval_dir = os.path.join(FLAGS.model_dir, "eval")
    write_metrics_file(os.path.join(eval_dir, job.output_name), metrics)
    if crf_metrics:
        write_metrics_file(os.path.join(eval_dir, job.crf_output_name), crf_metrics)

    print(per_class_table(job.info.class_names, metrics, crf_metrics))
    written = [job.output_name] + ([job.crf_output_name] if crf_metrics else [])
    print(f"wrote {', '.join(os.path.join(eval_dir, n) for n in written)}")
    if job.crf_search:
        document = crf_search.search_document(job.crf_search, result.search_confusions, metrics["miou"], run_settings)
        print(crf_search.search_table(document), end="")
        best = document["best"]["params"]
        print("best: " + " ".join(f"--crf_{name}={best[name]:g}" for name in crf_search.SEARCHED)
              + f" ({100 * document['best']['miou']:.2f}% mIoU); tools.export --crf uses it")
        print(f"wrote {', '.join(crf_search.write_search(eval_dir, document))}")
    if FLAGS.report:
        print(f"wrote {_report(eval_dir, job.output_name, job.info, metrics, crf_metrics, result, run_settings)}")


def _watch():
    """`--watch`: every checkpoint of --model_dir as it appears, until the final step's or --watch_timeout."""
    path = FLAGS.model_dir
    what = ("a file" if os.path.isfile(path) else
            "an exported SavedModel" if tf.saved_model.contains_saved_model(path) else None)
    if what:
        raise cli.UsageError(f"--watch: needs a training run's --model_dir (model_config.json, checkpoints/); "
                             f"{path} is {what}")
    if FLAGS.report:
        raise cli.UsageError("--report: not with --watch; run tools.evaluate without --watch for a report")
    if FLAGS.crf_search:
        raise cli.UsageError("--crf_search: not with --watch; search the CRF settings on one checkpoint")
    if FLAGS.watch_interval <= 0:
        raise cli.UsageError(f"--watch_interval: must be > 0 seconds, got {FLAGS.watch_interval}")
    if FLAGS.watch_timeout < 0:
        raise cli.UsageError(f"--watch_timeout: must be >= 0 seconds (0: wait forever), got {FLAGS.watch_timeout}")

    def prepare():
        job = _job_from_flags()
        return (lambda step, prefix: _evaluate_checkpoint(job, prefix)[1:3]), job.output_name[: -len(".json")], \
            _settings(job)

    reached_final = sidecar.run(path, prepare, interval=FLAGS.watch_interval, timeout=FLAGS.watch_timeout)
    return 0 if reached_final else WATCH_TIMEOUT_STATUS


def _search_grid(crf_params):
    """The --crf_search settings, [] without it."""
    if not FLAGS.crf_search:
        return []
    if crf_params is None:
        raise cli.UsageError("--crf_search: needs --crf")
    values = []
    for name in crf_search.SEARCHED:
        flag = f"crf_search_{name}"
        try:
            values.append([float(v) for v in FLAGS[flag].value])
        except ValueError:
            raise cli.UsageError(f"--{flag}: expected numbers, got {','.join(FLAGS[flag].value)}") from None
        if not values[-1]:
            raise cli.UsageError(f"--{flag}: needs at least one value")
    try:
        return crf_search.search_grid(crf_params, *values)
    except ConfigError as error:  # it names the CRFParams field: name our flag instead
        raise cli.UsageError(f"--crf_search_{error.field}: {error.message}") from None


def _report(eval_dir, output_name, info, metrics, crf_metrics, result, settings):
    default = output_name == "metrics.json"
    report_dir = FLAGS.report_dir or os.path.join(eval_dir, "report" if default else f"report_{output_name[:-5]}")
    return write_report(
        report_dir,
        title=f"Evaluation of {FLAGS.model_dir} on {settings['dataset']} {settings['eval_split']}",
        class_names=info.class_names,
        metrics=metrics,
        crf_metrics=crf_metrics,
        confusion=result.crf_confusion if crf_metrics else result.confusion,
        samples=result.samples,
        runs=read_metrics_files(eval_dir),
        settings={k: v for k, v in settings.items() if k != "model_dir"},
        log_dir=FLAGS.model_dir,
        palette=palettes.palette_for(info),
    )


if __name__ == "__main__":
    cli.run(main, flag_for_field={**model_flags.FLAG_FOR_FIELD, **data_flags.FLAG_FOR_FIELD})
