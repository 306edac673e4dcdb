"""The command lines: absl apps that parse flags and call `deeplab_tf`.

Python runs this before any `tools.<name>` module, so these settings are in place before
TensorFlow loads, whatever a tool imports first.
"""

import os

# TensorFlow's C++ INFO and WARNING lines hide the lines a user needs to read. The few
# logged before absl's C++ logging starts print whatever this says (docs/troubleshooting.md, Start-up
# log lines).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 or AMX. Its
# own kernels refuse dilated gradients and dilated depthwise convolutions, so without
# oneDNN the atrous layers fall back to a slower form (`layers.atrous_conv.cpu_runs_dilations`).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
