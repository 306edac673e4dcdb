"""One input pipeline's share of a split, taken before anything is decoded.

Under `tf.distribute`, `distribute_datasets_from_function` hands each input
pipeline a `tf.distribute.InputContext`. The readers use it to keep pipeline i
of n to examples (or shard files) i, i + n, i + 2n, ... of the split's list
(TFDS: its own file split, or an even range of examples), so the shares are
disjoint, cover the split, and each pipeline decodes its own only.
"""

from absl import logging

from deeplab_tf.errors import DataError


def pipelines(input_context):
    """(number of input pipelines, this pipeline's index); (1, 0) without a context."""
    if input_context is None:
        return 1, 0
    return input_context.num_input_pipelines, input_context.input_pipeline_id


def share(items, input_context, what="examples"):
    """This pipeline's items of `items`: every n-th, from its index (logged when there are several pipelines)."""
    count, index = pipelines(input_context)
    items = list(items)
    mine = items[index::count]
    if count > 1:
        logging.info("input pipeline %d of %d reads %d of the %d %s", index, count, len(mine), len(items), what)
    return mine


def check_enough(num_examples, input_context, where, split):
    """Raises `DataError` when the split has fewer examples than there are input pipelines."""
    count, _ = pipelines(input_context)
    if num_examples < count:
        raise DataError(
            f"{where}: split {split!r} has {num_examples} example(s), fewer than the {count} "
            "input pipelines (one would read nothing); use fewer workers or a larger split"
        )
