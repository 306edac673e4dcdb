"""The model's resizes give under XLA what they give eagerly (TensorFlow's own XLA resize does not)."""

import math
import pathlib
import re

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.config import DECODER_OUTPUT_STRIDES, OUTPUT_STRIDES
from deeplab_tf.layers import ResizeToMatch, ScaleImage, resize
from deeplab_tf.losses import downsample_labels

FLAGS_DIR = pathlib.Path(__file__).resolve().parents[2] / "flags"
# Output sides up to 1025: powers of two and their neighbours, the recipes' crops and the issue's.
SPREAD = (1, 2, 3, 4, 5, 7, 8, 16, 17, 25, 31, 33, 41, 49, 64, 65, 73, 97, 128, 129, 161, 193, 225, 241, 257,
          273, 321, 385, 513, 537, 641, 769, 1024, 1025)
SIDES = range(1, 71)
# Where TensorFlow 2.21's XLA resize is wrong: crop 273 at OS8, 225 and 129 at OS16, 537 at OS32, and 5 → 65
# (tools.gpu_check --smoke's default input).
XLA_FAILURES = ((35, 273), (15, 225), (9, 129), (17, 537), (5, 65))
TOLERANCE = 1e-5  # float32, relative to the largest value


def _recipes():
    """(crop, msc_scales) of every recipe in flags/."""
    recipes = []
    for path in sorted(FLAGS_DIR.glob("*.flags")):
        text = path.read_text()
        crop = re.search(r"^--crop_size=(\d+)", text, re.MULTILINE)
        scales = re.search(r"^--msc_scales=([\d.,]+)", text, re.MULTILINE)
        if crop:
            recipes.append((int(crop.group(1)), [float(s) for s in scales.group(1).split(",")] if scales else []))
    return recipes


def _recipe_pairs():
    """(bilinear pairs, label pairs) the recipes' crops make at every output stride, sides as ceil(side / stride).

    Bilinear: the logits to the crop, v3+'s decoder, and for MSC the image to each scale, each scale's logits
    to the crop (the model) and to the full scale's logits (the loss's fusion). Labels: the crop to the logits.
    """
    bilinear, labels = set(), set()
    for crop, scales in _recipes():
        for output_stride in OUTPUT_STRIDES:
            full = math.ceil(crop / output_stride)
            for scale in [1.0, *scales]:
                side = math.ceil(crop * scale)
                low = math.ceil(side / output_stride)
                bilinear |= {(low, crop), (low, full), (crop, side)} - {(crop, crop)}
                bilinear |= {(low, math.ceil(side / stride)) for stride in DECODER_OUTPUT_STRIDES}
                labels.add((crop, low))
    return sorted(bilinear), sorted(labels)


def test_the_recipes_and_the_issue_make_the_pairs_the_sweep_covers():
    bilinear, labels = _recipe_pairs()
    assert {(33, 513), (65, 513), (97, 769), (33, 129), (31, 321), (21, 41), (321, 161)} <= set(bilinear)
    assert {(321, 41), (321, 31), (321, 21), (513, 33)} <= set(labels)
    assert set(XLA_FAILURES) & set(bilinear) == set()  # so the issue's pairs are added to them


def _sweep_pairs():
    """Every side 1–70 upsampled to a side of SPREAD and downsampled from one, in turn."""
    up = [(side, SPREAD[i % len(SPREAD)]) for i, side in enumerate(SIDES)]
    down = [(SPREAD[-1 - i % len(SPREAD)], side) for i, side in enumerate(SIDES)]
    return up + down


def _cases(pairs, seed=0):
    """One resize per two pairs, the first along the height, the second along the width: (image, size, weights)."""
    rng = np.random.default_rng(seed)
    pairs = list(pairs) + ([] if len(pairs) % 2 == 0 else [(1, 1)])
    cases = []
    for (in_height, out_height), (in_width, out_width) in zip(pairs[::2], pairs[1::2]):
        image = rng.normal(size=(1, in_height, in_width, 3)).astype(np.float32)
        weights = rng.normal(size=(1, out_height, out_width, 3)).astype(np.float32)
        cases.append((tf.constant(image), (out_height, out_width), tf.constant(weights)))
    return cases


def _resize_to_match(images, size):
    return ResizeToMatch(dtype="float32")([images, tf.zeros((1, *size, 1))])


def _forward_and_gradient(layer_call, cases):
    """[(output, gradient of Σ output × weights)] of each case."""
    results = []
    for images, size, weights in cases:
        with tf.GradientTape() as tape:
            tape.watch(images)
            output = layer_call(images, size)
            loss = tf.reduce_sum(output * weights)
        results.append((output, tape.gradient(loss, images)))
    return results


def _assert_close(actual, expected, what):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, what
    difference = np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-30)
    assert difference <= TOLERANCE, (what, difference)


def _assert_compiled_matches_eager(layer_call, pairs):
    cases = _cases(pairs)
    # One compiled function for all pairs: XLA compiles each shape once, whatever the grouping.
    compiled = tf.function(lambda: _forward_and_gradient(layer_call, cases), jit_compile=True)()
    eager = _forward_and_gradient(layer_call, cases)
    for (images, size, _), (output, gradient), (expected_output, expected_gradient) in zip(cases, compiled, eager):
        what = f"{images.shape[1:3]} → {size}"
        _assert_close(output, expected_output, what + " forward")
        _assert_close(gradient, expected_gradient, what + " gradient")


def test_tensorflows_xla_resize_is_wrong_at_the_issues_sizes():
    """Why the model does not use it: if this starts to fail, upstream fixed it and the matmul form can go."""
    images = tf.constant(np.random.default_rng(0).normal(size=(1, 9, 9, 4)), tf.float32)
    compiled = tf.function(lambda x: tf.image.resize(x, (129, 129)), jit_compile=True)(images)
    assert np.abs(compiled - tf.image.resize(images, (129, 129))).max() > 0.1


def test_resize_to_match_compiled_matches_eager_on_the_recipes_and_the_issues_sizes():
    bilinear, _ = _recipe_pairs()
    _assert_compiled_matches_eager(_resize_to_match, [*bilinear, *XLA_FAILURES])


def test_resize_to_match_compiled_matches_eager_on_a_sweep_of_sides_1_to_70():
    _assert_compiled_matches_eager(_resize_to_match, _sweep_pairs())


def test_the_matmul_forms_weights_are_tensorflows_on_every_pair_of_the_sweep():
    """All 70 × len(SPREAD) pairs each way, uncompiled (compiling each would take minutes): the weights of
    the matmul form are those of TensorFlow's kernel, read off as its resize of an identity image."""
    scalar = tf.TensorSpec((), tf.int32)

    @tf.function(input_signature=[scalar, scalar])  # one graph for every pair: seconds, not a minute
    def largest_difference(source, target):
        identity = tf.reshape(tf.eye(source), (1, source, 1, source))
        kernel = tf.image.resize(identity, tf.stack([target, 1]))[0, :, 0, :]
        return tf.reduce_max(tf.abs(resize._bilinear_matrix(source, target) - kernel))

    pairs = [(side, other) for side in SIDES for other in SPREAD]
    differences = {pair: float(largest_difference(*pair)) for pair in pairs + [p[::-1] for p in pairs]}
    worst = max(differences, key=differences.get)
    assert differences[worst] <= 1e-6, (worst, differences[worst])


def test_scale_image_compiled_matches_eager_at_the_msc_scales():
    for crop, scales in _recipes():
        for scale in scales:
            if scale != 1.0:
                layer = ScaleImage(scale)
                pairs = [(side, math.ceil(side * scale)) for side in (crop, crop + 2)]
                _assert_compiled_matches_eager(lambda images, size: layer(images), pairs)


def test_compiled_resize_with_sizes_unknown_when_traced_matches_eager():
    """Traced with unknown sizes, the weights are computed in the graph instead of being constants."""
    images = tf.constant(np.random.default_rng(0).normal(size=(1, 9, 65, 3)), tf.float32)
    spec = tf.TensorSpec((1, None, None, 3), tf.float32)
    compiled = tf.function(lambda x, size: resize.resize_bilinear(x, size), jit_compile=True,
                           input_signature=[spec, tf.TensorSpec((2,), tf.int32)])
    for size in ((129, 5), (4, 1025)):
        _assert_close(compiled(images, tf.constant(size)), tf.image.resize(images, size), size)


def test_label_downsampling_compiled_matches_eager():
    _, pairs = _recipe_pairs()
    rng = np.random.default_rng(0)
    cases = [(tf.constant(rng.integers(0, 256, (1, crop, crop + 8)), tf.int32), (low, math.ceil((crop + 8) / 8)))
             for crop, low in [*pairs, (9, 1), (5, 5), (1, 3)]]
    compiled = tf.function(lambda: [downsample_labels(labels, size) for labels, size in cases], jit_compile=True)()
    for (labels, size), actual in zip(cases, compiled):
        expected = downsample_labels(labels, size)
        np.testing.assert_array_equal(actual, expected, err_msg=f"{labels.shape} → {size}")


def test_eager_and_exported_graphs_keep_tensorflows_resize_op():
    """Outside XLA nothing changes: one ResizeBilinear op (TFLite's RESIZE_BILINEAR), no matmul."""
    images, reference = tf.TensorSpec((1, None, None, 4)), tf.TensorSpec((1, None, None, 3))
    layer = ResizeToMatch()
    graph = tf.function(lambda x, r: layer([x, r])).get_concrete_function(images, reference).graph
    types = [op.type for op in graph.get_operations()]
    assert types.count("ResizeBilinear") == 1 and not {"Einsum", "MatMul", "BatchMatMulV2"} & set(types)
    labels = tf.TensorSpec((1, 9, 9), tf.int32)
    graph = tf.function(lambda x: downsample_labels(x, (5, 5))).get_concrete_function(labels).graph
    assert "ResizeNearestNeighbor" in [op.type for op in graph.get_operations()]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_compiled_resize_of_half_precision_inputs_computes_in_float32(dtype):
    images = tf.constant(np.random.default_rng(0).normal(size=(2, 9, 9, 3)), dtype)
    compiled = tf.function(lambda x: resize.resize_bilinear(x, (129, 129)), jit_compile=True)(images)
    assert compiled.dtype == tf.float32
    _assert_close(compiled, tf.image.resize(images, (129, 129)), dtype)
