"""BatchNormalization folded into convolutions: same outputs, no BN left, saves and rebuilds."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from deeplab_tf import InputError, ModelConfig, build_model, fold_batch_norms, rebuild

CONFIGS = {
    "v3_basic": ModelConfig(variant="v3", backbone="resnet18", num_classes=5, aspp_filters=32),
    "v3_bottleneck_os8": ModelConfig(variant="v3", backbone="resnet50", output_stride=8, num_classes=5,
                                     aspp_filters=32),
    "v2_msc": ModelConfig(variant="v2", backbone="resnet18", output_stride=8, num_classes=5,
                          msc_scales=(1.0, 0.5)),
    "v3plus_separable": ModelConfig(variant="v3plus", backbone="resnet18", num_classes=5, aspp_filters=32),
    "v3_mobilenetv2_os8": ModelConfig(backbone="mobilenetv2", width_multiplier=0.5, output_stride=8,
                                      num_classes=5, aspp_filters=32),
}


def _trained_looking(config):
    """A model whose BN statistics and shifts are far from the identity, as after training."""
    model = build_model(config)
    rng = np.random.default_rng(1)
    for weight in model.weights:
        if any(key in weight.path for key in ("moving_mean", "beta", "bias")):
            weight.assign(rng.normal(0.0, 0.2, weight.shape))
        elif any(key in weight.path for key in ("moving_variance", "gamma")):
            weight.assign(rng.uniform(0.3, 2.0, weight.shape))
    return model


def _images(seed=0, size=(64, 48)):
    return np.random.default_rng(seed).uniform(0, 255, (2, *size, 3)).astype("float32")


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_folded_model_computes_the_same_logits(name):
    model = _trained_looking(CONFIGS[name])
    folded = fold_batch_norms(model)
    expected = model(_images(), training=False).numpy()
    actual = folded(_images(), training=False).numpy()
    assert np.abs(actual - expected).max() <= 1e-4 * np.abs(expected).max()
    assert type(folded) is type(model) and folded.fold_batch_norm


def test_folded_model_has_no_batch_norm_and_fewer_weights():
    model = _trained_looking(CONFIGS["v3_bottleneck_os8"])
    folded = fold_batch_norms(model)
    layers = folded._flatten_layers(include_self=False, recursive=True)
    assert not [layer.name for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    batch_norms = [layer for layer in model._flatten_layers(recursive=True)
                   if isinstance(layer, keras.layers.BatchNormalization)]
    # Each BN's four vectors go; a bias-free convolution gains one bias vector.
    assert 0 < folded.count_params() < model.count_params()
    assert len(folded.weights) < len(model.weights) - 2 * len(batch_norms)


def test_folded_model_saves_loads_and_switches_output_stride(tmp_path):
    folded = fold_batch_norms(_trained_looking(CONFIGS["v3_basic"]))
    path = str(tmp_path / "folded.keras")
    folded.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert loaded.fold_batch_norm
    np.testing.assert_allclose(loaded(_images()).numpy(), folded(_images()).numpy(), rtol=1e-5, atol=1e-4)
    at_os8 = rebuild(loaded, output_stride=8)
    assert at_os8.fold_batch_norm and at_os8.model_config.output_stride == 8


def test_folded_model_keeps_the_mixed_precision_policy():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build_model(CONFIGS["v3_basic"])
    finally:
        keras.config.set_dtype_policy("float32")
    folded = fold_batch_norms(model)
    assert folded.get_layer("classifier").dtype_policy.name == "mixed_bfloat16"
    assert folded.backbone.get_layer("conv1_conv").compute_dtype == "bfloat16"


def test_refuses_what_it_cannot_fold():
    folded = fold_batch_norms(build_model(CONFIGS["v3_basic"]))
    with pytest.raises(InputError, match="already folded"):
        fold_batch_norms(folded)
    with pytest.raises(InputError, match="needs a DeepLab model"):
        fold_batch_norms(keras.Sequential([keras.layers.Dense(2)]))


_FROZEN_WEIGHTS_RUN = textwrap.dedent("""
    import sys
    import numpy as np
    from deeplab_tf import ModelConfig, build_model, fold_batch_norms
    from deeplab_tf.inference import InferenceSettings, Predictor

    model = build_model(ModelConfig(variant="v3", backbone="resnet18", num_classes=4, aspp_filters=16))
    model.load_weights(sys.argv[1])
    predictor = Predictor(fold_batch_norms(model), InferenceSettings(scales=(0.75, 1.0), flip=True))
    rng = np.random.default_rng(0)
    outputs = [predictor(rng.uniform(0, 255, (1, *size, 3)).astype("float32")).numpy()
               for size in ((64, 64), (48, 80), (64, 64))]
    np.savez(sys.argv[2], *outputs)
""")


def test_cached_weight_layouts_give_the_same_predictions(tmp_path):
    """`tools.cli.assume_frozen_weights` must not change results, across image sizes."""
    weights = str(tmp_path / "model.weights.h5")
    model = _trained_looking(ModelConfig(variant="v3", backbone="resnet18", num_classes=4, aspp_filters=16))
    model.save_weights(weights)
    results = {}
    for frozen in ("0", "1"):
        output = str(tmp_path / f"frozen_{frozen}.npz")
        env = {**os.environ, "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS": frozen}
        run = subprocess.run([sys.executable, "-c", _FROZEN_WEIGHTS_RUN, weights, output],
                             env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-2000:]
        results[frozen] = np.load(output)
    for key in results["0"].files:
        np.testing.assert_allclose(results["1"][key], results["0"][key], rtol=1e-4, atol=1e-5)
