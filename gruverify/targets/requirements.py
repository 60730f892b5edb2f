"""What each built-in target needs installed, and how to install it: ``pip install
'gruverify[EXTRA]'`` with the extra of pyproject.toml's ``[project.optional-dependencies]``.

``NEEDS`` maps a built-in target to the modules it imports and the extra that installs them
(None: gruverify's own dependencies, torch and numpy). ``missing_modules(name)`` asks
``importlib.util.find_spec`` (no import: listing every target stays cheap), ``unavailable(name)``
says why the target cannot run here (``"needs onnxruntime: pip install 'gruverify[onnx]'"``) or
None, and ``install_hint(name)`` is the command alone. A target registered by other code has no
entry: it is taken to be available.
"""

from __future__ import annotations

import importlib.util

__all__ = ["NEEDS", "install_hint", "missing_modules", "unavailable"]

NEEDS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "torch-gru": (("torch",), None),
    "torch-grucell": (("torch",), None),
    "numpy-reference": (("numpy",), None),
    "torch-reference": (("torch",), None),
    "torch-export": (("torch",), None),
    "torch-compile": (("torch",), None),
    "onnx-torchscript": (("torch", "onnx", "onnxruntime"), "onnx"),
    "onnx-dynamo": (("torch", "onnx", "onnxruntime", "onnxscript"), "onnx"),
    "onnx-reference": (("onnx",), "onnx"),
    "keras-reset-after": (("keras",), "keras"),
    "keras-reset-before": (("keras",), "keras"),
    "flax-linen": (("jax", "flax"), "flax"),
    "flax-nnx": (("jax", "flax"), "flax"),
    "openvino": (("openvino",), "openvino"),
    "openvino-default": (("openvino",), "openvino"),
    "torch-dynamic-int8": (("torch",), None),
    "keras-tensorflow": (("keras", "tensorflow"), "tensorflow"),
    "tflite": (("tensorflow", "ai_edge_litert"), "tensorflow"),
    "mlx": (("mlx",), "mlx"),
    "equinox": (("jax", "equinox"), "equinox"),
    "haiku": (("jax", "haiku"), "haiku"),
    "paddle": (("paddle",), "paddle"),
    "executorch": (("torch", "executorch"), "executorch"),
    "tf2onnx": (("keras", "tensorflow", "tf2onnx", "onnxruntime"), "tensorflow"),
    "tf-keras": (("tensorflow", "tf_keras"), None),  # tf-keras goes in --no-deps (library_envs.sh)
    "tflite-dynamic-int8": (("tensorflow", "ai_edge_litert"), "tensorflow"),
    "onnxruntime-dynamic-int8": (("torch", "onnx", "onnxruntime"), "onnx"),
    "openvino-nncf-int8": (("openvino", "nncf"), "nncf"),
    "onnx2torch": (("torch", "onnx", "onnx2torch"), "onnx2torch"),
    "mnn": (("torch", "onnx", "MNN"), "mnn"),
    "ncnn": (("torch", "pnnx", "ncnn"), "ncnn"),
    "tvm": (("torch", "onnx", "tvm"), "tvm"),
    "mindspore": (("mindspore",), "mindspore"),
    "jittor": (("jittor",), "jittor"),
}
"""Built-in target -> (the top-level modules it imports, the pyproject extra that installs them)."""


def missing_modules(name: str) -> list[str]:
    """The modules ``name`` needs that this interpreter cannot find (``find_spec``, no import)."""
    modules, _ = NEEDS.get(name, ((), None))
    missing = []
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a broken or half-installed package
            found = False
        if not found:
            missing.append(module)
    return missing


def install_hint(name: str) -> str:
    """``pip install 'gruverify[onnx]'`` for a target with an extra, else ``pip install
    MODULES`` for its missing modules (torch, numpy), else ``""``."""
    _, extra = NEEDS.get(name, ((), None))
    if extra is not None:
        return f"pip install 'gruverify[{extra}]'"
    missing = missing_modules(name)
    return f"pip install {' '.join(missing)}" if missing else ""


def unavailable(name: str) -> str | None:
    """Why ``name`` cannot run in this environment (``needs onnxruntime: pip install
    'gruverify[onnx]'``), or None when everything it needs is installed."""
    missing = missing_modules(name)
    if not missing:
        return None
    return f"needs {', '.join(missing)}: {install_hint(name)}"
