"""The sections of tools.gpu_check: the device, correctness against a reference device, and speed.

Each section is a generator of rows (JSON-ready dicts) from a `CheckSettings`.
tools.gpu_check runs each section in a process of its own and writes the rows as
they come, so a section cut short by its timeout keeps the rows it finished.

A correctness row runs one path of the project on `settings.device` and the plain
path on `settings.reference_device` (the CPU), on the same weights and inputs in
the same process, and has `passed`. Its `difference` is max |candidate − reference|
÷ max |reference| over the compared tensor (logits, probabilities, one step's
weight update), and `agreement` the fraction of pixels with the same argmax class.
On the CPU (`--smoke`) the device and the reference are the same, so only rows
whose path differs from the plain one (XLA, BN folded, mixed precision, the
SavedModel, pydensecrf) compare two computations; on a GPU every row does.

The correctness sections turn TensorFloat-32 off: with it (TensorFlow's default
on Ampere and later GPUs) float32 convolutions round their inputs to 10 mantissa
bits, and no 1e-3 check survives 101 layers of that. The speed sections leave
TensorFlow's default, which is what training and evaluation run with.
"""

import dataclasses
import shutil
import subprocess
import tempfile

import keras
import numpy as np
import tensorflow as tf

from deeplab_tf import benchmarking
from deeplab_tf.batch_norm_folding import fold_batch_norms
from deeplab_tf.config import ModelConfig
from deeplab_tf.label_space import IGNORE_LABEL
from deeplab_tf.export import export_saved_model, load_serving_signature
from deeplab_tf.inference import INPUT_NAME
from deeplab_tf.models import build_model
from deeplab_tf.postprocess import CRFParams, dense_crf, dense_crf_tf
from deeplab_tf.training.config import TrainConfig
from deeplab_tf.training.step import TrainStep, configure_batch_norm, make_optimizer
from tools.benchmark_modes import BenchmarkConfig, random_batch, run_benchmark

# A loss scale whose scaled gradients overflow float16 (largest finite: 65504) in any network.
_OVERFLOWING_SCALE = 2.0**40
# Halvings of Keras' initial loss scale (2^15) allowed before a mixed_float16 step must apply.
_MAX_SKIPPED_STEPS = 8


@dataclasses.dataclass(frozen=True)
class CheckSettings:
    """What tools.gpu_check checks and times; the tool builds it from its flags (`--smoke` a small one).

    Args:
        model_config: the network (the correctness sections set its dropout to 0,
            since two paths draw different masks).
        device: the device under test, e.g. "/GPU:0".
        reference_device: the device the plain path runs on.
        input_size: (height, width) of the correctness checks' images and crops.
        batch_size: images of the training-step checks.
        tolerance: float32 rows: the largest `difference` that passes.
        mixed_tolerance: mixed-precision rows (against float32): the same.
        min_agreement: the smallest argmax agreement that passes.
        speed_input_size: (height, width) of the speed sections.
        train_batch_sizes: the training speed's batches.
        speed_policies: the dtype policies timed.
        warmup, repeats, matmul_size: as `tools.benchmark_modes.BenchmarkConfig`.
    """

    model_config: ModelConfig
    device: str
    reference_device: str = "/CPU:0"
    input_size: tuple = (129, 129)
    batch_size: int = 2
    tolerance: float = 1e-3
    mixed_tolerance: float = 0.1
    min_agreement: float = 0.999
    speed_input_size: tuple = (513, 513)
    train_batch_sizes: tuple = (8, 16)
    speed_policies: tuple = ("float32", "mixed_float16")
    warmup: int = 2
    repeats: int = 5
    matmul_size: int = 4096

    @property
    def on_gpu(self):
        return "GPU" in self.device.upper()

    def to_dict(self):
        values = dataclasses.asdict(self)
        values["model_config"] = self.model_config.to_dict()
        return values


# --- The device -------------------------------------------------------------------------------------------

def device(settings):
    """What TensorFlow (and nvidia-smi, where there is one) says about the machine and its GPUs."""
    build = tf.sysconfig.get_build_info()
    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capability = details.get("compute_capability")
        gpus.append({"device": gpu.name, "name": details.get("device_name", gpu.name),
                     "compute_capability": ".".join(map(str, capability)) if capability else None})
    yield {
        "device_under_test": settings.device,
        "reference_device": settings.reference_device,
        "gpus": gpus,
        "nvidia_smi": _nvidia_smi(),
        "cuda_build": bool(build.get("is_cuda_build")),
        "cuda_version": build.get("cuda_version"),
        "cudnn_version": build.get("cudnn_version"),
        "machine": benchmarking.machine_facts(),
        "note": None if gpus else "no GPU is visible to TensorFlow: every section ran on the CPU",
    }


def _nvidia_smi():
    """Name, memory and driver of each GPU from nvidia-smi (TensorFlow reports neither memory nor driver)."""
    if not shutil.which("nvidia-smi"):
        return None
    query = ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]
    try:
        lines = subprocess.run(query, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as error:
        return {"error": str(error)}
    fields = ("name", "memory_total", "driver_version")
    return [dict(zip(fields, (v.strip() for v in line.split(",")))) for line in lines.strip().splitlines()]


# --- Correctness ------------------------------------------------------------------------------------------

def _compare(name, settings, candidate, reference, tolerance, classes=True, norm="max", **facts):
    """A correctness row: `difference` of `candidate` from `reference` and, for class scores, argmax agreement.

    `norm="max"`: max |Δ| ÷ max |reference|, for logits and probabilities;
    `"l2"`: ‖Δ‖₂ ÷ ‖reference‖₂, for a weight update, whose single elements may
    cancel to nearly nothing and so differ by more than their size.
    """
    candidate = np.asarray(candidate, np.float64)
    reference = np.asarray(reference, np.float64)
    measure = np.max if norm == "max" else np.linalg.norm
    scale = measure(np.abs(reference))
    difference = float(measure(np.abs(candidate - reference)) / scale) if scale > 0 else float("inf")
    row = {"check": name, "device": settings.device, "reference_device": settings.reference_device,
           "difference": difference, "norm": norm, "tolerance": tolerance, **facts}
    passed = bool(np.all(np.isfinite(candidate))) and difference <= tolerance
    if classes:
        row["agreement"] = float(np.mean(candidate.argmax(-1) == reference.argmax(-1)))
        row["min_agreement"] = settings.min_agreement
        passed = passed and row["agreement"] >= settings.min_agreement
    row["passed"] = passed
    return row


def _check_config(settings):
    return dataclasses.replace(settings.model_config, dropout_rate=0.0)


def _random_images(settings, batch_size=1):
    """uint8-valued float32 RGB images made on the reference device, fed alike to both paths."""
    with tf.device(settings.reference_device):
        images = tf.random.stateless_uniform((batch_size, *settings.input_size, 3), (7, 0), 0, 256, tf.int32)
        return tf.cast(images, tf.float32)


def _seeded_weights(config):
    """The network's seeded initial weights, drawn on the CPU so every device gets the same numbers."""
    keras.utils.set_random_seed(0)
    with tf.device("/CPU:0"):
        return build_model(config).get_weights()


def _network_on(device_name, config, weights, policy="float32"):
    with tf.device(device_name):
        network = build_model(config, dtype_policy=policy)
        network.set_weights(weights)
        return network


def _logits(device_name, network, images, jit_compile=False):
    with tf.device(device_name):
        forward = tf.function(lambda x: network(x, training=False), jit_compile=jit_compile)
        return tf.cast(forward(images), tf.float32).numpy()


def forward(settings):
    """The network's inference-mode logits on the device (plain, XLA, BN folded) against the plain reference."""
    tf.config.experimental.enable_tensor_float_32_execution(False)
    config = _check_config(settings)
    weights = _seeded_weights(config)
    images = _random_images(settings)
    reference = _logits(settings.reference_device, _network_on(settings.reference_device, config, weights), images)
    network = _network_on(settings.device, config, weights)
    yield _compare("forward float32", settings, _logits(settings.device, network, images), reference,
                   settings.tolerance)
    yield _compare("forward float32, XLA", settings, _logits(settings.device, network, images, jit_compile=True),
                   reference, settings.tolerance, jit_compile=True)
    with tf.device(settings.device):
        folded = fold_batch_norms(network)
    yield _compare("forward float32, BN folded (as tools.evaluate)", settings,
                   _logits(settings.device, folded, images), reference, settings.tolerance)


@dataclasses.dataclass
class _Step:
    """One training step's outcome."""

    loss: float
    not_finite: bool
    update: np.ndarray  # every trainable weight's change, flattened
    optimizer: keras.optimizers.Optimizer
    run: object  # the compiled step, to run again
    model: keras.Model
    skipped_steps: int  # mixed_float16: steps loss scaling skipped before this one applied


def _one_step(device_name, config, weights, policy, jit_compile, batch):
    """The first step of tools.train's training (`TrainStep`) from `weights` on `batch`, on `device_name`.

    BN is frozen, as v2 and v3's second stage train: with BN trained, the image
    pooling branch normalises over the batch's 2 pooled vectors, and that
    gradient is so ill-conditioned that float32 round-off alone moves the update
    by 0.5% and bfloat16 by 87% (ResNet-18, 64x64, batch 2); frozen, XLA's
    float32 update is within 6e-7 of the plain one and bfloat16's within 4%.
    """
    train_config = TrainConfig(dataset_dir="(random tensors)", batch_size=int(batch[0].shape[0]),
                               crop_size=tuple(batch[0].shape[1:3]), fine_tune_batch_norm=False,
                               mixed_precision=None if policy == "float32" else policy, jit_compile=jit_compile)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)  # as tools.train: the loss view and optimiser follow the policy
    try:
        with tf.device(device_name):
            model = build_model(config)
            model.set_weights(weights)
            configure_batch_norm(model, train_config)
            optimizer = make_optimizer(train_config, train_config.base_learning_rate)
            optimizer.build(model.trainable_variables)
            step = TrainStep(model, config, train_config, optimizer, ignore_label=IGNORE_LABEL)
            run = tf.function(step.make_replica_step(jit_compile))
            before = [v.numpy() for v in step.trainable_variables]
            loss, _, _, not_finite = run(*batch)
            skipped = 0
            # Dynamic loss scaling starts high and skips (halving the scale) until the gradients fit float16.
            while policy == "mixed_float16" and skipped < _MAX_SKIPPED_STEPS and all(
                    np.array_equal(v.numpy(), b) for v, b in zip(step.trainable_variables, before)):
                skipped += 1
                loss, _, _, not_finite = run(*batch)
            update = np.concatenate([(v.numpy() - b).ravel() for v, b in zip(step.trainable_variables, before)])
    finally:
        keras.config.set_dtype_policy(previous)
    return _Step(float(loss), bool(not_finite), update, optimizer, run, model, skipped)


def _step_row(name, settings, step, reference, tolerance, **facts):
    """Both the loss and the weight update within `tolerance` of the reference step's."""
    row = _compare(name, settings, step.update, reference.update, tolerance, classes=False, norm="l2", **facts)
    row["loss"], row["reference_loss"] = step.loss, reference.loss
    row["loss_difference"] = abs(step.loss - reference.loss) / abs(reference.loss)
    row["passed"] = row["passed"] and not step.not_finite and row["loss_difference"] <= tolerance
    return row


def _bfloat16_supported(settings):
    """Whether the device under test computes in bfloat16: any CPU; a GPU from compute capability 8.0 (Ampere)."""
    if not settings.on_gpu:
        return True
    gpu = tf.config.list_physical_devices("GPU")[int(settings.device.rsplit(":", 1)[1])]
    capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
    return bool(capability) and tuple(capability) >= (8, 0)


def train_step(settings):
    """One training step on the device in float32 (plain, XLA), mixed_float16 and mixed_bfloat16 against float32.

    The mixed_bfloat16 step is XLA-compiled on a GPU, as `tools.train
    --jit_compile=auto` runs it, and plain on the CPU; the mixed_float16 step is
    compiled everywhere. Its row also runs a step whose scaled gradients
    overflow: loss scaling must skip it (no weight moves) and halve the scale.
    """
    tf.config.experimental.enable_tensor_float_32_execution(False)
    config = _check_config(settings)
    weights = _seeded_weights(config)
    with tf.device(settings.reference_device):
        batch = random_batch(settings.batch_size, settings.input_size, config.num_classes, IGNORE_LABEL)
    reference = _one_step(settings.reference_device, config, weights, "float32", False, batch)
    for jit_compile in (False, True):
        step = _one_step(settings.device, config, weights, "float32", jit_compile, batch)
        yield _step_row("train step float32" + (", XLA" if jit_compile else ""), settings, step, reference,
                        settings.tolerance, jit_compile=jit_compile)

    # XLA always: TensorFlow's CPU kernels have no float16 gradient of a dilated convolution.
    step = _one_step(settings.device, config, weights, "mixed_float16", True, batch)
    row = _step_row("train step mixed_float16, loss scaling, XLA", settings, step, reference,
                    settings.mixed_tolerance, jit_compile=True)
    row["skipped_steps"] = step.skipped_steps
    row.update(_overflow_is_skipped(settings.device, step, batch))
    row["passed"] = row["passed"] and row["overflow_step_skipped"]
    yield row

    if not _bfloat16_supported(settings):
        yield {"check": "train step mixed_bfloat16", "device": settings.device, "skipped": True,
               "reason": "the GPU has no bfloat16 (compute capability below 8.0)", "passed": True}
        return
    jit_compile = settings.on_gpu
    step = _one_step(settings.device, config, weights, "mixed_bfloat16", jit_compile, batch)
    yield _step_row("train step mixed_bfloat16", settings, step, reference, settings.mixed_tolerance,
                    jit_compile=jit_compile)


def _overflow_is_skipped(device_name, step, batch):
    """Runs `step` again at a loss scale that overflows float16: no weight may move, and the scale must halve."""
    scale = step.optimizer.dynamic_scale
    applied_at = float(scale.numpy())
    with tf.device(device_name):
        scale.assign(_OVERFLOWING_SCALE)
        before = [v.numpy() for v in step.model.trainable_variables]
        step.run(*batch)
        unchanged = all(np.array_equal(v.numpy(), b) for v, b in zip(step.model.trainable_variables, before))
    halved = float(scale.numpy()) == _OVERFLOWING_SCALE / 2
    return {"loss_scale_applied": applied_at,
            "overflow_step_skipped": bool(unchanged and halved),
            "overflow_scale_after": float(scale.numpy())}


def _crf_inputs(settings):
    """A blocky image and smooth logits at the input size: regions and edges for the CRF to act on."""
    rng = np.random.default_rng(0)
    height, width = settings.input_size
    coarse = rng.integers(0, 256, (1, height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
    image = tf.image.resize(coarse, (height, width), method="nearest").numpy()[0].astype(np.uint8)
    scores = rng.normal(0, 2, (1, height // 16 + 1, width // 16 + 1, settings.model_config.num_classes))
    logits = tf.image.resize(scores.astype(np.float32), (height, width)).numpy()[0]
    return image, logits


def crf(settings):
    """The dense CRF's TF ops on the device against the same ops on the reference device, and against pydensecrf."""
    tf.config.experimental.enable_tensor_float_32_execution(False)
    image, logits = _crf_inputs(settings)

    def refine(device_name):
        with tf.device(device_name):
            return tf.function(lambda: dense_crf_tf(image, logits))().numpy()

    refined = refine(settings.device)
    yield _compare("dense CRF (TF ops)", settings, refined, refine(settings.reference_device), settings.tolerance)
    row = _compare("dense CRF (TF ops) against pydensecrf (C++)", settings, refined,
                   dense_crf(image, logits, backend="pydensecrf"), settings.tolerance)
    row["reference_device"] = "pydensecrf on the CPU"
    yield row


def saved_model(settings):
    """`tools.export`'s SavedModel, loaded and run on the device, against the Keras model on the reference device."""
    tf.config.experimental.enable_tensor_float_32_execution(False)
    config = _check_config(settings)
    weights = _seeded_weights(config)
    images = _random_images(settings)
    network = _network_on(settings.reference_device, config, weights)
    reference = tf.nn.softmax(_logits(settings.reference_device, network, images)).numpy()
    directory = tempfile.mkdtemp(prefix="gpu_check_saved_model_")
    try:
        with tf.device(settings.reference_device):
            export_saved_model(fold_batch_norms(network), directory)  # as tools.export: BN folded
        with tf.device(settings.device):
            signature, loaded = load_serving_signature(directory)
            probabilities = signature(**{INPUT_NAME: tf.cast(images, tf.uint8)})["probabilities"].numpy()
        del loaded
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    yield _compare("SavedModel inference (serving_default)", settings, probabilities, reference, settings.tolerance)


# --- Speed ------------------------------------------------------------------------------------------------

def _benchmark_row(settings, what, mode, config):
    """`tools.benchmark`'s run of `mode` on the device, with the device's peak memory; an OOM is a row too."""
    memory_device = settings.device.lstrip("/").replace("device:", "")
    if settings.on_gpu:
        tf.config.experimental.reset_memory_stats(memory_device)
    try:
        with tf.device(settings.device):
            result = run_benchmark(mode, config)
    except tf.errors.ResourceExhaustedError as error:
        return {"what": what, "error": f"out of memory: {str(error).splitlines()[0]}"}
    peak = tf.config.experimental.get_memory_info(memory_device)["peak"] if settings.on_gpu else None
    return {"what": what, "images_per_s": result.get("images_per_s"), "median_s": result["median_s"],
            "utilization": result.get("utilization"), "peak_memory_bytes": peak,
            "argmax_agreement_with_float32": result.get("argmax_agreement_with_float32"), "benchmark": result}


def _benchmark_config(settings, **changes):
    values = dict(input_size=settings.speed_input_size, warmup=settings.warmup, repeats=settings.repeats,
                  matmul_size=settings.matmul_size, model_config=settings.model_config)
    return BenchmarkConfig(**{**values, **changes})


def speed_inference(settings):
    """Inference images/s at OS16 and OS8 for each policy, as tools.evaluate runs it (BN folded, no XLA)."""
    for output_stride in (16, 8):
        model_config = settings.model_config.with_output_stride(output_stride)
        for policy in settings.speed_policies:
            what = f"inference OS{output_stride}, {policy}, batch 1"
            config = _benchmark_config(settings, dtype_policy=policy, model_config=model_config)
            yield _benchmark_row(settings, what, "inference", config)


def speed_train(settings):
    """Training images/s for each batch and policy, XLA on a GPU (as tools.train --jit_compile=auto)."""
    for batch_size in settings.train_batch_sizes:
        for policy in settings.speed_policies:
            what = f"train, {policy}, batch {batch_size}" + (", XLA" if settings.on_gpu else "")
            config = _benchmark_config(settings, batch_size=batch_size, dtype_policy=policy,
                                       jit_compile=settings.on_gpu)
            yield _benchmark_row(settings, what, "train", config)


def speed_crf(settings):
    """The dense CRF's time per image (TF ops on the device; pydensecrf beside it on the CPU), alone and in a
    batch of 4 (`batch_over_single`: what `--crf_batch_size=4` would gain)."""
    size = "×".join(map(str, settings.speed_input_size))
    what = f"dense CRF, {size}, {settings.model_config.num_classes} classes, {CRFParams().iterations} iterations"
    row = _benchmark_row(settings, what, "crf", _benchmark_config(settings, batch_size=4))
    if "benchmark" in row:
        row["pydensecrf_median_s"] = row["benchmark"]["pydensecrf"]["median_s"]
        row["batch_over_single"] = row["benchmark"]["batch_over_single"]
    yield row


# In the order they run: the cheap facts first, the speed (the least needed) last.
CORRECTNESS = {"forward": forward, "train_step": train_step, "crf": crf, "saved_model": saved_model}
SPEED = {"speed_inference": speed_inference, "speed_crf": speed_crf, "speed_train": speed_train}
SECTIONS = {"device": device, **CORRECTNESS, **SPEED}
# Seconds each section may take on a GPU machine (tools.gpu_check --section_timeouts overrides them).
TIMEOUTS = {"device": 60, "forward": 120, "train_step": 240, "crf": 60, "saved_model": 120,
            "speed_inference": 120, "speed_crf": 90, "speed_train": 240}

