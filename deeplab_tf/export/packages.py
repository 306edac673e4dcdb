"""The optional packages of the ONNX and OpenVINO exports, imported only when asked for."""

import importlib

from deeplab_tf.errors import ConfigError

# module → the pip package that provides it (requirements-common.txt pins them).
_PACKAGES = {"tf2onnx": "tf2onnx", "onnx": "onnx", "onnxruntime": "onnxruntime", "openvino": "openvino"}


def require(module, field="format"):
    """`module` imported, or a ConfigError naming `field` (the flag that asked for it) and the package."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ConfigError(
            field, f"needs the Python package {_PACKAGES.get(module, module)} ({error}); "
            "install requirements.txt (it pins the version tested)"
        ) from None
