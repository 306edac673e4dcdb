"""Prints a DeepLab network's parameters, FLOPs, output stride and unit rates as JSON.

    python -m tools.model_info --flagfile=flags/voc_v3_os16.flags --input_size=513
"""

import json

from absl import flags

from tools import cli, model_flags

flags.DEFINE_list("input_size", ["513"], "Input height[,width] for FLOPs and feature size.")
FLAGS = flags.FLAGS


def input_size_from_flag():
    try:
        sizes = [int(v) for v in FLAGS.input_size]
    except ValueError:
        raise cli.UsageError(f"--input_size: expected 1 or 2 integers, got {','.join(FLAGS.input_size)}") from None
    if len(sizes) not in (1, 2) or min(sizes) < 1:
        raise cli.UsageError(f"--input_size: expected 1 or 2 positive integers, got {FLAGS.input_size}")
    return (sizes[0], sizes[-1])


def main(argv):
    del argv
    from deeplab_tf.profile import model_info

    config = model_flags.model_config_from_flags()
    info = model_info(config, input_size_from_flag())
    # One key a line keeps ResNet-101's 23 unit rates readable.
    print("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in info.items()) + "\n}")


if __name__ == "__main__":
    cli.run(main, flag_for_field=model_flags.FLAG_FOR_FIELD)
