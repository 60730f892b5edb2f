"""Laws on the gates and the cell: gate bounds, box invariance, unrolled cell, closed reset gate.

Gate bounds. In exact arithmetic ``r = sigmoid(a_r)`` and ``z = sigmoid(a_z)`` lie in (0, 1) and
``n = tanh(a_n)`` in (-1, 1). In a floating-point format with unit roundoff ``u`` and smallest
normal number ``tiny``, a faithfully rounded function may return an end point once the exact value
is within one unit in the last place of it, so the open interval can only be required for

    ln(tiny) < a < ln((1 - u) / u)       for sigmoid   (float32: -87.34 < a < 16.64,
                                                          float64: -708.40 < a < 36.74)
    |a| < atanh(1 - u) = ln((2 - u) / u) / 2   for tanh (float32: 8.66, float64: 18.71)

(``gate_thresholds`` computes them from the format; torch's own kernels reach 1.0 later, e.g. tanh
at 10.0 in float32 and 18.99 in float64, which is allowed). Beyond the thresholds the gates must lie
in the closed interval; they must never be NaN when the pre-activation is not NaN.

Box invariance. ``h' = (1 - z) n + z h`` is a convex combination of ``n`` in [-1, 1] and ``h``, so
``||h_t||_inf <= max(||h_{t-1}||_inf, 1)`` at every step, for every layer and direction; with a
rounding slack of ``4 u max(1, ||h_{t-1}||_inf)`` in the gate function's format
(``gruverify.error_model.box_slack``). (Checked here one step at a time through a gate function,
internal layers included: ``law_gate_box_invariance``; the form observable on any implementation's
outputs is ``gruverify.laws.metamorphic.law_box_invariance``.)

Unrolled cell. The sequence output equals the cell ``h_t = cell(x_t, h_{t-1})`` applied step by
step (each layer reading the previous layer's outputs, the reverse direction from ``t = len - 1``
down to 0, steps past a sequence's length leaving its state alone and its output zero): the
reference's stack driver (``numpy_reference.stack_forward``) with the gate function as its step.

Closed reset gate. With ``r = 0`` (pre-activation below the log of the smallest subnormal number,
so the sigmoid underflows to exactly 0) the candidate no longer sees the state: ``n = tanh(W_in x + b_in + b_hn)`` for
reset-before (``W_hn (0 * h) + b_hn = b_hn``) and ``n = tanh(W_in x + b_in)`` for reset-after (the
product ``r * (W_hn h + b_hn)`` removes ``b_hn`` too). So ``n(x, h1) == n(x, h2)`` bit for bit.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from gruverify.core.arithmetic import ARITHMETICS, round_to_dtype
from gruverify.core.dtypes import DTYPES
from gruverify.core.params import GRUCellParams, GRUParams, StackParams, Variant
from gruverify.core.problem import Implementation, Problem, rounded
from gruverify.core.shapes import to_time_major
from gruverify.error_model import (
    ErrorModel,
    box_slack,
    closed_gate_slack,
    compare,
    default_model,
    require_conditioned,
)
from gruverify.laws.base import LawViolation, verdict_violation
from gruverify.reference.numpy_reference import Trace, gru_cell_step, gru_forward, stack_forward

__all__ = [
    "GateFn",
    "GateThresholds",
    "close_reset_gate",
    "gate_thresholds",
    "law_gate_box_invariance",
    "law_closed_reset_gate",
    "law_gate_bounds",
    "law_sequence_equals_unrolled_cell",
    "layer_inputs",
    "numpy_gates",
    "torch_gates",
    "unrolled_forward",
]

GateFn = Callable[[GRUCellParams[np.ndarray], np.ndarray, np.ndarray, Variant], Mapping[str, Any]]
"""``gates(cell, x (N, I), h (N, H), variant)`` -> at least ``a_r, a_z, a_n, r, z, n, h`` (the new
state), each ``(N, H)``, as float64 arrays holding the values the implementation computed."""


@dataclasses.dataclass(frozen=True)
class GateThresholds:
    """Where a faithfully rounded sigmoid / tanh may reach the end points in a format."""

    dtype: str
    unit_roundoff: float
    sigmoid_upper: float
    sigmoid_lower: float
    tanh_upper: float

    def __str__(self) -> str:
        return (
            f"{self.dtype}: sigmoid strictly in (0, 1) for {self.sigmoid_lower:.4g} < a < "
            f"{self.sigmoid_upper:.4g}, tanh strictly in (-1, 1) for |a| < {self.tanh_upper:.4g}"
        )


def gate_thresholds(dtype: str) -> GateThresholds:
    """The thresholds of the module docstring, computed from the format's ``u`` and ``tiny``."""
    import torch

    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected float64, float32, float16, bfloat16")
    fi = torch.finfo(getattr(torch, dtype))
    u = float(fi.eps) / 2.0
    return GateThresholds(
        dtype=dtype,
        unit_roundoff=u,
        sigmoid_upper=math.log((1.0 - u) / u),
        sigmoid_lower=math.log(float(fi.smallest_normal)),
        tanh_upper=0.5 * math.log((2.0 - u) / u),
    )


def numpy_gates(
    cell: GRUCellParams[np.ndarray], x: np.ndarray, h: np.ndarray, variant: Variant
) -> Mapping[str, Any]:
    """The float64 numpy reference's gates (``gru_cell_step``)."""
    _, trace = gru_cell_step(cell, x, h, variant=variant)
    return trace


def torch_gates(dtype: str = "float32", device: str = "cpu") -> GateFn:
    """Gates computed with torch operations in ``dtype`` on ``device`` (the torch reference's
    equations, ``torch_reference.gru_gates``, with ``1 - z`` as ``sigmoid(-a_z)``)."""
    import torch

    from gruverify.reference.torch_reference import gru_gates

    dt = getattr(torch, dtype)

    def gates(
        cell: GRUCellParams[np.ndarray], x: np.ndarray, h: np.ndarray, variant: Variant
    ) -> Mapping[str, Any]:
        c = cell.map(lambda v: torch.as_tensor(np.asarray(v)).to(dtype=dt, device=device))
        xt = torch.as_tensor(np.asarray(x)).to(dtype=dt, device=device)
        ht = torch.as_tensor(np.asarray(h)).to(dtype=dt, device=device)
        out = gru_gates(c, xt, ht, variant)
        return {k: v.detach().to("cpu", torch.float64).numpy() for k, v in out.items()}

    return gates


def layer_inputs(problem: Problem, variant: Variant) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """Per layer: the layer's input ``(T, B, I_l)`` and, per direction, ``h_{t-1}`` ``(T, B, H)``
    along the float64 reference trajectory (time-major, unbatched calls as ``B = 1``)."""
    p = problem
    res = gru_forward(
        p.params, p.x, p.h0, variant=variant, batch_first=p.batch_first, lengths=p.lengths
    )
    seq = to_time_major(np.asarray(p.x, dtype=np.float64), p)
    out = []
    for row in res.traces:
        out.append((seq, [tr["h_prev"] for tr in row]))
        seq = np.concatenate([tr["h"] for tr in row], axis=2)
    return out


def _where(layer: int, d: int, idx: tuple[int, ...]) -> str:
    t, b, i = idx
    return f"layer {layer}, direction {d}, t={t}, batch {b}, unit {i}"


def _gate_values(
    problem: Problem, variant: Variant, gates: GateFn, dtype: str
) -> Iterator[tuple[int, int, np.ndarray, dict[str, np.ndarray]]]:
    """Per layer and direction: ``h_{t-1}`` ``(T, B, H)`` and the gate values ``(T, B, H)`` that
    ``gates`` computes at the float64 reference trajectory, all rounded to ``dtype``."""
    prob = rounded(problem, dtype)
    for layer, (inp, hprevs) in enumerate(layer_inputs(prob, variant)):
        for d, hprev in enumerate(hprevs):
            cell = prob.params.cell(layer, d)
            T, B, _ = hprev.shape
            xs = round_to_dtype(inp.reshape(T * B, -1), dtype)
            hs = round_to_dtype(hprev.reshape(T * B, -1), dtype)
            g = gates(cell, xs, hs, variant)
            yield (
                layer,
                d,
                hs.reshape(T, B, -1),
                {k: np.asarray(v, dtype=np.float64).reshape(T, B, -1) for k, v in g.items()},
            )


def law_gate_bounds(
    problem: Problem,
    variant: Variant,
    gates: GateFn = numpy_gates,
    dtype: str = "float64",
) -> None:
    """Gate bounds (module docstring) for every step of every layer and direction.

    The gates are evaluated by ``gates`` at the states of the float64 reference trajectory, with
    the problem rounded to ``dtype``; thresholds are those of ``dtype``.
    """
    th = gate_thresholds(dtype)
    for layer, d, _, g in _gate_values(problem, variant, gates, dtype):
        for gate, pre, lo, hi, open_lo, open_hi in (
            ("r", "a_r", 0.0, 1.0, th.sigmoid_lower, th.sigmoid_upper),
            ("z", "a_z", 0.0, 1.0, th.sigmoid_lower, th.sigmoid_upper),
            ("n", "a_n", -1.0, 1.0, -th.tanh_upper, th.tanh_upper),
        ):
            v, a = g[gate], g[pre]
            nan = np.isnan(v) & ~np.isnan(a)
            closed = ~nan & ((v < lo) | (v > hi))
            inside = (a > open_lo) & (a < open_hi)
            strict = inside & ((v <= lo) | (v >= hi))
            for kind, bad in (
                ("NaN", nan),
                ("outside the closed interval", closed),
                ("on the end point below the rounding threshold", strict),
            ):
                if bad.any():
                    idx = tuple(int(i) for i in np.argwhere(bad)[0])
                    raise LawViolation(
                        "gate bounds",
                        f"{gate} = {'sigmoid' if gate != 'n' else 'tanh'}({pre}) in "
                        f"({lo:g}, {hi:g}) for {open_lo:.4g} < {pre} < {open_hi:.4g}, "
                        f"[{lo:g}, {hi:g}] beyond, never NaN ({th})",
                        f"{gate} {kind}",
                        {
                            pre: float(a[idx]),
                            gate: float(v[idx]),
                            "where": _where(layer, d, idx),
                            "variant": variant,
                            "dtype": dtype,
                        },
                        problem.describe(),
                    )


def law_gate_box_invariance(
    problem: Problem,
    variant: Variant,
    gates: GateFn = numpy_gates,
    dtype: str = "float64",
) -> None:
    """``||h_t||_inf <= max(||h_{t-1}||_inf, 1) (1 + 4 u)`` for every step of every layer and
    direction (internal layers included), ``h_t`` as ``gates`` computes it in ``dtype`` from
    ``h_{t-1}`` on the float64 reference trajectory. NaN fails.

    The observable form (last-layer outputs and ``h_n`` of any implementation) is
    ``gruverify.laws.metamorphic.law_box_invariance``.
    """
    slack = box_slack(ARITHMETICS[dtype].unit_roundoff)
    for layer, d, hprev, g in _gate_values(problem, variant, gates, dtype):
        prev = np.max(np.abs(hprev), axis=-1)
        cur = np.max(np.abs(g["h"]), axis=-1)
        bound = np.maximum(prev, 1.0) * (1.0 + slack)
        bad = ~(cur <= bound)
        if bad.any():
            t, b = (int(i) for i in np.argwhere(bad)[0])
            raise LawViolation(
                "box invariance",
                "||h_t||_inf <= max(||h_{t-1}||_inf, 1) (h_t is a convex combination of "
                "n in [-1, 1] and h_{t-1})",
                "a state left the box",
                {
                    "||h_prev||_inf": float(prev[t, b]),
                    "||h_t||_inf": float(cur[t, b]),
                    "bound": float(bound[t, b]),
                    "where": f"layer {layer}, direction {d}, t={t}, batch {b}",
                    "variant": variant,
                    "dtype": dtype,
                },
                problem.describe(),
            )


def unrolled_forward(
    problem: Problem, variant: Variant, gates: GateFn = numpy_gates
) -> tuple[np.ndarray, np.ndarray]:
    """``(output, h_n)`` in the problem's layout, by applying the cell one step at a time (the
    reference's stack driver with ``gates``' new state as the step)."""

    def step(
        cell: GRUCellParams[np.ndarray], x: np.ndarray, h: np.ndarray, variant: Variant
    ) -> tuple[np.ndarray, Trace]:
        return np.asarray(gates(cell, x, h, variant)["h"], dtype=np.float64), {}

    p = problem
    res = stack_forward(step, p.params, p.x, p.h0, variant, p.batch_first, p.lengths)
    return res.output, res.h_n


def law_sequence_equals_unrolled_cell(
    impl: Implementation,
    problem: Problem,
    model: ErrorModel | None = None,
    gates: GateFn = numpy_gates,
) -> None:
    """``impl.forward(problem)`` equals the float64 cell unrolled over time, layers and directions
    (``unrolled_forward``), within the error model of ``impl``'s arithmetic (raises
    ``Inconclusive`` when the problem is chaotic at that precision)."""
    m = model or default_model(impl)
    prob = m.reference_problem(problem)
    want_out, want_hn = unrolled_forward(prob, impl.variant, gates)
    _, tol = m.forward(problem, impl.variant)
    require_conditioned(tol, problem)
    got = impl.forward(problem)
    for name, want, have, t in (
        ("output", want_out, got.output, tol.output),
        ("h_n", want_hn, got.h_n, tol.h_n),
    ):
        v = compare(name, want, np.asarray(have), t)
        if not v.ok:
            raise verdict_violation(
                "sequence equals unrolled cell",
                "GRU(x, h0) = (h_1..h_T, h_T) with h_t = cell(x_t, h_{t-1}) per layer and direction",
                v,
                problem.describe(),
                implementation=impl.name,
            )


def close_reset_gate(params: GRUParams, dtype: str = "float64") -> GRUParams:
    """``params`` with every reset gate shut: ``W_ir = W_hr = 0`` and ``b_ir + b_hr`` 10 below the
    log of the smallest subnormal number, so ``r = sigmoid(a_r)`` underflows to exactly 0 in
    ``dtype``."""
    import torch

    fi = torch.finfo(getattr(torch, dtype))
    b = (math.log(float(fi.smallest_normal) * float(fi.eps)) - 10.0) / 2.0

    def shut(c: GRUCellParams[np.ndarray]) -> GRUCellParams[np.ndarray]:
        H = c.hidden_size
        return c.replace(
            W_ir=np.zeros_like(c.W_ir),
            W_hr=np.zeros_like(c.W_hr),
            b_ir=np.full(H, b),
            b_hr=np.full(H, b),
        )

    return StackParams(tuple(tuple(shut(c) for c in row) for row in params.cells), bias=True)


def law_closed_reset_gate(
    cell: GRUCellParams[np.ndarray],
    x: np.ndarray,
    h1: np.ndarray,
    h2: np.ndarray,
    variant: Variant,
    gates: GateFn = numpy_gates,
    dtype: str = "float64",
) -> None:
    """With ``r = 0``: ``n(x, h1) == n(x, h2)`` exactly, and ``n == tanh(W_in x + b_in [+ b_hn])``
    (``b_hn`` for reset-before only) to within ``(k + 2) u m (1 - n^2) + 4 u``, ``m`` the sum of
    the magnitudes the pre-activation adds up and ``k = I + 2`` terms (the order of additions and
    the dot product's rounding may differ: ``gruverify.error_model.closed_gate_slack``)."""
    g1, g2 = gates(cell, x, h1, variant), gates(cell, x, h2, variant)
    r = np.asarray(g1["r"])
    case = f"variant={variant}, dtype={dtype}, x {np.shape(x)}, H={cell.hidden_size}"
    if np.any(r != 0.0):
        idx = tuple(int(i) for i in np.argwhere(r != 0.0)[0])
        raise LawViolation(
            "closed reset gate",
            "a_r < ln(smallest subnormal) => r = sigmoid(a_r) = 0",
            "the reset gate is not closed",
            {"a_r": float(np.asarray(g1["a_r"])[idx]), "r": float(r[idx]), "where": idx},
            case,
        )
    n1, n2 = np.asarray(g1["n"]), np.asarray(g2["n"])
    if not np.array_equal(n1, n2):
        idx = tuple(int(i) for i in np.argwhere(n1 != n2)[0])
        raise LawViolation(
            "closed reset gate",
            "r = 0 => the candidate n does not depend on h",
            "n changed with h",
            {"n(h1)": float(n1[idx]), "n(h2)": float(n2[idx]), "where": idx},
            case,
        )
    pre = np.asarray(x, dtype=np.float64) @ cell.W_in.T + cell.b_in
    if variant == "reset_before":
        pre = pre + cell.b_hn
    want = np.tanh(round_to_dtype(pre, dtype))
    # the sum of the magnitudes the pre-activation adds up, and their count
    mag = np.abs(np.asarray(x, dtype=np.float64)) @ np.abs(cell.W_in.T) + np.abs(cell.b_in)
    mag = mag + (np.abs(cell.b_hn) if variant == "reset_before" else 0.0)
    slack = closed_gate_slack(mag, want, cell.input_size + 2, ARITHMETICS[dtype].unit_roundoff)
    bad = ~(np.abs(n1 - want) <= slack)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise LawViolation(
            "closed reset gate",
            "r = 0 => n = tanh(W_in x + b_in + b_hn) (reset-before), tanh(W_in x + b_in) "
            "(reset-after)",
            "the candidate is not the closed-gate candidate",
            {
                "expected": float(want[idx]),
                "got": float(n1[idx]),
                "slack": float(slack[idx]),
                "where": idx,
            },
            case,
        )
