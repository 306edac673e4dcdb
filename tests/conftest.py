"""Test-wide settings: quiet TensorFlow, deterministic seeds; the headless browser of the report tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as the tools set it (tools/cli.py), on every CPU

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_and_reset():
    keras.utils.set_random_seed(0)
    yield
    # free_memory=False: a full gc.collect() after every test costs up to a second with TensorFlow loaded;
    # Python's own collector still frees the cycles.
    keras.backend.clear_session(free_memory=False)


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium (`tests/browser.py`), launched once; its tests skip without one, except under CI."""
    from tests import browser

    yield from browser.launch()
