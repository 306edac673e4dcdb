"""The data mode: decode, augmentation and batching throughput of the training input pipeline."""

import tempfile

from deeplab_tf import data as data_lib
from deeplab_tf.benchmarking import timing
from deeplab_tf.data.synthetic import generate_dataset


def data(config):
    """Decode + augmentation + batching throughput of the training input pipeline."""
    dataset_dir = config.dataset_dir
    if dataset_dir is None:
        # Generated images at the crop size, so the scale augmentation does real work.
        dataset_dir = tempfile.mkdtemp(prefix="deeplab_bench_data_")
        generate_dataset(dataset_dir, num_train=64, num_val=1, image_size=max(config.input_size), seed=0)
    examples = data_lib.read_split("synthetic", dataset_dir, "train", shuffle_files=True, seed=0)
    pipeline = data_lib.train_pipeline(examples, crop_size=config.input_size, batch_size=config.batch_size, seed=0)
    iterator = iter(pipeline)
    batches = 10

    def run():
        for _ in range(batches):
            next(iterator)[0].numpy()

    runs = timing.time_runs(run, warmup=1, repeats=config.repeats)
    return {"dataset_dir": dataset_dir, "batches_per_run": batches,
            "images_per_s": batches * config.batch_size / runs["median_s"], **runs}
