"""Targets: the GRUs the checker can point at, by name, as ``package.module:attr``, or as the object.

``TARGETS`` (``targets.registry``) maps a built-in name to ``(factory, description)``; a factory
takes ``(device, dtype)`` (``dtype`` None means the target's own default) and returns an
``Implementation``. Other modules add their targets with ``register``::

    register("onnx-torch-export", make_onnx_target, "torch.nn.GRU exported to ONNX, onnxruntime")

``resolve_target(target, device=..., dtype=..., cell=False)`` (``targets.resolve``) turns a target
into an ``Implementation``: a registered name, or ``module:attr`` naming a class or factory with
``torch.nn.GRU``'s constructor (``torch.nn.GRUCell``'s with ``cell=True``), or a callable that
returns an ``Implementation`` itself (the adapter API, docs/adapters.md), or that attribute itself
(resolved like its ``module:attr``, ``target_spec``). The attribute may carry
``gruverify_missing = {feature: reason}`` and ``gruverify_variant = "reset_before"``. Every
adapter raises ``TargetError`` (``targets.errors``) for a target it cannot use.
"""

from __future__ import annotations

from gruverify.core.features import FEATURES
from gruverify.targets.errors import TargetError
from gruverify.targets.registry import DEFAULT_TARGET, TARGETS, TargetFactory, register
from gruverify.targets.resolve import build_target, resolve_target, target_spec
from gruverify.targets.torch_module import TorchCellTarget, TorchModuleTarget

__all__ = [
    "DEFAULT_TARGET",
    "FEATURES",
    "TARGETS",
    "TargetError",
    "TargetFactory",
    "TorchCellTarget",
    "TorchModuleTarget",
    "build_target",
    "register",
    "resolve_target",
    "target_spec",
]
