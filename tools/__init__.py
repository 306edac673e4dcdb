"""The command lines: absl apps that parse flags and call `deeplab_tf`."""
