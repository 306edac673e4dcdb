"""Times DeepLab's parts on this machine and writes JSON with FLOP utilisation.

    python -m tools.benchmark --flagfile=flags/voc_v3_os16.flags --mode=inference \
        --input_size=513 --batch_size=1 --output=runs/bench/v3_os16.json
    python -m tools.benchmark --flagfile=flags/voc_v3_os16.flags --mode=train \
        --input_size=513 --batch_size=4 --output=runs/bench/v3_os16_train.json

Every mode measures the machine's own 4096³ matmul rate in the same run, so that
speeds are also given as a ratio (model FLOP/s ÷ matmul FLOP/s) that survives a
busy, shared machine better than absolute times. The inference and train modes
time each run right after a matmul of the same precision, and `utilization` is the
median over those pairs; `utilization_vs_best_matmul` divides by the best matmul
of the run instead.

Inference runs the network as tools.evaluate does: BatchNormalization folded
into the convolutions and oneDNN's reordered weights kept between calls
(`--nofold_batch_norm` and `--noassume_frozen_weights` time without them).
"""

import json
import os

from absl import flags, logging

from tools import cli, model_flags

from deeplab_tf.training.config import OPTIMIZERS, TrainConfig

flags.DEFINE_enum("mode", "inference", ["inference", "multiscale", "train", "data", "crf", "tflite"], "What to time.")
flags.DEFINE_list("input_size", ["513"], "Input (or crop) height[,width].")
flags.DEFINE_integer("batch_size", 1, "Images per step.")
flags.DEFINE_enum("mixed_precision", "none", ["none", "mixed_bfloat16", "mixed_float16"], "Keras dtype policy.")
flags.DEFINE_bool("jit_compile", False, "Compile the timed function with XLA.")
flags.DEFINE_integer("repeats", 5, "Timed runs after warm-up.")
flags.DEFINE_integer("warmup", 2, "Untimed runs first.")
flags.DEFINE_string("output", None, "Where to write the JSON (also printed).")
flags.DEFINE_string("dataset_dir_for_data", None, "data mode: a generated dataset (default: generate one).")
flags.DEFINE_string("tflite_model", None, "tflite mode: the .tflite file to time.")
flags.DEFINE_bool("fold_batch_norm", True, "inference modes: fold BN into the convolutions, as tools.evaluate.")
# evaluate's names for the test-time passes, so that its command lines carry over.
flags.DEFINE_list("eval_scales", ["0.5", "0.75", "1.0", "1.25", "1.5", "1.75"],
                  "multiscale mode: image scales (default: the v3 paper's).")
flags.DEFINE_bool("flip", True, "multiscale mode: also the left-right flipped image at every scale.")
flags.DEFINE_string("model_dir", None, "inference modes: time a trained model (its config and weights) "
                    "instead of random weights from the model flags.")
flags.DEFINE_string("agreement_images", None, "inference mode with --mixed_precision: a glob of JPEG/PNG "
                    "images on which to measure argmax agreement with float32 (default: the timed input).")
flags.DEFINE_bool("assume_frozen_weights", True,
                  "inference modes: let oneDNN keep reordered weights between calls, as tools.evaluate.")
# The train mode's step settings, under tools.train's names and defaults (the v3 paper's), so that a
# recipe flagfile sets both alike. tools.train cannot be imported here: it defines --batch_size,
# --mixed_precision and --jit_compile as well, and absl refuses a flag defined twice.
flags.DEFINE_enum("optimizer", TrainConfig.optimizer, list(OPTIMIZERS), "train mode: as tools.train.")
flags.DEFINE_float("momentum", TrainConfig.momentum, "train mode: as tools.train.")
flags.DEFINE_float("weight_decay", TrainConfig.weight_decay, "train mode: as tools.train.")
flags.DEFINE_float("last_layer_lr_multiplier", TrainConfig.last_layer_lr_multiplier, "train mode: as tools.train.")
flags.DEFINE_bool("fine_tune_batch_norm", TrainConfig.fine_tune_batch_norm, "train mode: as tools.train.")
flags.DEFINE_bool("upsample_logits", TrainConfig.upsample_logits, "train mode: as tools.train.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    if FLAGS.batch_size < 1:
        raise cli.UsageError(f"--batch_size: must be positive, got {FLAGS.batch_size}")
    input_size = cli.parse_size("input_size", FLAGS.input_size)
    if FLAGS.mode in ("inference", "multiscale") and FLAGS.assume_frozen_weights:
        cli.assume_frozen_weights()
    from deeplab_tf import benchmarking
    from tools.benchmark_modes import MODES

    result = {
        "mode": FLAGS.mode,
        "input_size": list(input_size),
        "batch_size": FLAGS.batch_size,
        "mixed_precision": FLAGS.mixed_precision,
        "jit_compile": FLAGS.jit_compile,
        "machine": benchmarking.machine_facts(),
    }
    logging.info("measuring the machine's matmul rate")
    best32, median32 = benchmarking.matmul_flops_per_second("float32")
    best16, median16 = benchmarking.matmul_flops_per_second("bfloat16")
    result["matmul_flops_per_s_float32"] = best32
    result["matmul_flops_per_s_bfloat16"] = best16
    result["matmul_flops_per_s"] = best16 if FLAGS.mixed_precision == "mixed_bfloat16" else best32

    logging.info("timing mode %s", FLAGS.mode)
    result.update(MODES[FLAGS.mode](FLAGS, input_size))
    if result.get("flops"):
        result["flops_per_s"] = result["flops"] / result["median_s"]
        result["utilization_vs_best_matmul"] = result["flops_per_s"] / result["matmul_flops_per_s"]
        result["utilization"] = (benchmarking.paired_utilization(result["flops"], result) if "matmul_s" in result
                                 else result["utilization_vs_best_matmul"])
    text = json.dumps(result, indent=2)
    print(text)
    if FLAGS.output:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
        with open(FLAGS.output, "w") as file:
            file.write(text + "\n")


if __name__ == "__main__":
    cli.run(main, flag_for_field=model_flags.FLAG_FOR_FIELD)
