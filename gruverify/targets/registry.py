"""The built-in targets: ``TARGETS`` maps a name to ``(factory, description)``.

A factory takes ``(device, dtype)`` (``dtype`` None means the target's own default) and returns an
``Implementation``. Other modules add their targets with ``register``::

    register("onnx-torch-export", make_onnx_target, "torch.nn.GRU exported to ONNX, onnxruntime")
"""

from __future__ import annotations

from collections.abc import Callable

from gruverify.core.problem import Implementation
from gruverify.reference.implementations import NumpyReference, TorchReference
from gruverify.targets.errors import TargetError
from gruverify.targets.external import EXTERNAL_TARGETS
from gruverify.targets.library_targets import LIBRARY_TARGETS
from gruverify.targets.torch_module import TorchCellTarget, TorchModuleTarget

__all__ = ["DEFAULT_TARGET", "TARGETS", "TargetFactory", "register"]

TargetFactory = Callable[[str, "str | None"], Implementation]

DEFAULT_TARGET = "torch-gru"


def _torch_gru(device: str, dtype: str | None) -> Implementation:
    import torch

    return TorchModuleTarget(
        torch.nn.GRU, name="torch-gru", device=device, dtype=dtype or "float32"
    )


def _torch_grucell(device: str, dtype: str | None) -> Implementation:
    import torch

    return TorchCellTarget(
        torch.nn.GRUCell, name="torch-grucell", device=device, dtype=dtype or "float32"
    )


def _torch_dynamic_int8(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.torch_quantized import TorchDynamicInt8Target

    return TorchDynamicInt8Target(device=device, dtype=dtype or "float32")


def _numpy_reference(device: str, dtype: str | None) -> Implementation:
    if device != "cpu" or dtype not in (None, "float64"):
        raise TargetError(
            f"numpy-reference runs in float64 on the cpu only (asked for {dtype} on {device})"
        )
    return NumpyReference()


def _torch_reference(device: str, dtype: str | None) -> Implementation:
    return TorchReference(dtype=dtype or "float64", device=device)


TARGETS: dict[str, tuple[TargetFactory, str]] = {
    "torch-gru": (_torch_gru, "torch.nn.GRU (cuDNN on CUDA); float32 unless --dtype"),
    "torch-grucell": (_torch_grucell, "torch.nn.GRUCell run over time by a Python loop"),
    "torch-dynamic-int8": (
        _torch_dynamic_int8,
        "torch.ao.nn.quantized.dynamic.GRU (int8 weights, "
        "7-bit activations per call), its quantization declared",
    ),
    "numpy-reference": (_numpy_reference, "gruverify's float64 numpy reference (a self-check)"),
    "torch-reference": (_torch_reference, "gruverify's explicit-ops torch reference, any dtype"),
}
TARGETS.update(EXTERNAL_TARGETS)  # onnx-*, keras-*, flax-*: lazy imports (targets/external.py)
TARGETS.update(LIBRARY_TARGETS)  # issue 15: onnx-reference, openvino, mlx, paddle, ... (lazy)


def register(name: str, factory: TargetFactory, description: str) -> None:
    """Add a built-in target; ``factory(device, dtype)`` returns an ``Implementation``."""
    if name in TARGETS:
        raise ValueError(f"target {name!r} is already registered")
    TARGETS[name] = (factory, description)
