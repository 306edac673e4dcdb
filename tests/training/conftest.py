"""Shared fixtures for the training tests: a tiny generated dataset and a recording callback."""

import pytest

from deeplab_tf.data import synthetic
from deeplab_tf.training import Callbacks


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory):
    """16 train + 4 val generated 64×64 images (6 classes), written once per session."""
    directory = str(tmp_path_factory.mktemp("synthetic"))
    synthetic.generate_dataset(directory, num_train=16, num_val=4, image_size=64, seed=0, log_every=0)
    return directory


class Recorder(Callbacks):
    """Keeps every event the trainer reports."""

    def __init__(self):
        self.messages, self.progress, self.checkpoints, self.resumed, self.result = [], [], [], None, None

    def on_message(self, message):
        self.messages.append(message)

    def on_resume(self, step, checkpoint):
        self.resumed = (step, checkpoint)

    def on_progress(self, progress):
        self.progress.append(progress)

    def on_checkpoint(self, step, path):
        self.checkpoints.append(step)

    def on_end(self, result):
        self.result = result


@pytest.fixture
def recorder():
    return Recorder()
