"""The export flags: where tools.export writes a SavedModel and the input size it fixes."""

from absl import flags

flags.DEFINE_string("export_dir", None, "The SavedModel directory to write.")
flags.DEFINE_list("fixed_input_size", None, "Run the network at this height[,width] whatever the "
                  "image size: smaller images are padded with the mean pixel, larger ones shrunk "
                  "to fit, and the outputs cropped and resized back (official DeepLab exporter); "
                  "default: each image at its own size.")
flags.DEFINE_bool("overwrite", False, "Replace an existing SavedModel in --export_dir.")
flags.DEFINE_list("format", ["saved_model"], "saved_model, plus onnx and/or openvino (e.g. onnx,openvino): "
                  "converted from the SavedModel at --fixed_input_size into export_dir/<format>/ and "
                  "checked against it (parity.json beside the model).")
