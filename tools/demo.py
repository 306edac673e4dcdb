"""The main job: generate data, train v3 and v2, evaluate, export, predict, report.

    python -m tools.demo --output_dir=runs/demo [--images='my_photos/*.jpg'] [--v3_train_steps=6000]

Each step runs one of the command-line tools, exactly as a user would, and is
skipped when what it produces is already there, so running the demo again
resumes it (the trainer itself resumes from its last checkpoint). The report
is `output_dir/report.html`.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import time

from absl import flags, logging

from tools import cli

# The multi-scale + flip setting, recorded before any val score was seen: the scales the
# v3 recipe trains at (flags/synthetic_v3.flags, --min_scale/--max_scale).
DEMO_EVAL_SCALES = ["0.75", "1.0", "1.25"]

flags.DEFINE_string("output_dir", "runs/demo", "Where the data, models and report go.")
flags.DEFINE_string("images", None, "Your own images (file, folder or quoted glob) to segment as well.")
flags.DEFINE_integer("num_train", 2000, "Generated training images.")
flags.DEFINE_integer("num_val", 100, "Generated validation images.")
flags.DEFINE_integer("num_fresh", 200, "Images of the fresh set: the generator with another seed (--seed + 1), "
                     "to check that v3 learned the shapes rather than the val split.")
flags.DEFINE_integer("image_size", 161, "Generated image size (odd, so the OS16 -> OS8 switch keeps its grid).")
flags.DEFINE_list("eval_scales", DEMO_EVAL_SCALES, "Test-time scales of the multi-scale + flip rows, chosen "
                  "before any val score from the training scale range (docs/training.md, The bundled "
                  "recipe).")
flags.DEFINE_integer("num_samples", 6, "Validation images drawn in the report.")
flags.DEFINE_integer("seed", 0, "Seed of the generated data and of training.")
flags.DEFINE_integer("v3_train_steps", None, "v3's training steps; default: the recipe's "
                     "(flags/synthetic_v3.flags). `make demo-long` trains the same recipe longer.", lower_bound=1)
flags.DEFINE_boolean("dry_run", False, "Print each step's command line and run nothing.")
flags.DEFINE_enum("mixed_precision", "auto", ["auto", "float32", "mixed_bfloat16"],
                  "The trainings' precision. auto: the recipes' mixed_bfloat16 where the CPU runs bfloat16 "
                  "natively (AVX-512 or AMX), float32 where TensorFlow would emulate it, tens of times slower.")
FLAGS = flags.FLAGS


class Step:
    """One tool run; skipped when all of its `outputs` exist (unless `always`)."""

    def __init__(self, name, tool, args, outputs=(), always=False, allowed_codes=(0,)):
        self.name, self.tool, self.args = name, tool, args
        self.outputs, self.always, self.allowed_codes = outputs, always, allowed_codes

    def done(self):
        return not self.always and self.outputs and all(os.path.exists(p) for p in self.outputs)


def _steps(out, data, fresh, precision):
    v3, v2 = os.path.join(out, "v3"), os.path.join(out, "v2")
    data_flags = ["--dataset=synthetic", f"--dataset_dir={data}"]
    scales = ",".join(FLAGS.eval_scales)
    samples = os.path.join(out, "samples")
    sample_names = _sample_names(data)
    v3_steps = [] if FLAGS.v3_train_steps is None else [f"--train_steps={FLAGS.v3_train_steps}"]
    steps = [
        Step("generate data", "make_synthetic_data",
             [f"--output_dir={data}", f"--num_train={FLAGS.num_train}", f"--num_val={FLAGS.num_val}",
              f"--image_size={FLAGS.image_size}", f"--seed={FLAGS.seed}"],
             outputs=[os.path.join(data, "dataset.json")]),
        Step("generate fresh data", "make_synthetic_data",
             [f"--output_dir={fresh}", "--num_train=0", f"--num_val={FLAGS.num_fresh}",
              f"--image_size={FLAGS.image_size}", f"--seed={FLAGS.seed + 1}"],
             outputs=[os.path.join(fresh, "dataset.json")]),
        # The trainer validates the split it trains on (--validate_dataset) before its first step.
        Step("train v3", "train",
             ["--flagfile=flags/synthetic_v3.flags", *data_flags, f"--model_dir={v3}", f"--seed={FLAGS.seed}",
              f"--mixed_precision={precision}", *v3_steps],
             outputs=[os.path.join(v3, "model.keras")]),
    ]
    for name, directory, extra in [
        ("metrics.json", data, []),
        ("metrics_os8.json", data, ["--output_stride=8"]),
        ("metrics_ms_flip.json", data, [f"--eval_scales={scales}", "--flip"]),
        ("metrics_os8_ms_flip.json", data, ["--output_stride=8", f"--eval_scales={scales}", "--flip"]),
        ("metrics_fresh.json", fresh, []),
    ]:
        steps.append(Step(f"evaluate v3 ({name})", "evaluate",
                          [f"--model_dir={v3}", "--dataset=synthetic", f"--dataset_dir={directory}",
                           "--eval_split=val", f"--output_name={name}", *extra],
                          outputs=[os.path.join(v3, "eval", name)]))
    steps += [
        Step("train v2", "train",
             # v3's run validated the split; v2 starts from its backbone (the flagfile's --init_scope).
             ["--flagfile=flags/synthetic_v2.flags", *data_flags, f"--model_dir={v2}", f"--seed={FLAGS.seed}",
              "--novalidate_dataset", f"--init_checkpoint={v3}", f"--mixed_precision={precision}"],
             outputs=[os.path.join(v2, "model.keras")]),
        Step("evaluate v2 with and without CRF", "evaluate",
             [f"--model_dir={v2}", *data_flags, "--eval_split=val", "--crf"],
             outputs=[os.path.join(v2, "eval", "metrics.json"), os.path.join(v2, "eval", "metrics_crf.json")]),
    ]
    for model, model_dir in (("v3", v3), ("v2", v2)):
        steps.append(Step(f"export {model}", "export",
                          [f"--model_dir={model_dir}", f"--export_dir={os.path.join(model_dir, 'export')}"],
                          outputs=[os.path.join(model_dir, "export", "saved_model.pb")]))
    # int8, the phone's format, checked against the SavedModel (float32 converts the same way, exactly).
    target = os.path.join(v3, "tflite", "int8.tflite")
    steps.append(Step("TFLite v3 int8", "convert_tflite",
                      [f"--saved_model_dir={os.path.join(v3, 'export')}", f"--output={target}",
                       "--quantization=int8", f"--input_size={FLAGS.image_size}", *data_flags],
                      outputs=[target, target[: -len(".tflite")] + ".parity.json"]))
    predictions = os.path.join(out, "predictions")
    for name, model_dir, extra in (("v3", v3, []), ("v2", v2, []), ("v2_crf", v2, ["--crf"])):
        target = os.path.join(predictions, name)
        steps.append(Step(f"predict {name}", "predict",
                          [f"--model={model_dir}", f"--input={samples}", f"--output_dir={target}", *extra],
                          outputs=[os.path.join(target, f"{name}.png") for name in sample_names]))
    if FLAGS.images:
        steps.append(Step("predict your images", "predict",
                          [f"--model={v3}", f"--input={FLAGS.images}",
                           f"--output_dir={os.path.join(predictions, 'yours')}"],
                          always=True, allowed_codes=(0, 2)))
    return steps


def _precision():
    if FLAGS.mixed_precision != "auto":
        return FLAGS.mixed_precision
    from deeplab_tf.layers.atrous_conv import cpu_runs_dilations

    if cpu_runs_dilations("bfloat16"):
        return "mixed_bfloat16"
    logging.info("this CPU has no native bfloat16 (no AVX-512 or AMX): training in float32")
    return "float32"


def _sample_names(data):
    """The first validation images, drawn in the report."""
    split = os.path.join(data, "ImageSets", "Segmentation", "val.txt")
    if not os.path.exists(split):
        return []
    with open(split) as file:
        return [line.strip() for line in file if line.strip()][: FLAGS.num_samples]


def _copy_samples(data, samples):
    os.makedirs(samples, exist_ok=True)
    for name in _sample_names(data):
        target = os.path.join(samples, f"{name}.jpg")
        if not os.path.exists(target):
            shutil.copyfile(os.path.join(data, "JPEGImages", f"{name}.jpg"), target)


def _run(step, log_dir):
    command = [sys.executable, "-m", f"tools.{step.tool}", *step.args]
    log_path = os.path.join(log_dir, step.name.replace(" ", "_").replace("(", "").replace(")", "") + ".log")
    logging.info("%s: %s (log: %s)", step.name, " ".join(command[1:]), log_path)
    start = time.perf_counter()
    with open(log_path, "w") as log:
        # The tool's own progress goes to the terminal and to its log file.
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in process.stdout:
            log.write(line)
            if not line.startswith(("I0000", "W0000", "E0000", "WARNING: All log")):
                sys.stdout.write(f"  [{step.name}] {line}")
                sys.stdout.flush()
        code = process.wait()
    if code not in step.allowed_codes:
        cli.fail(f"step '{step.name}' failed with exit code {code}; see {log_path}")
    return time.perf_counter() - start


def main(argv):
    del argv
    out = FLAGS.output_dir
    data, fresh = os.path.join(out, "data"), os.path.join(out, "data_fresh")
    if FLAGS.dry_run:
        for step in _steps(out, data, fresh, _precision()):
            print(f"{step.name}: {shlex.join(['python', '-m', f'tools.{step.tool}', *step.args])}")
        return
    log_dir = os.path.join(out, "logs")
    os.makedirs(log_dir, exist_ok=True)
    timings_path = os.path.join(out, "timings.json")
    timings = json.load(open(timings_path)) if os.path.exists(timings_path) else {}
    total = time.perf_counter()
    precision = _precision()
    steps = _steps(out, data, fresh, precision)
    index = 0
    while index < len(steps):
        step = steps[index]
        if step.done():
            logging.info("%s: done already, skipped", step.name)
        else:
            timings[step.name] = round(_run(step, log_dir), 1)
            with open(timings_path, "w") as file:
                json.dump(timings, file, indent=2)
        if step.tool == "make_synthetic_data":
            # Steps that name generated files are planned once the data exists.
            _copy_samples(data, os.path.join(out, "samples"))
            steps = _steps(out, data, fresh, precision)
        index += 1
    from deeplab_tf.evaluation.demo_report import write_demo_report

    report = write_demo_report(out, timings, num_samples=FLAGS.num_samples)
    logging.info("demo finished in %.0f s; report: %s", time.perf_counter() - total, report)
    print(f"report: {report}")


if __name__ == "__main__":
    cli.run(main)
