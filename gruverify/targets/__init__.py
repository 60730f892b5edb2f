"""Targets: the GRUs the checker can point at, by name or as ``package.module:attr``.

``TARGETS`` maps a built-in name to ``(factory, description)``; a factory takes
``(device, dtype)`` (``dtype`` None means the target's own default) and returns an
``Implementation``. Other modules add their targets with ``register``::

    register("onnx-torch-export", make_onnx_target, "torch.nn.GRU exported to ONNX, onnxruntime")

``resolve_target(spec, device=..., dtype=..., cell=False)`` turns a CLI target into an
``Implementation``: a registered name, or ``module:attr`` naming a class or factory with
``torch.nn.GRU``'s constructor (``torch.nn.GRUCell``'s with ``cell=True``), or a callable that
returns an ``Implementation`` itself (the adapter API, docs/adapters.md). The attribute may carry
``gruverify_missing = {feature: reason}`` and ``gruverify_variant = "reset_before"``.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable
from typing import Any

from gruverify.core.params import Variant
from gruverify.core.problem import Implementation
from gruverify.reference.implementations import NumpyReference, TorchReference
from gruverify.targets.external import EXTERNAL_TARGETS
from gruverify.targets.torch_module import (
    FEATURES,
    TargetError,
    TorchCellTarget,
    TorchModuleTarget,
    validate_missing,
)

__all__ = [
    "DEFAULT_TARGET",
    "FEATURES",
    "TARGETS",
    "TargetError",
    "TargetFactory",
    "TorchCellTarget",
    "TorchModuleTarget",
    "register",
    "resolve_target",
]

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
    "numpy-reference": (_numpy_reference, "gruverify's float64 numpy reference (a self-check)"),
    "torch-reference": (_torch_reference, "gruverify's explicit-ops torch reference, any dtype"),
}
TARGETS.update(EXTERNAL_TARGETS)  # onnx-*, keras-*, flax-*: lazy imports (targets/external.py)


def register(name: str, factory: TargetFactory, description: str) -> None:
    """Add a built-in target; ``factory(device, dtype)`` returns an ``Implementation``."""
    if name in TARGETS:
        raise ValueError(f"target {name!r} is already registered")
    TARGETS[name] = (factory, description)


def _load_attr(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise TargetError(f"unknown target {spec!r}: {_suggest_target(spec)}")
    try:
        module = importlib.import_module(module_name)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # SystemExit at import time too: a usage error, not our exit
        raise TargetError(
            f"cannot import module {module_name!r}: {type(e).__name__}: {e}".splitlines()[0]
        ) from e
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            close = difflib.get_close_matches(part, [n for n in dir(obj) if not n.startswith("_")])
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TargetError(f"module {module_name!r} has no attribute {attr!r}{hint}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise TargetError(f"{spec} is a {type(obj).__name__}, not a class or factory")
    return obj


def _suggest_target(spec: str) -> str:
    """What to try instead of an unknown target name: a close built-in, or ``module:attr``."""
    close = difflib.get_close_matches(spec, list(TARGETS), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}? run `gruverify targets` for the built-in targets"
    module, dot, attr = spec.rpartition(".")
    if dot and module and attr:
        return (
            f"did you mean {module + ':' + attr!r}? a module attribute is named "
            "package.module:attr (with a colon)"
        )
    return (
        "not a built-in (run `gruverify targets` for the list) and not 'package.module:attr' "
        "(your own GRU class, e.g. my_pkg.gru:MyGRU)"
    )


def _returns_implementation(obj: Any) -> bool:
    """True for a callable annotated or documented as returning an ``Implementation``."""
    return bool(getattr(obj, "gruverify_adapter", False)) or (
        inspect.isclass(obj) and all(hasattr(obj, m) for m in ("forward", "gradients", "variant"))
        and "capabilities" in dir(obj)
    )  # fmt: skip


def resolve_target(
    spec: str, *, device: str = "cpu", dtype: str | None = None, cell: bool = False
) -> Implementation:
    """An ``Implementation`` for a built-in name or ``package.module:attr`` (see the module doc).

    Raises ``TargetError`` (a usage error: exit status 2 in the CLI) when the target cannot be
    imported, built or called like ``torch.nn.GRU``.
    """
    if spec in TARGETS:
        return TARGETS[spec][0](device, dtype)
    obj = _load_attr(spec)
    missing = validate_missing(getattr(obj, "gruverify_missing", None), spec)
    variant: Variant = getattr(obj, "gruverify_variant", "reset_after")
    if variant not in ("reset_after", "reset_before"):
        raise TargetError(f"{spec}: gruverify_variant must be 'reset_after' or 'reset_before'")
    if _returns_implementation(obj):
        impl = obj(device=device, dtype=dtype or "float32")
        if not isinstance(impl, Implementation):
            raise TargetError(f"{spec} did not return a gruverify.interface.Implementation")
        return impl
    if cell:
        return TorchCellTarget(
            obj, name=spec, device=device, dtype=dtype or "float32", missing=missing,
            variant=variant,
        )  # fmt: skip
    return TorchModuleTarget(
        obj, name=spec, device=device, dtype=dtype or "float32", missing=missing, variant=variant
    )
