"""The à trous identity: the backbone at output stride S/2 is the one at S, computed densely.

Switching output stride at test time (v3 paper, Table 6: OS16 → OS8) is only
meaningful if the finer network computes the same function as the coarser one:
with the same weights and inference-mode BatchNormalization, its features
sampled at every second pixel must equal the coarser network's features.

The sizes are odd on purpose. TensorFlow's `SAME` padding of a stride-2
convolution on an odd-sized input pads equally on both sides, so the strided
network samples pixels 0, 2, 4, …, exactly the even pixels of the dilated one,
and their zero paddings fall on the same positions too. The identity then holds
over the whole map, borders included. On an even size the strided grid shifts
to the odd pixels and the two networks can only be compared after a shift.
"""

import keras
import numpy as np
import pytest

from deeplab_tf import ModelConfig, build_backbone

# 129 → 65 (conv1) → 33 (pool1, OS4) → 17 (OS8) → 9 (OS16) → 5 (OS32): odd at every stride.
SIZE = 129

CASES = {
    "resnet18": dict(backbone="resnet18", multi_grid=(1, 1)),
    "resnet34": dict(backbone="resnet34", multi_grid=(1, 1, 1)),
    "resnet50": dict(backbone="resnet50", multi_grid=(1, 1, 1)),
    "resnet101": dict(backbone="resnet101", multi_grid=(1, 1, 1)),
    "resnet18_multi_grid": dict(backbone="resnet18", multi_grid=(1, 2)),
    "resnet50_multi_grid": dict(backbone="resnet50", multi_grid=(1, 2, 4)),
    "resnet18_cascaded": dict(backbone="resnet18", multi_grid=(1, 2), num_cascaded_blocks=2),
    "resnet50_cascaded": dict(backbone="resnet50", multi_grid=(1, 2, 4), num_cascaded_blocks=1),
    "mobilenetv2": dict(backbone="mobilenetv2"),
}


def _randomise_batch_norm(model, rng):
    """Non-trivial BN statistics, so that a misplaced or skipped BN could not go unnoticed."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([
                rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, variance.shape),
            ])


@pytest.mark.parametrize("coarse_stride", [32, 16], ids=["os32_to_os16", "os16_to_os8"])
@pytest.mark.parametrize("case", list(CASES))
def test_finer_output_stride_computes_the_coarser_network_densely(case, coarse_stride):
    coarse = build_backbone(ModelConfig(output_stride=coarse_stride, **CASES[case]))
    _randomise_batch_norm(coarse, np.random.default_rng(0))
    fine = build_backbone(ModelConfig(output_stride=coarse_stride // 2, **CASES[case]))
    fine.set_weights(coarse.get_weights())

    images = np.random.default_rng(1).uniform(0, 255, (1, SIZE, SIZE, 3)).astype("float32")
    coarse_features = coarse(images, training=False).numpy()
    fine_features = fine(images, training=False).numpy()
    assert fine_features.shape[1] == 2 * coarse_features.shape[1] - 1

    sampled = fine_features[:, ::2, ::2]
    error = np.max(np.abs(sampled - coarse_features)) / np.max(np.abs(coarse_features))
    assert error < 1e-4, f"{case}: relative error {error:.2e}"
