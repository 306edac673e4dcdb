"""The inference modes: one forward pass at a fixed size, and the multi-scale (+ flip) passes, as evaluation runs them."""

import glob
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from deeplab_tf import model_dir as model_dir_lib
from deeplab_tf.batch_norm_folding import fold_batch_norms
from deeplab_tf.benchmarking import timing
from deeplab_tf.errors import ConfigError
from deeplab_tf.export.parity import label_agreement
from deeplab_tf.inference import InferenceSettings, predict_probabilities
from deeplab_tf.layers.resize import scaled_size
from deeplab_tf.models import build_model, rebuild
from deeplab_tf.profile import forward_graph, graph_flops, padding_flops


def inference(config):
    """Forward pass of the network at a fixed size, inference mode, as tools.evaluate runs it.

    Under a mixed `dtype_policy` the float32 network with the same weights runs in
    the same turns, giving the speed-up run by run and the two networks'
    argmax agreement (on --agreement_images, or on the timed input).
    """

    reference, model_config = float32_network(config)
    flops = flop_facts(reference, config.input_size, config.batch_size)
    policies = ["float32"] + ([config.dtype_policy] if config.dtype_policy != "float32" else [])
    networks = {policy: _as_evaluated(config, reference, policy) for policy in policies}
    forwards = {name: tf.function(lambda x, network=network: network(x, training=False),
                                  jit_compile=config.jit_compile)
                for name, network in networks.items()}
    images = tf.random.stateless_uniform((config.batch_size, *config.input_size, 3), (0, 1), 0, 255)
    timed = list(forwards)[-1]
    beside = {"float32": lambda: forwards["float32"](images).numpy()} if timed != "float32" else None
    runs = config.paired_timing(lambda: forwards[timed](images).numpy(), beside=beside)
    result = {
        **inference_facts(config, model_config),
        **flops,
        "images_per_s": config.batch_size / runs["median_s"],
        **runs,
    }
    if beside:
        result["speedup_over_float32"] = timing.paired_ratio(runs["beside"]["float32"]["times_s"], runs["times_s"])
        result.update(_argmax_agreement(forwards["float32"], forwards[timed], config.agreement_images, images))
    return result


def multiscale(config):
    """Multi-scale (+ flip) inference, as tools.evaluate runs it, beside one plain pass in the same turns.

    `flops` sums the network's FLOPs over every pass (each scale's own size,
    twice with flip); `cost_over_single_pass` (time, run by run) against
    `flops_over_single_pass` says whether the passes cost more than their work.
    """

    settings = config.settings
    network, model_config = float32_network(config)
    single = flop_facts(network, config.input_size, config.batch_size)
    flops = {"flops": 0, "flops_with_padding": 0}
    for scale in settings.scales:
        size = [int(v) for v in scaled_size(tf.constant(config.input_size), scale).numpy()]
        for key, value in flop_facts(network, size, config.batch_size).items():
            flops[key] += value * (2 if settings.flip else 1)
    network = _as_evaluated(config, network, config.dtype_policy)
    images = tf.random.stateless_uniform((config.batch_size, *config.input_size, 3), (0, 1), 0, 255)
    passes = tf.function(lambda x: predict_probabilities(network, x, settings))
    one_pass = tf.function(lambda x: predict_probabilities(network, x, InferenceSettings()))
    runs = config.paired_timing(lambda: passes(images).numpy(), beside={"single_pass": lambda: one_pass(images).numpy()})
    return {
        **inference_facts(config, model_config),
        **settings.to_dict(),
        "num_passes": settings.num_passes,
        **flops,
        "single_pass_flops": single["flops"],
        "flops_over_single_pass": flops["flops"] / single["flops"],
        "cost_over_single_pass": timing.paired_ratio(runs["times_s"], runs["beside"]["single_pass"]["times_s"]),
        "images_per_s": config.batch_size / runs["median_s"],
        **runs,
    }


def flop_facts(network, input_size, batch_size):
    """`flops`: the forward pass's FLOPs (BN counted) without the convolution taps that read only padding,
    which oneDNN skips (`profile.padding_flops`), whichever form is timed; `flops_with_padding`: all taps."""
    graph = forward_graph(network, input_size, batch_size)
    with_padding = graph_flops(graph)
    return {"flops": with_padding - padding_flops(graph), "flops_with_padding": with_padding}


def float32_network(config):
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


def inference_facts(config, model_config):
    """What an inference result records about the network and how it ran."""
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
            raise ConfigError("agreement_images", f"no file matches {pattern}")
        batches = [np.asarray(Image.open(path).convert("RGB"), np.float32)[None] for path in paths]
    else:
        paths, batches = [], [timed_images]
    agree = total = 0
    for batch in batches:
        same, pixels = label_agreement(np.argmax(reference(batch), -1), np.argmax(tf.cast(other(batch), tf.float32), -1))
        agree, total = agree + same, total + pixels
    return {"argmax_agreement_with_float32": agree / total,
            "agreement_on": f"{len(paths)} images matching {pattern}" if paths else "the timed random input"}
