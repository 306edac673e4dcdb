"""The timed workloads of tools.benchmark, one function per --mode, each taking a `BenchmarkConfig`.

`run_benchmark(mode, config)` is the whole of one tools.benchmark run (machine
facts, matmul rates, the mode's timing, utilisation) without flags, so a test
runs it in-process on a tiny model with a small matmul.
"""

import dataclasses
import glob
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from PIL import Image
from scipy import ndimage

from deeplab_tf import benchmarking
from deeplab_tf import data as data_lib
from deeplab_tf import model_dir as model_dir_lib
from deeplab_tf.batch_norm_folding import fold_batch_norms
from deeplab_tf.config import ModelConfig
from deeplab_tf.label_space import IGNORE_LABEL
from deeplab_tf.data.synthetic import generate_dataset, render_example
from deeplab_tf.export import graph_summary, measure_latencies
from deeplab_tf.inference import PAPER_EVAL_SCALES, InferenceSettings, predict_probabilities, scaled_size
from deeplab_tf.models import build_model, rebuild
from deeplab_tf.postprocess import dense_crf
from deeplab_tf.profile import count_flops, graph_flops
from deeplab_tf.training.config import TrainConfig
from deeplab_tf.schedules import PolyLearningRate
from deeplab_tf.training.step import TrainStep, configure_batch_norm, make_optimizer
from tools.cli import UsageError


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
    """What one benchmark run times; tools.benchmark builds it from its flags, a test builds it directly.

    Args:
        input_size: (height, width) of the input (or training crop).
        batch_size: images per step.
        dtype_policy: Keras dtype policy of the timed network.
        jit_compile: XLA-compile the timed function.
        warmup, repeats: untimed runs, then timed runs.
        matmul_size: the size³ matmul every timed run is paired with, and whose
            rate `run_benchmark` measures.
        model_config: the network (random weights) when `model_dir` is None.
        model_dir: inference modes: a trained model directory instead.
        fold_batch_norm: inference modes: BN folded into the convolutions, as tools.evaluate.
        agreement_images: inference mode: a glob of images for the argmax agreement with float32.
        settings: multiscale mode: the test-time passes.
        train_config: train mode: the step's settings (`batch_size`, `crop_size`,
            `mixed_precision` and `jit_compile` are this config's).
        dataset_dir: data mode: a generated dataset (None: generate one).
        tflite_models: tflite mode: the .tflite files, timed in the same turns.
    """

    input_size: tuple = (513, 513)
    batch_size: int = 1
    dtype_policy: str = "float32"
    jit_compile: bool = False
    warmup: int = 2
    repeats: int = 5
    matmul_size: int = 4096
    model_config: ModelConfig = None
    model_dir: str = None
    fold_batch_norm: bool = True
    agreement_images: str = None
    settings: InferenceSettings = InferenceSettings(scales=PAPER_EVAL_SCALES, flip=True)
    train_config: TrainConfig = None
    dataset_dir: str = None
    tflite_models: tuple = ()


def _paired_timing(config, run, beside=None):
    """`run` timed in turns with the matmul of the run's precision (see `paired_utilization`)."""
    dtype = "bfloat16" if config.dtype_policy == "mixed_bfloat16" else "float32"
    return benchmarking.time_against_matmul(run, dtype=dtype, warmup=config.warmup, repeats=config.repeats,
                                            size=config.matmul_size, beside=beside)


def inference(config):
    """Forward pass of the network at a fixed size, inference mode, as tools.evaluate runs it.

    Under a mixed `dtype_policy` the float32 network with the same weights runs in
    the same turns, giving the speed-up run by run and the two networks'
    argmax agreement (on --agreement_images, or on the timed input).
    """

    reference, model_config = _float32_network(config)
    # FLOPs of the network as published (BN counted), whichever form is timed.
    flops = count_flops(reference, config.input_size, config.batch_size)
    policies = ["float32"] + ([config.dtype_policy] if config.dtype_policy != "float32" else [])
    networks = {policy: _as_evaluated(config, reference, policy) for policy in policies}
    forwards = {name: tf.function(lambda x, network=network: network(x, training=False),
                                  jit_compile=config.jit_compile)
                for name, network in networks.items()}
    images = tf.random.stateless_uniform((config.batch_size, *config.input_size, 3), (0, 1), 0, 255)
    timed = list(forwards)[-1]
    beside = {"float32": lambda: forwards["float32"](images).numpy()} if timed != "float32" else None
    timing = _paired_timing(config, lambda: forwards[timed](images).numpy(), beside=beside)
    result = {
        **_inference_facts(config, model_config),
        "flops": flops,
        "images_per_s": config.batch_size / timing["median_s"],
        **timing,
    }
    if beside:
        result["speedup_over_float32"] = benchmarking.paired_ratio(timing["beside"]["float32"]["times_s"],
                                                                   timing["times_s"])
        result.update(_argmax_agreement(forwards["float32"], forwards[timed], config.agreement_images, images))
    return result


def multiscale(config):
    """Multi-scale (+ flip) inference, as tools.evaluate runs it, beside one plain pass in the same turns.

    `flops` sums the network's FLOPs over every pass (each scale's own size,
    twice with flip); `cost_over_single_pass` (time, run by run) against
    `flops_over_single_pass` says whether the passes cost more than their work.
    """

    settings = config.settings
    network, model_config = _float32_network(config)
    single_flops = count_flops(network, config.input_size, config.batch_size)
    flops = 0
    for scale in settings.scales:
        size = [int(v) for v in scaled_size(tf.constant(config.input_size), scale).numpy()]
        flops += count_flops(network, size, config.batch_size) * (2 if settings.flip else 1)
    network = _as_evaluated(config, network, config.dtype_policy)
    images = tf.random.stateless_uniform((config.batch_size, *config.input_size, 3), (0, 1), 0, 255)
    passes = tf.function(lambda x: predict_probabilities(network, x, settings))
    single = tf.function(lambda x: predict_probabilities(network, x, InferenceSettings()))
    timing = _paired_timing(config, lambda: passes(images).numpy(), beside={"single_pass": lambda: single(images).numpy()})
    return {
        **_inference_facts(config, model_config),
        **settings.to_dict(),
        "num_passes": settings.num_passes,
        "flops": flops,
        "single_pass_flops": single_flops,
        "flops_over_single_pass": flops / single_flops,
        "cost_over_single_pass": benchmarking.paired_ratio(timing["times_s"], timing["beside"]["single_pass"]["times_s"]),
        "images_per_s": config.batch_size / timing["median_s"],
        **timing,
    }


def _float32_network(config):
    """(float32 network, its ModelConfig): trained weights from `model_dir`, or random ones."""
    if config.model_dir:
        network = model_dir_lib.load_model(config.model_dir, dtype_policy="float32")
        return network, network.model_config
    return build_model(config.model_config, dtype_policy="float32"), config.model_config


def _as_evaluated(config, network, policy):
    """`network`'s weights as tools.evaluate runs them: under `policy`, BN folded unless told not to."""
    if policy != network.dtype_policy.name:
        network = rebuild(network, dtype_policy=policy)
    return fold_batch_norms(network) if config.fold_batch_norm else network


def _inference_facts(config, model_config):
    return {
        "model_config": model_config.to_dict(),
        "model_dir": config.model_dir,
        "fold_batch_norm": config.fold_batch_norm,
        "assume_frozen_weights": os.environ.get("TF_ONEDNN_ASSUME_FROZEN_WEIGHTS") == "1",
    }


def _argmax_agreement(reference, other, pattern, timed_images):
    """Fraction of pixels whose argmax class the two forwards agree on."""
    if pattern:
        paths = sorted(glob.glob(pattern))
        if not paths:
            raise UsageError(f"--agreement_images: no file matches {pattern}")
        batches = [np.asarray(Image.open(path).convert("RGB"), np.float32)[None] for path in paths]
    else:
        paths, batches = [], [timed_images]
    agree = total = 0
    for batch in batches:
        expected = tf.argmax(reference(batch), axis=-1)
        actual = tf.argmax(tf.cast(other(batch), tf.float32), axis=-1)
        agree += int(tf.reduce_sum(tf.cast(expected == actual, tf.int64)))
        total += int(tf.size(expected))
    return {"argmax_agreement_with_float32": agree / total,
            "agreement_on": f"{len(paths)} images matching {pattern}" if paths else "the timed random input"}


# The TrainConfig fields that change what one step computes, reported with the result.
_TRAIN_STEP_FIELDS = ("optimizer", "momentum", "weight_decay", "last_layer_lr_multiplier",
                      "fine_tune_batch_norm", "upsample_logits")
_IGNORED_FRACTION = 0.1


def train(config):
    """One step of tools.train's training (forward, loss, backward, update) on random images and labels."""
    model_config = config.model_config
    train_config = dataclasses.replace(
        config.train_config or TrainConfig(dataset_dir="(random tensors)"),  # required, but nothing is read
        batch_size=config.batch_size, crop_size=tuple(config.input_size),
        mixed_precision=config.dtype_policy, jit_compile=config.jit_compile,
    )
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.dtype_policy)
    try:
        return _time_train_step(config, model_config, train_config)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _time_train_step(config, model_config, train_config):
    keras.utils.set_random_seed(0)
    model = build_model(model_config)
    configure_batch_norm(model, train_config)
    # As Trainer: the poly rate follows a step counter the timed function advances.
    global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    schedule = PolyLearningRate(train_config.base_learning_rate, train_config.train_steps,
                                train_config.learning_power)
    optimizer = make_optimizer(train_config, lambda: schedule(global_step))
    optimizer.build(model.trainable_variables)
    train_step = TrainStep(model, model_config, train_config, optimizer, ignore_label=IGNORE_LABEL)
    replica_step = train_step.make_replica_step(config.jit_compile)

    @tf.function
    def step(images, labels):
        loss = replica_step(images, labels)[0]
        global_step.assign_add(1)
        return loss

    images, labels = random_batch(config.batch_size, config.input_size, model_config.num_classes, IGNORE_LABEL)
    timing = _paired_timing(config, lambda: step(images, labels).numpy())
    forward_flops = count_flops(model, config.input_size, config.batch_size)
    return {
        "model_config": model_config.to_dict(),
        "train_step": {name: getattr(train_config, name) for name in _TRAIN_STEP_FIELDS},
        "params": int(model.count_params()),
        "trainable_params": int(sum(np.prod(v.shape) for v in train_step.trainable_variables)),
        "ignored_label_fraction": _IGNORED_FRACTION,
        "flops": _gradient_flops(train_step, images, labels),
        "forward_flops": forward_flops,
        "flops_note": "flops: counted by TF's graph profiler on the traced loss-and-gradient graph of one "
                      "step (training-mode forward, loss, weight decay, backward; a multiply-add counts 2), not "
                      "estimated as 3x forward. Left out: the optimiser update (a few FLOPs a parameter) and "
                      "ops the profiler has no count for (resizes); counted though TF prunes it at run time: "
                      "the first convolution's image gradient (<0.2% of a ResNet-101 step). "
                      "forward_flops: deeplab_tf.profile."
                      "count_flops (inference-mode forward) at this batch and crop, for comparison.",
        "images_per_s": config.batch_size / timing["median_s"],
        **timing,
    }


def random_batch(batch_size, input_size, num_classes, ignore_label):
    """Random images in [0, 255) and random labels, a tenth of them `ignore_label`."""
    shape = (batch_size, *input_size)
    images = tf.random.stateless_uniform((*shape, 3), (0, 1), 0, 255)
    labels = tf.random.stateless_uniform(shape, (0, 2), 0, num_classes, dtype=tf.int32)
    ignored = tf.random.stateless_uniform(shape, (0, 3)) < _IGNORED_FRACTION
    return images, tf.where(ignored, ignore_label, labels)


def _gradient_flops(train_step, images, labels):
    """FLOPs of `train_step`'s loss and gradients for this batch, from TF's graph profiler.

    Profiled on the traced graph itself, where every shape is static at a fixed
    batch and crop: it cannot be frozen as `count_flops` does, because training
    mode assigns variables (BN moving averages, the dropout seed).
    """

    function = tf.function(lambda x, y: train_step.gradients(x, *train_step.loss_labels(y)))
    concrete = function.get_concrete_function(tf.TensorSpec.from_tensor(images), tf.TensorSpec.from_tensor(labels))
    return graph_flops(concrete.graph)


def data(config):
    """Decode + augmentation + batching throughput of the training input pipeline."""
    dataset_dir = config.dataset_dir
    if dataset_dir is None:
        # Generated images at the crop size, so the scale augmentation does real work.
        dataset_dir = tempfile.mkdtemp(prefix="deeplab_bench_data_")
        generate_dataset(dataset_dir, num_train=64, num_val=1, image_size=max(config.input_size), seed=0)
    examples = data_lib.read_split("synthetic", dataset_dir, "train", shuffle_files=True, seed=0)
    pipeline = data_lib.train_pipeline(examples, crop_size=config.input_size, batch_size=config.batch_size, seed=0)
    iterator = iter(pipeline)
    batches = 10

    def run():
        for _ in range(batches):
            next(iterator)[0].numpy()

    timing = benchmarking.time_runs(run, warmup=1, repeats=config.repeats)
    return {"dataset_dir": dataset_dir, "batches_per_run": batches,
            "images_per_s": batches * config.batch_size / timing["median_s"], **timing}


def crf(config):
    """Dense CRF time per image for both backends, in turns (10 iterations, the model's number of classes).

    Two inputs: uniform noise with random logits (the top-level figures), the worst
    case for the lattice (a vertex per pixel corner, so the TF backend composes
    its bilateral filtering into one matrix), and a generated scene with logits
    that blur its labels (`scene`), whose lattice is small and shared by many
    pixels, as a photograph's is. The backends run one after the other in every
    turn, so a busy machine slows both alike; `tf_over_pydensecrf` is the median
    over turns of their ratio. With `batch_size` B > 1 the TF backend also refines
    B noise images in one call in the same turns (`tf_batch`, times per image, and
    `batch_over_single`).
    """
    rng = np.random.default_rng(0)
    batch = config.batch_size
    images = rng.integers(0, 256, (batch, *config.input_size, 3), dtype=np.uint8)
    num_classes = config.model_config.num_classes
    logits = rng.normal(size=(batch, *config.input_size, num_classes)).astype(np.float32)
    scene_image, scene_logits = _crf_scene(*config.input_size, num_classes, rng)
    runs = {}
    for backend in ("tf", "pydensecrf"):
        runs[backend] = lambda backend=backend: dense_crf(images[0], logits[0], backend=backend)
        runs[f"scene_{backend}"] = lambda backend=backend: dense_crf(scene_image, scene_logits, backend=backend)
    if batch > 1:
        runs["tf_batch"] = lambda: dense_crf(images, logits)
    for _ in range(config.warmup):
        for run in runs.values():
            run()
    times = {name: [] for name in runs}
    for _ in range(config.repeats):
        for name, run in runs.items():
            seconds = benchmarking.time_runs(run, warmup=0, repeats=1)["median_s"]
            times[name].append(seconds / batch if name == "tf_batch" else seconds)
    summaries = {name: {"median_s": float(np.median(values)), "min_s": min(values), "max_s": max(values),
                        "times_s": values} for name, values in times.items()}
    result = {"num_classes": num_classes, "batch_size": batch,
              **{name: summaries[name] for name in ("tf", "pydensecrf", "tf_batch") if name in summaries}}
    result.update(result["tf"])
    result["tf_over_pydensecrf"] = benchmarking.paired_ratio(times["tf"], times["pydensecrf"])
    result["scene"] = {"tf": summaries["scene_tf"], "pydensecrf": summaries["scene_pydensecrf"],
                       "tf_over_pydensecrf": benchmarking.paired_ratio(times["scene_tf"], times["scene_pydensecrf"])}
    if batch > 1:
        result["batch_over_single"] = benchmarking.paired_ratio(times["tf_batch"], times["tf"])
    return result


def _crf_scene(height, width, num_classes, rng):
    """A generated scene, and logits that blur its labels as an upsampled network output does."""
    image, label, _ = render_example(np.random.default_rng(1), max(height, width))
    image, label = image[:height, :width], label[:height, :width]
    one_hot = np.eye(num_classes, dtype=np.float32)[np.where(label == IGNORE_LABEL, 0, label) % num_classes]
    blurred = ndimage.gaussian_filter(one_hot, sigma=(4, 4, 0))
    return image, (4.0 * blurred + rng.normal(0, 0.5, blurred.shape)).astype(np.float32)


def tflite(config):
    """LiteRT latency (XNNPACK, 2 threads), file size and operators of converted models, timed in turns.

    With several models, each model's `speedup` is the median over turns of
    (the reference's time ÷ its time), the reference being the first model listed
    at the same input size: list float32 R-101 first, then int8 MobileNetV2, to
    read how many times faster the mobile model runs. The top level holds the
    first model's timing, so one model gives what it always gave.
    """
    if not config.tflite_models:
        raise UsageError("--tflite_model: required with --mode=tflite")
    results = measure_latencies(config.tflite_models, num_threads=2, warmup_runs=config.warmup,
                                timed_runs=max(config.repeats, 10))
    references = {}
    for result in results:
        reference = references.setdefault(tuple(result["input_size"]), result)
        result["speedup_reference"] = reference["tflite"]
        result["speedup"] = benchmarking.paired_ratio(reference["times_s"], result["times_s"])
        with open(result["tflite"], "rb") as file:
            graph = graph_summary(file.read())
        result["operators"] = graph["operators"]
        result["gpu_delegate_unsupported"] = graph["gpu_delegate_unsupported"]
    return {**results[0], "models": results} if len(results) > 1 else results[0]


def run_benchmark(mode, config):
    """One benchmark run: the JSON-ready dict tools.benchmark prints and writes.

    The machine's facts and its float32 and bfloat16 matmul rates, the mode's
    own timing (a `MODES` function of `config`), and, for a mode that counts
    FLOPs, `flops_per_s`, `utilization_vs_best_matmul` and `utilization` (the
    median over the mode's (run, matmul) pairs where it pairs them).
    """
    result = {
        "mode": mode,
        "input_size": list(config.input_size),
        "batch_size": config.batch_size,
        "mixed_precision": config.dtype_policy,
        "jit_compile": config.jit_compile,
        "machine": benchmarking.machine_facts(),
    }
    logging.info("measuring the machine's matmul rate")
    best32, _ = benchmarking.matmul_flops_per_second("float32", size=config.matmul_size)
    best16, _ = benchmarking.matmul_flops_per_second("bfloat16", size=config.matmul_size)
    result["matmul_flops_per_s_float32"] = best32
    result["matmul_flops_per_s_bfloat16"] = best16
    result["matmul_flops_per_s"] = best16 if config.dtype_policy == "mixed_bfloat16" else best32

    logging.info("timing mode %s", mode)
    result.update(MODES[mode](config))
    if result.get("flops"):
        result["flops_per_s"] = result["flops"] / result["median_s"]
        result["utilization_vs_best_matmul"] = result["flops_per_s"] / result["matmul_flops_per_s"]
        result["utilization"] = (benchmarking.paired_utilization(result["flops"], result) if "matmul_s" in result
                                 else result["utilization_vs_best_matmul"])
    return result


MODES = {"inference": inference, "multiscale": multiscale, "train": train, "data": data, "crf": crf, "tflite": tflite}
