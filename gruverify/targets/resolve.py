"""One resolver for every way of naming a target: a built-in name, ``module:attr``, or the object.

``resolve_target(target, device=, dtype=, declaration=)`` is the only place a target becomes an
``Implementation``: the CLI, the checker, ``gruverify reproduce`` and the pytest plugin all come
here. ``target`` is a registered name (``TARGETS``), ``"package.module:attr"``, a file and its
attribute (``"my_gru.py:MyGRU"``, ``"./pkg/my_gru.py:MyGRU"``: imported under its file name, its
directory first on ``sys.path``), a model file (a path ending in ``.onnx``: one GRU of it,
``gruverify.targets.model_files``), or the attribute
itself (a class or factory object): the object is resolved exactly like its ``module:attr``
(``target_spec`` gives that spec, which is also the target's name). The attribute is a class or
factory with ``torch.nn.GRU``'s constructor (``torch.nn.GRUCell``'s with ``cell=True``), or a
callable that returns an ``Implementation`` itself (the adapter API, docs/adapters.md); it may carry
``gruverify_missing = {feature: reason}``, ``gruverify_variant = "reset_before"`` and
``gruverify_activation_error = e`` (its activations' declared error, ``gruverify.error_model``)
``gruverify_quantization = "int8-dynamic"`` (its integer quantization,
``gruverify.core.quantization``) and ``gruverify_accumulator = "float32"`` (the format its matrix products accumulate in,
``Arithmetic.accumulator``) and ``gruverify_parameter_names = {"weight_hh_l0": "w_hh_l0"}``
(torch.nn.GRU's state-dict names -> its own, for parameters named otherwise).

``build_target`` is ``resolve_target`` as the checker calls it: under a per-call timeout, leaving
torch's state and the random generators as they were, every failure a ``TargetError``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib
import importlib.util
import inspect
import os
import sys
from typing import Any

from gruverify.core.params import ALL_VARIANTS, Variant
from gruverify.core.problem import Implementation
from gruverify.core.quantization import quantization_value
from gruverify.error_model import accumulator_value, activation_error_value
from gruverify.guard import CallTimeout, call, preserved
from gruverify.targets.declaration import CONVENTION_FIELDS, Declaration, declaration_of
from gruverify.targets.errors import TargetError
from gruverify.targets.model_files import file_target, is_model_file
from gruverify.targets.own_gru import OwnGRUTarget
from gruverify.targets.registry import TARGETS
from gruverify.targets.requirements import unavailable
from gruverify.targets.torch_module import (
    PARAMETER_MAP,
    TorchCellTarget,
    TorchModuleTarget,
    validate_missing,
)

__all__ = ["build_target", "load_attr", "resolve_target", "target_spec"]


def target_spec(target: Any) -> str:
    """The spec that names ``target`` on the command line: a string as it is, an object as
    ``module:qualname`` (what ``gruverify check`` imports to get the same object)."""
    if isinstance(target, str):
        return target
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if not module or not qualname:
        return repr(target)
    return f"{module}:{qualname}"


def _is_file(module_name: str) -> bool:
    """``my_gru.py`` or ``./pkg/my_gru.py``: a file path, not a dotted module name."""
    return module_name.endswith(".py") or "/" in module_name or os.sep in module_name


def _import_file(path: str) -> Any:
    """The module in the file ``path``, imported under its file name (its directory first on
    ``sys.path``, so that it imports its neighbours as it would when run from there)."""
    if not os.path.isfile(path):
        raise TargetError(f"cannot import {path!r}: no such file")
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:
        sys.path.insert(0, directory)
    name = os.path.splitext(os.path.basename(path))[0]
    loaded = sys.modules.get(name)
    if loaded is not None and os.path.abspath(
        getattr(loaded, "__file__", "") or ""
    ) == os.path.abspath(path):
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"cannot import {path!r}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_attr(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise TargetError(f"unknown target {spec!r}: {_suggest_target(spec)}")
    try:
        if _is_file(module_name):
            module = _import_file(module_name)
        else:
            module = importlib.import_module(module_name)
    except TargetError:
        raise
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
    return obj


def _suggest_target(spec: str) -> str:
    """What to try instead of an unknown target name: a close built-in, or ``module:attr``."""
    close = difflib.get_close_matches(spec, list(TARGETS), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}? run `gruverify targets` for the built-in targets"
    if spec.endswith(".py"):
        return _file_hint(spec)
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


def _file_hint(path: str) -> str:
    """What to try for a file named without its class: ``did you mean './my_gru.py:MyGRU'?``
    (the file's top-level classes, read without importing it)."""
    import ast

    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, ValueError) as e:
        return f"a file target is PATH.py:CLASS, and {path!r} cannot be read ({e})"
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    classes = [c for c in classes if not c.startswith("_")] or classes
    if not classes:
        return f"a file target is PATH.py:CLASS, and {path!r} defines no class"
    others = f" (or another of its classes: {', '.join(classes[1:])})" if classes[1:] else ""
    return f"did you mean {path + ':' + classes[0]!r}?{others} a file target names its class"


def _returns_implementation(obj: Any) -> bool:
    """True for a callable annotated or documented as returning an ``Implementation``."""
    return bool(getattr(obj, "gruverify_adapter", False)) or (
        inspect.isclass(obj) and all(hasattr(obj, m) for m in ("forward", "gradients", "variant"))
        and "capabilities" in dir(obj)
    )  # fmt: skip


def _takes_declaration(obj: Any) -> bool:
    """True for an adapter whose constructor takes ``declaration=`` (it gets the declaration)."""
    try:
        return "declaration" in inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return False


def _from_attr(obj: Any, spec: str, device: str, dtype: str | None, declaration: Declaration
               ) -> Implementation:  # fmt: skip
    """The ``Implementation`` for the attribute ``obj`` that ``spec`` names, built as
    ``declaration`` says (its variant wins over the class's ``gruverify_variant``; declared
    conventions build a hand-written module, ``OwnGRUTarget``)."""
    if not callable(obj):
        raise TargetError(f"{spec} is a {type(obj).__name__}, not a class or factory")
    missing = validate_missing(getattr(obj, "gruverify_missing", None), spec)
    variant: Variant = declaration.variant or getattr(obj, "gruverify_variant", "reset_after")  # type: ignore[assignment]
    if variant not in ALL_VARIANTS:
        raise TargetError(f"{spec}: gruverify_variant must be one of {', '.join(ALL_VARIANTS)}")
    error = _activation_error(obj, spec)
    accumulator = _accumulator(obj, spec)
    quantization = _quantization(obj, spec)
    impl: Implementation
    cell = declaration.cell
    # the declared rename map (--parameter-name) wins over the class's
    renamed = (
        declaration.parameter_names
        if declaration.parameter_names is not None
        else getattr(obj, PARAMETER_MAP, None)
    )
    if _returns_implementation(obj):
        extra = {"declaration": declaration} if _takes_declaration(obj) else {}
        impl = obj(device=device, dtype=dtype or "float32", **extra)
        if not isinstance(impl, Implementation):
            raise TargetError(f"{spec} did not return a gruverify.interface.Implementation")
        if error is None and accumulator is None and quantization is None:
            return impl
    elif declaration.conventions() or variant == "reset_after_no_bhn":
        conventions = {k: getattr(declaration, k) for k in CONVENTION_FIELDS}
        impl = OwnGRUTarget(
            obj, name=spec, device=device, dtype=dtype or "float32", missing=missing,
            variant=variant, cell=cell, conventions=conventions,
        )  # fmt: skip
    elif cell:
        impl = TorchCellTarget(
            obj, name=spec, device=device, dtype=dtype or "float32", missing=missing,
            variant=variant, parameter_names=renamed,
        )  # fmt: skip
    else:
        impl = TorchModuleTarget(
            obj, name=spec, device=device, dtype=dtype or "float32", missing=missing,
            variant=variant, parameter_names=renamed,
        )  # fmt: skip
    if error is not None:
        impl.activation_error = error  # type: ignore[attr-defined]
    if accumulator is not None:
        impl.accumulator = accumulator  # type: ignore[attr-defined]
    if quantization is not None:
        impl.quantization = quantization  # type: ignore[attr-defined]
    return impl


def _activation_error(obj: Any, spec: str) -> float | None:
    """The class's ``gruverify_activation_error`` (the declared error of its activations,
    ``gruverify.error_model.declared_activation_error``), or None when it declares none."""
    if getattr(obj, "gruverify_activation_error", None) is None:
        return None
    try:
        return activation_error_value(obj.gruverify_activation_error)
    except ValueError as e:
        raise TargetError(f"{spec}: gruverify_{e}") from None


def _quantization(obj: Any, spec: str) -> Any:
    """The class's ``gruverify_quantization`` (its integer quantization, a preset such as
    ``"int8-dynamic"`` or a ``Quantization``: ``gruverify.core.quantization``), or None."""
    try:
        return quantization_value(getattr(obj, "gruverify_quantization", None))
    except ValueError as e:
        raise TargetError(f"{spec}: gruverify_{e}") from None


def _accumulator(obj: Any, spec: str) -> str | None:
    """The class's ``gruverify_accumulator`` (the format its products accumulate in,
    ``gruverify.error_model.declared_accumulator``), or None when it declares none."""
    try:
        return accumulator_value(getattr(obj, "gruverify_accumulator", None))
    except ValueError as e:
        raise TargetError(f"{spec}: gruverify_{e}") from None


def resolve_target(
    target: Any,
    *,
    device: str = "cpu",
    dtype: str | None = None,
    cell: bool = False,
    declaration: Declaration | None = None,
) -> Implementation:
    """An ``Implementation`` for a built-in name, ``package.module:attr`` or the attribute itself
    (see the module doc), built and judged as ``declaration`` says (``cell`` is its ``cell``; its
    declared arithmetic wins over the class's own, ``Declaration.apply``).

    Raises ``TargetError`` (a usage error: exit status 2 in the CLI) when the target cannot be
    imported, built or called like ``torch.nn.GRU``.
    """
    declaration = declaration or Declaration()
    if cell and not declaration.cell:
        declaration = dataclasses.replace(declaration, cell=True)
    if not isinstance(target, str):
        impl = _from_attr(target, target_spec(target), device, dtype, declaration)
    elif target in TARGETS:
        impl = _built_in(target, device, dtype)
    elif is_model_file(target):
        impl = file_target(target, declaration, device, dtype)
    else:
        impl = _from_attr(load_attr(target), target, device, dtype, declaration)
    declaration.apply([impl])
    return impl


def _built_in(name: str, device: str, dtype: str | None) -> Implementation:
    """The built-in target ``name``; when its framework is missing, a ``TargetError`` that
    names the missing modules and the ``pip install 'gruverify[EXTRA]'`` that installs them."""
    try:
        return TARGETS[name][0](device, dtype)
    except (TargetError, ImportError) as e:
        why = unavailable(name)
        if why is None:
            raise
        raise TargetError(f"{name} {why} ({type(e).__name__}: {e})".splitlines()[0]) from e


def build_target(
    target: Any,
    device: str,
    dtype: str | None,
    declaration: Declaration | bool,
    timeout: float | None,
) -> Implementation:
    """``resolve_target`` under the per-call timeout, leaving torch's state and generators as
    they were; any failure to build the target is a ``TargetError`` (a usage error)."""
    spec = target_spec(target)
    with contextlib.suppress(ImportError):  # preserved() keeps torch's state if imported on entry
        import torch  # noqa: F401
    try:
        with preserved():
            return call(
                lambda: resolve_target(
                    target, device=device, dtype=dtype, declaration=declaration_of(declaration)
                ),
                timeout=timeout, what=f"building {spec} on {device}",
            )  # fmt: skip
    except TargetError:
        raise
    except CallTimeout as e:
        raise TargetError(
            f"building {spec} on {device} did not finish within {e.timeout:g} s (its probe "
            "call hangs?); raise --timeout if it is just slow"
        ) from e
    except Exception as e:
        raise TargetError(
            f"cannot build {spec} on {device}: {type(e).__name__}: {e}".splitlines()[0]
        ) from e
