"""Prints a DeepLab network's parameters, FLOPs, output stride and unit rates as JSON.

    python -m tools.model_info --flagfile=flags/voc_v3_os16.flags --input_size=513
"""

import json

from absl import flags

from tools import cli, model_flags

flags.DEFINE_list("input_size", ["513"], "Input height[,width] for FLOPs and feature size.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from deeplab_tf.profile import model_info

    config = model_flags.model_config_from_flags()
    info = model_info(config, cli.parse_size("input_size", FLAGS.input_size))
    # One key a line keeps ResNet-101's 23 unit rates readable.
    print("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in info.items()) + "\n}")


if __name__ == "__main__":
    cli.run(main, flag_for_field=model_flags.FLAG_FOR_FIELD)
