"""The timed workloads of tools.benchmark, one function per --mode."""

import os

import numpy as np
import tensorflow as tf

from deeplab_tf import benchmarking
from tools import model_flags
from tools.cli import UsageError


def _policy(flags_):
    import keras

    if flags_.mixed_precision != "none":
        keras.mixed_precision.set_global_policy(flags_.mixed_precision)


def _paired_timing(flags_, run, beside=None):
    """`run` timed in turns with the matmul of the run's precision (see `paired_utilization`)."""
    dtype = "bfloat16" if flags_.mixed_precision == "mixed_bfloat16" else "float32"
    return benchmarking.time_against_matmul(run, dtype=dtype, warmup=flags_.warmup, repeats=flags_.repeats,
                                            beside=beside)


def inference(flags_, input_size):
    """Forward pass of the network at a fixed size, inference mode, as tools.evaluate runs it.

    Under --mixed_precision the float32 network with the same weights runs in
    the same turns, giving the speed-up run by run and the two networks'
    argmax agreement (on --agreement_images, or on the timed input).
    """
    from deeplab_tf.profile import count_flops

    reference, config = _float32_network(flags_)
    # FLOPs of the network as published (BN counted), whichever form is timed.
    flops = count_flops(reference, input_size, flags_.batch_size)
    policies = ["float32"] + ([flags_.mixed_precision] if flags_.mixed_precision != "none" else [])
    networks = {policy: _as_evaluated(flags_, reference, policy) for policy in policies}
    forwards = {name: tf.function(lambda x, network=network: network(x, training=False),
                                  jit_compile=flags_.jit_compile)
                for name, network in networks.items()}
    images = tf.random.stateless_uniform((flags_.batch_size, *input_size, 3), (0, 1), 0, 255)
    timed = list(forwards)[-1]
    beside = {"float32": lambda: forwards["float32"](images).numpy()} if timed != "float32" else None
    timing = _paired_timing(flags_, lambda: forwards[timed](images).numpy(), beside=beside)
    result = {
        **_inference_facts(flags_, config),
        "flops": flops,
        "images_per_s": flags_.batch_size / timing["median_s"],
        **timing,
    }
    if beside:
        result["speedup_over_float32"] = benchmarking.paired_ratio(timing["beside"]["float32"]["times_s"],
                                                                   timing["times_s"])
        result.update(_argmax_agreement(forwards["float32"], forwards[timed], flags_.agreement_images, images))
    return result


def multiscale(flags_, input_size):
    """Multi-scale (+ flip) inference, as tools.evaluate runs it, beside one plain pass in the same turns.

    `flops` sums the network's FLOPs over every pass (each scale's own size,
    twice with flip); `cost_over_single_pass` (time, run by run) against
    `flops_over_single_pass` says whether the passes cost more than their work.
    """
    from deeplab_tf.evaluation.inference import InferenceSettings, predict_probabilities, scaled_size
    from deeplab_tf.profile import count_flops

    settings = InferenceSettings(scales=[float(v) for v in flags_.eval_scales], flip=flags_.flip)
    network, config = _float32_network(flags_)
    single_flops = count_flops(network, input_size, flags_.batch_size)
    flops = 0
    for scale in settings.scales:
        size = [int(v) for v in scaled_size(tf.constant(input_size), scale).numpy()]
        flops += count_flops(network, size, flags_.batch_size) * (2 if settings.flip else 1)
    policy = "float32" if flags_.mixed_precision == "none" else flags_.mixed_precision
    network = _as_evaluated(flags_, network, policy)
    images = tf.random.stateless_uniform((flags_.batch_size, *input_size, 3), (0, 1), 0, 255)
    passes = tf.function(lambda x: predict_probabilities(network, x, settings))
    single = tf.function(lambda x: predict_probabilities(network, x, InferenceSettings()))
    timing = _paired_timing(flags_, lambda: passes(images).numpy(), beside={"single_pass": lambda: single(images).numpy()})
    return {
        **_inference_facts(flags_, config),
        **settings.to_dict(),
        "num_passes": settings.num_passes,
        "flops": flops,
        "single_pass_flops": single_flops,
        "flops_over_single_pass": flops / single_flops,
        "cost_over_single_pass": benchmarking.paired_ratio(timing["times_s"], timing["beside"]["single_pass"]["times_s"]),
        "images_per_s": flags_.batch_size / timing["median_s"],
        **timing,
    }


def _float32_network(flags_):
    """(float32 network, its ModelConfig): trained weights from --model_dir, or random ones."""
    from deeplab_tf import model_dir as model_dir_lib
    from deeplab_tf.models import build_model

    if flags_.model_dir:
        network = model_dir_lib.load_model(flags_.model_dir, dtype_policy="float32")
        return network, network.model_config
    config = model_flags.model_config_from_flags()
    return build_model(config, dtype_policy="float32"), config


def _as_evaluated(flags_, network, policy):
    """`network`'s weights as tools.evaluate runs them: under `policy`, BN folded unless --nofold_batch_norm."""
    from deeplab_tf.batch_norm_folding import fold_batch_norms
    from deeplab_tf.models import rebuild

    if policy != network.dtype_policy.name:
        network = rebuild(network, dtype_policy=policy)
    return fold_batch_norms(network) if flags_.fold_batch_norm else network


def _inference_facts(flags_, config):
    return {
        "model_config": config.to_dict(),
        "model_dir": flags_.model_dir,
        "fold_batch_norm": flags_.fold_batch_norm,
        "assume_frozen_weights": os.environ.get("TF_ONEDNN_ASSUME_FROZEN_WEIGHTS") == "1",
    }


def _argmax_agreement(reference, other, pattern, timed_images):
    """Fraction of pixels whose argmax class the two forwards agree on."""
    import glob

    from PIL import Image

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


# tools.train's flags that change what one step computes (tools.benchmark defines them alike).
_TRAIN_STEP_FLAGS = ("optimizer", "momentum", "weight_decay", "last_layer_lr_multiplier",
                     "fine_tune_batch_norm", "upsample_logits")
_IGNORED_FRACTION = 0.1


def train(flags_, input_size):
    """One step of tools.train's training (forward, loss, backward, update) on random images and labels."""
    import keras

    from deeplab_tf.data.info import IGNORE_LABEL
    from deeplab_tf.models import build_model
    from deeplab_tf.profile import count_flops
    from deeplab_tf.training.config import TrainConfig
    from deeplab_tf.training.schedules import PolyLearningRate
    from deeplab_tf.training.step import TrainStep, configure_batch_norm, make_optimizer

    _policy(flags_)
    model_config = model_flags.model_config_from_flags()
    train_config = TrainConfig(
        dataset_dir="(random tensors)",  # required, but nothing is read
        batch_size=flags_.batch_size,
        crop_size=input_size,
        mixed_precision=flags_.mixed_precision,
        jit_compile=flags_.jit_compile,
        **{name: flags_[name].value for name in _TRAIN_STEP_FLAGS},
    )
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
    replica_step = train_step.make_replica_step(flags_.jit_compile)

    @tf.function
    def step(images, labels):
        loss = replica_step(images, labels)[0]
        global_step.assign_add(1)
        return loss

    images, labels = _random_batch(flags_.batch_size, input_size, model_config.num_classes, IGNORE_LABEL)
    timing = _paired_timing(flags_, lambda: step(images, labels).numpy())
    forward_flops = count_flops(model, input_size, flags_.batch_size)
    return {
        "model_config": model_config.to_dict(),
        "train_step": {name: flags_[name].value for name in _TRAIN_STEP_FLAGS},
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
        "images_per_s": flags_.batch_size / timing["median_s"],
        **timing,
    }


def _random_batch(batch_size, input_size, num_classes, ignore_label):
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
    from deeplab_tf.profile import graph_flops

    function = tf.function(lambda x, y: train_step.gradients(x, *train_step.loss_labels(y)))
    concrete = function.get_concrete_function(tf.TensorSpec.from_tensor(images), tf.TensorSpec.from_tensor(labels))
    return graph_flops(concrete.graph)


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


MODES = {"inference": inference, "multiscale": multiscale, "train": train, "data": data, "crf": crf, "tflite": tflite}
