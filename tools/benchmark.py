"""Times DeepLab's parts on this machine and writes JSON with FLOP utilisation.

    python -m tools.benchmark --flagfile=flags/voc_v3_os16.flags --mode=inference \
        --input_size=513 --batch_size=1 --output=runs/bench/v3_os16.json
    python -m tools.benchmark --flagfile=flags/voc_v3_os16.flags --mode=train \
        --input_size=513 --batch_size=4 --output=runs/bench/v3_os16_train.json
    python -m tools.benchmark --mode=tflite --output=runs/bench/tflite.json \
        --tflite_model=r101_f32_513.tflite,mnv2_int8_513.tflite,r101_f32_257.tflite,mnv2_int8_257.tflite
    python -m tools.benchmark --flagfile=flags/voc_v3_os16.flags --mode=runtimes --input_size=513 \
        --num_threads=2 --output=runs/bench/runtimes.json   # TensorFlow, ONNX Runtime, OpenVINO

Every mode measures the machine's own matmul rate (`--matmul_size`, 4096³) in the same run, so that
speeds are also given as a ratio (model FLOP/s ÷ matmul FLOP/s) that survives a
busy, shared machine better than absolute times: `utilization` is the median run's
FLOP/s over the best matmul of the run. The inference and train modes also time
each run right after a matmul of the same precision (`matmul_s`).

Inference runs the network as tools.evaluate does: BatchNormalization folded
into the convolutions and oneDNN's reordered weights kept between calls
(`--nofold_batch_norm` and `--noassume_frozen_weights` time without them).
"""

import json
import os

from absl import flags

# tools.cli first: it sets TensorFlow's log level before TensorFlow loads.
from tools import cli, inference_flags, model_flags, output_flags, train_flags  # noqa: F401  (--model_dir)
from deeplab_tf.benchmarking import MODES, BenchmarkConfig, run_benchmark, runtimes  # noqa: E402

import tensorflow as tf  # noqa: E402

flags.DEFINE_enum("mode", "inference", list(MODES), "What to time.")
flags.DEFINE_list("input_size", ["513"], "Input (or crop) height[,width].")
flags.DEFINE_integer("repeats", 5, "Timed runs after warm-up.")
flags.DEFINE_integer("warmup", 2, "Untimed runs first.")
flags.DEFINE_integer("matmul_size", 4096, "The size³ matmul whose rate `utilization` is measured against, "
                     "timed before each run.", lower_bound=64)
flags.DEFINE_string("output", None, "Where to write the JSON (also printed).")
flags.DEFINE_string("dataset_dir_for_data", None, "data mode: a generated dataset (default: generate one).")
flags.DEFINE_list("tflite_model", [], "tflite mode: the .tflite file(s) to time, in the same turns; each "
                  "model's speed-up is over the first one listed at its input size.")
flags.DEFINE_integer("num_threads", 2, "runtimes mode: CPU threads of each runtime (TensorFlow's too).")
flags.DEFINE_bool("fold_batch_norm", True, "inference modes: fold BN into the convolutions, as tools.evaluate.")
flags.DEFINE_string("agreement_images", None, "inference mode with --mixed_precision: a glob of JPEG/PNG "
                    "images on which to measure argmax agreement with float32 (default: the timed input).")
flags.DEFINE_bool("assume_frozen_weights", True,
                  "inference modes: let oneDNN keep reordered weights between calls, as tools.evaluate.")
FLAGS = flags.FLAGS
# The groups' flags, with the defaults a benchmark wants: one image a step, and the multiscale
# mode timing the v3 paper's six scales with flip. --model_dir (inference modes) times a trained
# model instead of random weights from the model flags; the train mode's step follows the training flags.
FLAGS.set_default("batch_size", 1)
FLAGS.set_default("jit_compile", "false")
FLAGS.set_default("eval_scales", ["0.5", "0.75", "1.0", "1.25", "1.5", "1.75"])
FLAGS.set_default("flip", True)


def benchmark_config_from_flags():
    """The `BenchmarkConfig` of the flags (the model, inference and training groups' included)."""
    if FLAGS.batch_size < 1:
        raise cli.UsageError(f"--batch_size: must be positive, got {FLAGS.batch_size}")
    input_size = cli.parse_size("input_size", FLAGS.input_size)
    jit_compile = train_flags.jit_compile()
    if jit_compile is None:
        jit_compile = bool(tf.config.list_physical_devices("GPU"))
    train_config = None
    if FLAGS.mode == "train":
        train_config = train_flags.train_config_from_flags("synthetic", "(random tensors)")
    return BenchmarkConfig(
        input_size=input_size,
        batch_size=FLAGS.batch_size,
        dtype_policy=train_flags.dtype_policy(),
        jit_compile=jit_compile,
        warmup=FLAGS.warmup,
        repeats=FLAGS.repeats,
        matmul_size=FLAGS.matmul_size,
        model_config=model_flags.model_config_from_flags(),
        model_dir=FLAGS.model_dir,
        fold_batch_norm=FLAGS.fold_batch_norm,
        agreement_images=FLAGS.agreement_images,
        settings=inference_flags.inference_settings_from_flags(),
        train_config=train_config,
        dataset_dir=FLAGS.dataset_dir_for_data,
        tflite_models=tuple(FLAGS.tflite_model),
        num_threads=FLAGS.num_threads,
    )


def main(argv):
    del argv
    config = benchmark_config_from_flags()
    if FLAGS.mode in ("inference", "multiscale", "runtimes") and FLAGS.assume_frozen_weights:
        cli.assume_frozen_weights()
    if FLAGS.mode == "runtimes":
        runtimes.limit_tensorflow_threads(FLAGS.num_threads)
    result = run_benchmark(FLAGS.mode, config)
    text = json.dumps(result, indent=2)
    print(text)
    if FLAGS.output:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
        with open(FLAGS.output, "w") as file:
            file.write(text + "\n")


if __name__ == "__main__":
    cli.run(main, flag_for_field={**model_flags.FLAG_FOR_FIELD, **train_flags.FLAG_FOR_FIELD, "format": "mode"})
