"""The poly schedule: base·(1 − t/T)^power, with linear warm-up."""

import numpy as np
import pytest

from deeplab_tf.schedules import PolyLearningRate


def test_poly_values():
    schedule = PolyLearningRate(0.007, decay_steps=30000, power=0.9)
    assert float(schedule(0)) == pytest.approx(0.007)
    assert float(schedule(15000)) == pytest.approx(0.007 * 0.5**0.9, rel=1e-6)
    assert float(schedule(30000)) == 0.0
    assert float(schedule(40000)) == 0.0  # stays at zero past the end


def test_warmup_rises_linearly_to_the_poly_curve():
    schedule = PolyLearningRate(0.1, decay_steps=100, power=1.0, warmup_steps=10)
    rates = np.array([float(schedule(t)) for t in range(12)])
    expected = [0.1 * (1 - t / 100) * min(1.0, (t + 1) / 10) for t in range(12)]
    np.testing.assert_allclose(rates, expected, rtol=1e-6)


def test_config_round_trip():
    schedule = PolyLearningRate(2.5e-4, 20000, 0.9, 5)
    clone = PolyLearningRate.from_config(schedule.get_config())
    assert float(clone(1234)) == float(schedule(1234))
