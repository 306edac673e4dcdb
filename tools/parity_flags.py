"""The parity check's flags: tools.convert_tflite and tools.export --format check what they convert on held-out images."""

from absl import flags

flags.DEFINE_string("parity_split", "val", "Held-out split the parity check runs on.")
flags.DEFINE_integer("num_parity_images", 50, "Images the parity check runs on.")
