"""The timed workloads of tools.benchmark, one function per --mode."""

import numpy as np
import tensorflow as tf

from deeplab_tf import benchmarking
from tools import model_flags
from tools.cli import UsageError


def _policy(flags_):
    import keras

    if flags_.mixed_precision != "none":
        keras.mixed_precision.set_global_policy(flags_.mixed_precision)


def inference(flags_, input_size):
    """Forward pass of the network at a fixed size, inference mode."""
    from deeplab_tf.models import build_model
    from deeplab_tf.profile import count_flops

    _policy(flags_)
    config = model_flags.model_config_from_flags()
    model = build_model(config)
    images = tf.random.stateless_uniform((flags_.batch_size, *input_size, 3), (0, 1), 0, 255)
    forward = tf.function(lambda x: model(x, training=False), jit_compile=flags_.jit_compile)
    timing = benchmarking.time_runs(lambda: forward(images).numpy(), warmup=flags_.warmup, repeats=flags_.repeats)
    flops = count_flops(model, input_size, flags_.batch_size)
    return {
        "model_config": config.to_dict(),
        "flops": flops,
        "images_per_s": flags_.batch_size / timing["median_s"],
        **timing,
    }


def data(flags_, input_size):
    """Decode + augmentation + batching throughput of the training input pipeline."""
    import tempfile

    from deeplab_tf import data as data_lib
    from deeplab_tf.data.synthetic import generate_dataset

    dataset_dir = flags_.dataset_dir_for_data
    if dataset_dir is None:
        # Generated images at the crop size, so the scale augmentation does real work.
        dataset_dir = tempfile.mkdtemp(prefix="deeplab_bench_data_")
        generate_dataset(dataset_dir, num_train=64, num_val=1, image_size=max(input_size), seed=0)
    examples = data_lib.read_split("synthetic", dataset_dir, "train", shuffle_files=True, seed=0)
    pipeline = data_lib.train_pipeline(examples, crop_size=input_size, batch_size=flags_.batch_size, seed=0)
    iterator = iter(pipeline)
    batches = 10

    def run():
        for _ in range(batches):
            next(iterator)[0].numpy()

    timing = benchmarking.time_runs(run, warmup=1, repeats=flags_.repeats)
    return {"dataset_dir": dataset_dir, "batches_per_run": batches,
            "images_per_s": batches * flags_.batch_size / timing["median_s"], **timing}


def crf(flags_, input_size):
    """Dense CRF time per image for both backends (10 iterations, --num_classes classes)."""
    from deeplab_tf.postprocess import dense_crf

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*input_size, 3), dtype=np.uint8)
    logits = rng.normal(size=(*input_size, flags_.num_classes)).astype(np.float32)
    result = {"num_classes": flags_.num_classes}
    for backend in ("tf", "pydensecrf"):
        timing = benchmarking.time_runs(lambda: dense_crf(image, logits, backend=backend),
                                        warmup=flags_.warmup, repeats=flags_.repeats)
        result[backend] = timing
    result.update(result["tf"])
    result["tf_over_pydensecrf"] = result["tf"]["median_s"] / result["pydensecrf"]["median_s"]
    return result


def tflite(flags_, input_size):
    """LiteRT latency (XNNPACK, 2 threads) and file size of a converted model."""
    from deeplab_tf.export.litert import measure_latency

    if not flags_.tflite_model:
        raise UsageError("--tflite_model: required with --mode=tflite")
    return measure_latency(flags_.tflite_model, num_threads=2, warmup_runs=flags_.warmup,
                           timed_runs=max(flags_.repeats, 10))


MODES = {"inference": inference, "data": data, "crf": crf, "tflite": tflite}
