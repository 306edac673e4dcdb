"""Running a converted .tflite model with the LiteRT interpreter, and timing it."""

import os
import statistics
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from deeplab_tf.errors import InputError
from deeplab_tf.export.saved_model import INPUT_NAME, OUTPUT_NAMES, SIGNATURE_KEY


class LiteRTModel:
    """A .tflite segmentation model: uint8 RGB [1, H, W, 3] → {"labels", "probabilities"}.

    LiteRT applies its default XNNPACK delegate to the CPU kernels it covers
    (float, float16 and int8 alike).

    Args:
        model: path of a .tflite file, or its bytes.
        num_threads: CPU threads for the interpreter and XNNPACK.
    """

    def __init__(self, model, num_threads=2):
        try:
            if isinstance(model, (bytes, bytearray)):
                self.interpreter = Interpreter(model_content=bytes(model), num_threads=num_threads)
            else:
                self.interpreter = Interpreter(model_path=str(model), num_threads=num_threads)
        except (ValueError, RuntimeError) as error:
            raise InputError(f"not a loadable .tflite model: {str(model)[:200]}: {error}") from None
        signatures = self.interpreter.get_signature_list()
        expected = {"inputs": [INPUT_NAME], "outputs": sorted(OUTPUT_NAMES)}
        found = signatures.get(SIGNATURE_KEY)
        if found is None or found["inputs"] != expected["inputs"] or sorted(found["outputs"]) != expected["outputs"]:
            raise InputError(f"tflite model: expected signature {SIGNATURE_KEY} {expected}, found {signatures}")
        self.runner = self.interpreter.get_signature_runner(SIGNATURE_KEY)
        self.input_details = self.runner.get_input_details()[INPUT_NAME]

    @property
    def input_size(self):
        """(height, width) the model takes."""
        return tuple(int(n) for n in self.input_details["shape"][1:3])

    def __call__(self, images):
        """Runs one uint8 image batch [1, H, W, 3] at `input_size`; returns numpy outputs."""
        images = np.asarray(images)
        expected = tuple(self.input_details["shape"])
        if images.shape != expected or images.dtype != self.input_details["dtype"]:
            raise InputError(
                f"tflite model takes {self.input_details['dtype'].__name__} {expected}, got "
                f"{images.dtype} {images.shape}"
            )
        return self.runner(**{INPUT_NAME: images})


def measure_latency(model_path, num_threads=2, warmup_runs=3, timed_runs=20, seed=0):
    """File size and LiteRT latency (XNNPACK, `num_threads` threads) of a .tflite model.

    Times `invoke()` alone, on one random uint8 image, after `warmup_runs`
    untimed runs (the first run also packs XNNPACK's weights).

    Returns:
        {"tflite" (its path), "file_size_bytes", "input_size" [h, w], "num_threads", "runtime",
         "median_s", "mean_s", "min_s", "max_s", "timed_runs", "times_s"}.
    """
    return measure_latencies([model_path], num_threads, warmup_runs, timed_runs, seed)[0]


def measure_latencies(model_paths, num_threads=2, warmup_runs=3, timed_runs=20, seed=0):
    """`measure_latency` of several models, timed in turns: one `invoke()` of each model a turn.

    On a shared machine the load changes from second to second; timing the
    models in the same turns lets `benchmarking.paired_ratio` compare them
    under the same conditions, turn by turn.

    Returns:
        One `measure_latency` dict per model, in order.
    """
    models = [_TimedInterpreter(path, num_threads, seed) for path in model_paths]
    for _ in range(warmup_runs):
        for model in models:
            model.invoke()
    for _ in range(max(1, timed_runs)):
        for model in models:
            model.times.append(model.invoke())
    return [model.summary() for model in models]


class _TimedInterpreter:
    """A LiteRT interpreter fed one random image, whose `invoke()` returns its own time."""

    def __init__(self, model_path, num_threads, seed):
        try:
            self.interpreter = Interpreter(model_path=str(model_path), num_threads=num_threads)
        except (ValueError, RuntimeError) as error:
            raise InputError(f"not a loadable .tflite model: {model_path}: {error}") from None
        self.interpreter.allocate_tensors()
        details = self.interpreter.get_input_details()[0]
        image = np.random.default_rng(seed).integers(0, 256, details["shape"]).astype(details["dtype"])
        self.interpreter.set_tensor(details["index"], image)
        self.path, self.num_threads, self.times = model_path, num_threads, []
        self.input_size = [int(n) for n in details["shape"][1:3]]

    def invoke(self):
        start = time.perf_counter()
        self.interpreter.invoke()
        return time.perf_counter() - start

    def summary(self):
        return {
            "tflite": os.path.abspath(self.path),
            "file_size_bytes": os.path.getsize(self.path),
            "input_size": self.input_size,
            "num_threads": self.num_threads,
            "runtime": "LiteRT (ai-edge-litert) with its default XNNPACK delegate",
            "median_s": statistics.median(self.times),
            "mean_s": statistics.fmean(self.times),
            "min_s": min(self.times),
            "max_s": max(self.times),
            "timed_runs": len(self.times),
            "times_s": self.times,
        }
