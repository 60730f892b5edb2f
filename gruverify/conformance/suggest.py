"""``gruverify suggest``: find the declaration under which a hand-written GRU is the reference's.

With nothing declared, the search tries the catalogue of conventions a hand-written torch GRU is
written in, and compares each with the float64 reference on one small problem (forward only):

1. the calling convention, by calling a module built as ``factory(I, H)`` (``I = 4``, ``H = 5``)
   once as a cell (``forward(x (B, I), h (B, H))`` giving ``h'`` (B, H) or ``(y, h')``) and else as a
   layer (``forward(x (T, B, I), h)`` giving ``(output, h_n)``, the outputs, or a list of states),
   each also without ``h`` (``needs_h`` when that fails);
2. for each parameter layout its parameters have (``fused``, ``transposed``, ``concat``: the names
   and shapes in registration order, ``gruverify.layouts.param_map.preset``), every variant x update
   convention x gate order (3 x 2 x 6); for one matrix per gate with its own names, the explicit
   maps of every gate order and both orientations of the recurrent matrices
   (``gruverify.layouts.param_map.per_gate_maps``, 12 maps) x variant x update convention; one
   built module reloaded per candidate.

A candidate explains the target when its largest difference from the reference is within
``EXPLAINED[dtype]`` (float64 where the module runs in it, else float32). None explaining it is a
real bug, not a convention: ``Suggestion.closest`` holds the nearest candidates and their errors.
``toml`` writes a declaration as a ``[tool.gruverify.target."NAME"]`` table that
``gruverify check NAME --config FILE`` reads.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from gruverify.core.options import fields_of
from gruverify.core.params import ALL_VARIANTS, Variant, random_gru_params
from gruverify.core.problem import Problem
from gruverify.layouts.errors import LayoutError
from gruverify.layouts.param_map import GATE_ORDERS, LAYOUTS, UPDATES, per_gate_maps, preset
from gruverify.reference.numpy_reference import gru_forward
from gruverify.targets.declaration import CONVENTION_FIELDS, Declaration
from gruverify.targets.errors import TargetError
from gruverify.targets.own_gru import OwnGRUTarget

__all__ = [
    "EXPLAINED",
    "Candidate",
    "Suggestion",
    "calling_convention",
    "explaining_declaration",
    "suggest",
    "toml",
]

EXPLAINED = {"float64": 1e-9, "float32": 1e-4}
"""The largest difference from the float64 reference that a candidate may have and still explain
the target: rounding in float64 on a problem of 3 steps, 5 units (errors of order 1e-15), in float32
(order 1e-7); a wrong convention differs by order 1e-2 or more."""

SIZES = {"I": 4, "H": 5, "T": 3, "B": 2}


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One declaration tried and its largest difference from the reference (inf: it did not run,
    ``note`` says why)."""

    declaration: Declaration
    error: float
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Suggestion:
    """The search's answer: ``found`` (the first candidate that explains the target, or None),
    ``closest`` (the best candidates, nearest first) and ``tried`` (how many ran)."""

    target: str
    dtype: str
    found: Candidate | None
    closest: tuple[Candidate, ...]
    tried: int


def _tensor(torch: Any, shape: tuple[int, ...], dtype: Any, seed: int) -> Any:
    return torch.as_tensor(np.random.default_rng(seed).uniform(-1, 1, shape), dtype=dtype)


def _shape_of(value: Any) -> tuple[int, ...] | None:
    return tuple(value.shape) if hasattr(value, "shape") else None


def _as_cell(module: Any, torch: Any, dt: Any) -> dict[str, Any] | None:
    """The cell convention ``module`` follows, or None when it is not a cell."""
    B, I, H = SIZES["B"], SIZES["I"], SIZES["H"]
    x, h = _tensor(torch, (B, I), dt, 1), _tensor(torch, (B, H), dt, 2)
    try:
        out = module(x, h)
    except Exception:
        return None
    if _shape_of(out) == (B, H):
        returns = "state"
    elif isinstance(out, (tuple, list)) and len(out) == 2 and _shape_of(out[1]) == (B, H):
        returns = "pair"
    else:
        return None
    try:
        module(x)
        needs_h = False
    except Exception:
        needs_h = True
    return {"cell": True, "returns": returns, "needs_h": needs_h}


def _as_layer(module: Any, torch: Any, dt: Any) -> dict[str, Any] | None:
    """The layer convention ``module`` follows, or None."""
    T, B, I, H = SIZES["T"], SIZES["B"], SIZES["I"], SIZES["H"]
    xs, h = _tensor(torch, (T, B, I), dt, 3), _tensor(torch, (B, H), dt, 2)
    try:
        out = module(xs, h)
    except Exception:
        return None
    if isinstance(out, tuple) and len(out) == 2 and _shape_of(out[0]) == (T, B, H):
        returns = "pair"
    elif isinstance(out, (list, tuple)) and len(out) == T and _shape_of(out[0]) == (B, H):
        returns = "list"
    elif _shape_of(out) == (T, B, H):
        returns = "outputs"
    else:
        return None
    try:
        module(xs)
        needs_h = False
    except Exception:
        needs_h = True
    return {"cell": False, "returns": returns, "needs_h": needs_h}


def calling_convention(factory: Callable[..., Any]) -> tuple[dict[str, Any], str]:
    """``({cell, returns, needs_h}, dtype)``: how a module built as ``factory(I, H)`` is called,
    in float64 where it runs in float64, else float32; ``TargetError`` when neither a cell nor a
    layer call works."""
    import torch

    for dtype in ("float64", "float32"):
        dt = getattr(torch, dtype)
        try:
            module = factory(SIZES["I"], SIZES["H"]).to(dtype=dt)
        except Exception as e:
            raise TargetError(f"cannot build factory(input_size, hidden_size): {e}") from e
        with torch.no_grad():
            found = _as_cell(module, torch, dt) or _as_layer(module, torch, dt)
        if found:
            return found, dtype
    raise TargetError(
        "neither forward(x (B, I), h (B, H)) -> h' (a cell) nor forward(x (T, B, I), h (B, H)) -> "
        "(output, h_n) | output | [h_t] (a layer) works: write a factory (docs/adapters.md)"
    )


def _structures(factory: Callable[..., Any]) -> list[dict[str, Any]]:
    """The parameter structures of ``factory(I, H)`` to try: ``{"layout": L}`` for each preset
    that fits its parameters, ``{"params": map}`` for each per-gate map (``per_gate_maps``: one
    matrix per gate with its own names, in every gate order)."""
    module = factory(SIZES["I"], SIZES["H"])
    shapes = [(n, tuple(p.shape)) for n, p in module.named_parameters()]
    out: list[dict[str, Any]] = []
    for layout in LAYOUTS:
        try:
            preset(layout, "rzn", shapes, SIZES["I"], SIZES["H"])
        except LayoutError:
            continue
        out.append({"layout": layout})
    for order in GATE_ORDERS:
        for pmap in per_gate_maps(shapes, SIZES["I"], SIZES["H"], order):
            out.append({"params": tuple((k, slot.text()) for k, slot in pmap.slots)})
    return out


def _candidates(calling: dict[str, Any], structures: list[dict[str, Any]]) -> Iterator[Declaration]:
    """Every declaration of the catalogue, the most common conventions first."""
    for structure in structures:
        orders = GATE_ORDERS if "layout" in structure else (None,)
        for variant, update, order in itertools.product(ALL_VARIANTS, UPDATES, orders):
            yield Declaration(
                cell=calling["cell"], needs_h=calling["needs_h"], returns=calling["returns"],
                variant=variant, update=update, gate_order=order, **structure,
            )  # fmt: skip


def _problem() -> Problem:
    T, B, I, H = SIZES["T"], SIZES["B"], SIZES["I"], SIZES["H"]
    rng = np.random.default_rng(7)
    params = random_gru_params(I, H, rng=11)
    return Problem(params, rng.uniform(-1, 1, (T, B, I)), rng.uniform(-1, 1, (1, B, H)))


def _try(factory: Callable[..., Any], d: Declaration, dtype: str, modules: dict[Any, Any],
         problem: Problem) -> Candidate:  # fmt: skip
    """``d``'s largest difference from the reference on ``problem`` (inf when it cannot run)."""
    conventions = {k: getattr(d, k) for k in CONVENTION_FIELDS}
    variant: Variant = d.variant  # type: ignore[assignment]
    try:
        impl = OwnGRUTarget(factory, name="suggest", dtype=dtype, variant=variant, cell=d.cell,
                            conventions=conventions, modules=modules, probe=False)  # fmt: skip
        got = impl.forward(problem)
    except Exception as e:
        return Candidate(d, float("inf"), f"{type(e).__name__}: {e}".splitlines()[0])
    ref = gru_forward(problem.params, problem.x, problem.h0, variant=variant)
    err = max(
        float(np.max(np.abs(got.output - ref.output))), float(np.max(np.abs(got.h_n - ref.h_n)))
    )
    return Candidate(d, err if np.isfinite(err) else float("inf"))


def suggest(factory: Callable[..., Any], name: str, *, closest: int = 3) -> Suggestion:
    """Search the catalogue (module doc) for the declaration that explains ``factory``'s GRU."""
    calling, dtype = calling_convention(factory)
    structures = _structures(factory)
    if not structures:
        raise TargetError(
            f"{name}: its parameters fit none of the layouts {', '.join(LAYOUTS)} nor one matrix "
            "per gate; declare an explicit parameter map (params, docs/adapters.md)"
        )
    modules: dict[Any, Any] = {}
    problem = _problem()
    tried: list[Candidate] = []
    for d in _candidates(calling, structures):
        c = _try(factory, d, dtype, modules, problem)
        tried.append(c)
        if c.error <= EXPLAINED[dtype]:
            return Suggestion(name, dtype, c, (c,), len(tried))
    ranked = sorted(tried, key=lambda c: c.error)
    return Suggestion(name, dtype, None, tuple(ranked[:closest]), len(tried))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):  # a parameter map: an inline table
        return "{" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value) + "}"
    return json.dumps(value)


def toml(target: str, declaration: Declaration) -> str:
    """``declaration``'s non-default fields as a ``[tool.gruverify.target."TARGET"]`` table."""
    lines = [f"[tool.gruverify.target.{json.dumps(target)}]"]
    for name, _, default in fields_of(Declaration):
        value = getattr(declaration, name)
        if value != default and value is not None:
            lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def explaining_declaration(impl: Any) -> str | None:
    """For a hand-written GRU checked through a declaration (``OwnGRUTarget``, guarded or not)
    that fails: the sentence naming the declaration under which it matches the reference, when
    the search finds one; None otherwise (another kind of target, or no convention explains it)."""
    inner = getattr(impl, "unguarded", impl)
    if not isinstance(inner, OwnGRUTarget):
        return None
    try:
        found = suggest(inner.factory, inner.name)
    except Exception:
        return None
    if found.found is None:
        return None
    d = found.found.declaration
    keys = ", ".join(
        f"{k} = {_toml_value(getattr(d, k))}"
        for k in ("variant", "update", "gate_order", "layout", "returns", "needs_h")
    )
    return f"it matches the reference (max error {found.found.error:.2g}) when declared {keys}"
