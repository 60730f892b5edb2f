"""Metamorphic laws: relations between calls of one implementation, with no access to its gates.

Each law transforms a ``Problem``, runs the implementation on both forms, and checks a relation the
GRU equations imply. Where two runs should agree, the tolerance is the sum of the error model's
forward tolerances of the two problems (each run may be off by its own tolerance:
``gruverify.error_model.agreement_tolerance``); where a bound holds exactly, the slack is a few
units of roundoff. Laws (time-major notation, ``D`` directions):

- h0 = None:       ``f(x, None) = f(x, 0)``;
- box invariance:  ``|h_t,i| <= max(|h_{t-1},i|, 1)`` elementwise, since ``h_t`` is a convex
                   combination of ``h_{t-1}`` and ``n in (-1, 1)``; hence ``|h_n| <= max(|h0|, 1)``;
- carry-over:      with ``b_iz`` raised until every ``a_z >= 30``, ``1 - z <= sigmoid(-30)`` and
                   ``|h_t - h_0|_inf <= t * sigmoid(-30) * (1 + |h_0|_inf)``: outputs stay at ``h0``;
- batch:           ``f(x[:, P])[:, i] = f(x)[:, P[i]]`` for a permutation ``P``, and
                   ``f(x[:, b:b+1]) = f(x)[:, b:b+1]`` (each sequence alone equals its row);
- chunking:        ``f(x[k:], h_k) = f(x)[k:]`` where ``(y, h_k) = f(x[:k], h0)`` (one direction);
- directions:      forward half ``= f_fwd(x)``, reverse half ``= flip(f_rev(flip(x)))``;
- stacking:        an ``L``-layer stack equals ``L`` one-layer runs, each reading the previous output;
- lengths:         with packed lengths ``l_b``, row ``b`` equals ``f(x[:l_b, b])`` and is 0 beyond;
- dropout:         a stack built with ``dropout > 0`` equals ``dropout = 0`` in eval mode;
- determinism:     two identical calls give bit-identical results;
- instance reuse:  ``f(p)``, then a different call, then ``f(p)`` again: the same answer.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from gruverify.core.arithmetic import worst_entry
from gruverify.core.bounds import (
    gate_reach,
    input_bound,
    layer_input_bound,
    state_bound,
)
from gruverify.core.params import GRUCellParams, StackParams
from gruverify.core.problem import Implementation, Outputs, Problem, rounded
from gruverify.core.shapes import (
    from_time_major,
    state_from_batched,
    state_to_batched,
    to_time_major,
)
from gruverify.error_model import (
    ErrorModel,
    Tolerance,
    agreement_tolerance,
    box_slack,
    carried_state_tolerance,
    compare,
    default_model,
    require_in_range,
)
from gruverify.laws.base import Inconclusive, LawViolation, verdict_violation
from gruverify.reference.numpy_reference import sigmoid

__all__ = [
    "CARRY_MARGIN",
    "law_batch_first_equals_time_major",
    "law_batch_independence",
    "law_box_invariance",
    "law_carry_over",
    "law_chunked_continuation",
    "law_deterministic",
    "law_direction_alignment",
    "law_eval_without_dropout",
    "law_h0_none_is_zeros",
    "law_instance_reuse",
    "law_layer_stacking",
    "law_rejects_bad_initial_state",
    "law_lengths_truncation",
]

CARRY_MARGIN = 30.0
"""Carry-over sets every update-gate pre-activation to at least this value."""


# --- layout helpers: everything is compared time-major, batched: (T, B, F) and (L*D, B, H) ---


def _tm_state(a: np.ndarray | None, problem: Problem) -> np.ndarray | None:
    return None if a is None else state_to_batched(a, problem)


def _outputs_tm(out: Outputs, problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    p = problem.params
    T, state = problem.steps, _state_shape(problem)
    want_out = (*state[1:-1], p.hidden_size * p.num_directions)
    want_out = (want_out[0], T, want_out[1]) if problem.batch_first and problem.batched else (
        (T, *want_out)
    )  # fmt: skip
    for name, got, want in (("output", out.output, want_out), ("h_n", out.h_n, state)):
        if tuple(np.shape(got)) != tuple(want):
            raise LawViolation(
                "output shapes", "output (T, B, D*H) in the caller's layout, h_n (L*D, B, H)",
                f"{name} has shape {tuple(np.shape(got))}, expected {tuple(want)}",
                {"quantity": name, "expected": tuple(want), "got": tuple(np.shape(got))},
                problem.describe(),
            )  # fmt: skip
    h_n = _tm_state(out.h_n, problem)
    assert h_n is not None
    return to_time_major(np.asarray(out.output), problem), h_n


def _make(
    problem: Problem,
    x_tm: np.ndarray,
    h0_tm: np.ndarray | None,
    params: StackParams[Any] | None = None,
    lengths: np.ndarray | None = None,
) -> Problem:
    """A problem in ``problem``'s layout (batch-first / unbatched) from time-major arrays."""
    x = from_time_major(x_tm, problem)
    h0 = None if h0_tm is None else state_from_batched(h0_tm, problem)
    return dataclasses.replace(
        problem,
        params=problem.params if params is None else params,
        x=np.array(x, dtype=np.float64, order="C"),  # positive strides: targets call torch.tensor
        h0=None if h0 is None else np.array(h0, dtype=np.float64, order="C"),
        lengths=lengths,
    )


def _agree_runs(
    law: str, formula: str, first: Outputs, second: Outputs, tol: Tolerance, problem: Problem
) -> None:
    """Two runs of one problem agree: ``output``, then ``h_n``, each within ``2 tol``."""
    _agree(law, formula, "output", first.output, second.output, (tol.output, tol.output), problem)
    _agree(law, formula, "h_n", first.h_n, second.h_n, (tol.h_n, tol.h_n), problem)


def _run_from_stored_h0(
    impl: Implementation, problem: Problem, storage: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``impl``'s output and ``h_n``, time-major, and the initial state they start from as
    ``impl`` stores it (rounded to ``storage``; zeros for ``h0=None``), time-major ``(L * D, B,
    H)``: what the laws that follow the state from ``h0`` compare against."""
    out, h_n = _outputs_tm(impl.forward(problem), problem)
    h0 = _tm_state(rounded(problem, storage).h0, problem)
    return out, h_n, np.zeros(np.shape(h_n)) if h0 is None else h0


def _state_shape(problem: Problem) -> tuple[int, ...]:
    p = problem.params
    batch = (int(np.shape(problem.x)[0 if problem.batch_first else 1]),) if problem.batched else ()
    return (p.num_layers * p.num_directions, *batch, p.hidden_size)


def _model(impl: Implementation, model: ErrorModel | None) -> ErrorModel:
    return model or default_model(impl)


def _tol(model: ErrorModel, problem: Problem, impl: Implementation) -> Tolerance:
    return model.judged_forward(problem, impl.variant)[1]


def _agree(
    law: str,
    formula: str,
    quantity: str,
    expected: np.ndarray,
    got: np.ndarray,
    tolerances: tuple[float, ...],
    problem: Problem,
) -> None:
    """``|expected - got|_inf`` within the sum of the compared results' own tolerances
    (``agreement_tolerance``: ``(tol, tol)`` for two runs on one problem, ``(tol,)`` for one result
    against an exact expectation)."""
    if np.shape(expected) != np.shape(got):
        raise LawViolation(
            law, formula, f"{quantity} has shape {np.shape(got)}, expected {np.shape(expected)}",
            {"quantity": quantity}, problem.describe(),
        )  # fmt: skip
    v = compare(quantity, expected, got, agreement_tolerance(*tolerances))
    if not v.ok:
        raise verdict_violation(law, formula, v, problem.describe())


def _without_lengths(problem: Problem) -> Problem:
    return problem if problem.lengths is None else dataclasses.replace(problem, lengths=None)


def _x_tm(problem: Problem) -> np.ndarray:
    return to_time_major(np.asarray(problem.x, dtype=np.float64), problem)


# --- the laws -----------------------------------------------------------------------------------


def law_h0_none_is_zeros(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """``f(x, h0=None) = f(x, h0=0)`` within ``2 tol``."""
    model = _model(impl, model)
    p_none = dataclasses.replace(problem, h0=None)
    p_zero = dataclasses.replace(problem, h0=np.zeros(_state_shape(problem)))
    tol = _tol(model, p_none, impl)
    b = impl.forward(p_zero)  # first, so state leaking from it into the None call shows
    a = impl.forward(p_none)
    _agree_runs("h0=None equals zeros", "f(x, None) == f(x, zeros)", b, a, tol, problem)


def law_box_invariance(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """``|h_t,i| <= max(|h_{t-1},i|, 1) + slack`` on the last layer's outputs, ``|h_n| <= max(|h0|, 1)``.

    ``h_t = (1 - z) n + z h_{t-1}`` with ``z in [0, 1]`` and ``|n| <= 1`` is a convex combination,
    so no element can leave the box ``[-max(|h_{t-1},i|, 1), max(|h_{t-1},i|, 1)]``. The slack is
    ``BOX_SLACK u max(1, |h_{t-1},i|)`` = ``4 u max(1, |h_{t-1},i|)`` for the arithmetic's unit
    roundoff ``u`` (``gruverify.error_model.box_slack``, as in ``gruverify.laws.gates``): with
    ``z``, ``n`` in their closed intervals,
    three roundings (``1 - z``, the products, the sum) give at most ``max(1, |h|) (1 + u)^3 <
    max(1, |h|) (1 + 4 u)``. A declared activation error ``e`` (``Arithmetic.activation_error``:
    ``|n| <= 1 + e``, ``z in [-e, 1 + e]``) adds ``3 e`` per step (``|1 - z| + |z| <= 1 + 2 e``;
    ``3 e T`` for ``h_n`` against ``h0``). A state beyond that with ``|h_prev| <= 1`` means the
    candidate ``tanh`` (or a gate) left its closed interval; the message says so (onnxruntime
    1.32's GRU returns ``1 + 2^-21 = 1 + 8 u`` in float32 for a saturated candidate,
    docs/checker.md). How far beyond is a warning rather than a failure is the check's policy
    (``gruverify.conformance.checks.within_a_few_units``).
    """
    model = _model(impl, model)
    u = model.arithmetic.unit_roundoff
    slack = box_slack(u, model.arithmetic.activation_error)
    problem = _without_lengths(problem)
    require_in_range(problem, model.arithmetic)
    out, h_n, h0 = _run_from_stored_h0(impl, problem, model.arithmetic.storage)
    p = problem.params
    L, D, H = p.num_layers, p.num_directions, p.hidden_size
    T = out.shape[0]
    law = "box invariance"
    formula = "|h_t,i| <= max(|h_{t-1},i|, 1) (convex combination of h_{t-1} and n in (-1, 1))"

    def check(quantity: str, prev: np.ndarray, cur: np.ndarray, where: str, steps: int = 1) -> None:
        bound = np.maximum(np.abs(prev), 1.0)
        allowed = slack + (steps - 1) * 3.0 * model.arithmetic.activation_error
        excess = np.abs(cur) - bound * (1.0 + allowed)
        if not np.all(excess <= 0):  # NaN fails too
            i, _ = worst_entry(excess)
            over = abs(float(cur[i])) - float(bound[i])
            raise LawViolation(
                law,
                formula,
                f"{quantity}{where}: |h| = {abs(cur[i]):.10g} exceeds the box |h| <= "
                f"max(|h_prev|, 1) = {bound[i]:.10g} by {over:.3g} ({over / u:.3g} u; slack "
                f"{allowed / u:.3g} u) at index {tuple(int(k) for k in i)}{_box_cause(float(prev[i]))}",
                {
                    "quantity": quantity,
                    "bound": float(bound[i]),
                    "got": float(cur[i]),
                    "h_prev": float(prev[i]),
                    "excess": over,
                    "slack": allowed * float(bound[i]),
                    "u": u,
                    "index": tuple(int(k) for k in i),
                },
                problem.describe(),
            )

    for d in range(D):
        prev = h0[(L - 1) * D + d]
        order = range(T) if d == 0 else range(T - 1, -1, -1)
        for t in order:
            cur = out[t, :, d * H : (d + 1) * H]
            check("output", prev, cur, f" (t={t}, direction {d})")
            prev = cur
    check("h_n", h0, h_n, " (vs h0)", steps=T)  # a declared activation error adds up over T


def _box_cause(h_prev: float) -> str:
    """What leaving the box implies: with ``|h_prev| <= 1`` only ``|n| > 1`` (tanh beyond its
    closed interval [-1, 1]) or a gate outside [0, 1] can do it."""
    if np.isnan(h_prev):
        return ""
    if abs(h_prev) <= 1.0:
        return (
            ": from |h_prev| <= 1 only a candidate tanh > 1 in magnitude (n outside [-1, 1]) or "
            "a gate outside [0, 1] leaves the box"
        )
    return ": h' is not a convex combination of h_prev and n in [-1, 1] (a gate outside [0, 1])"


def _carry_params(problem: Problem) -> StackParams[Any]:
    x_max, h_max = input_bound(problem.x), state_bound(problem.h0)
    rows = []
    for layer, row in enumerate(problem.params.cells):
        new_row = []
        in_max = layer_input_bound(layer, x_max, h_max)
        for c in row:
            # the most a_z can fall below b_iz + b_hz (gruverify.core.bounds, bound 2)
            reach = gate_reach(c.W_iz, c.W_hz, in_max, h_max) - (c.b_iz + c.b_hz)
            shift = CARRY_MARGIN + max(0.0, float(np.max(reach))) + 1.0
            new_row.append(GRUCellParams(**{**dict(c.items()), "b_iz": c.b_iz + shift}))
        rows.append(tuple(new_row))
    return StackParams(tuple(rows), bias=True)


def law_carry_over(impl: Implementation, problem: Problem, model: ErrorModel | None = None) -> None:
    """With the update gate saturated (every ``a_z >= 30`` via ``b_iz``), outputs stay at ``h0``.

    ``|h_t - h_{t-1}|_inf <= (1 - z)(1 + |h|_inf)`` and ``1 - z <= sigmoid(-30) = 9.4e-14``, so
    ``|y_t - h0_last|_inf <= T (sigmoid(-30) (1 + |h0|) + 4 u |h0|) + 4 u max(1, |h0|)`` for every
    output ``y_t`` (both directions read the last layer's ``h0``) and ``|h_n - h0| <=`` the same;
    a declared activation error ``e`` adds ``e`` to ``sigmoid(-30)`` (``1 - z`` may be off by it).
    """
    if not problem.bias:
        raise Inconclusive("carry-over sets b_iz: it needs a stack with biases")
    model = _model(impl, model)
    u = model.arithmetic.unit_roundoff
    problem = _without_lengths(problem)
    carry = dataclasses.replace(problem, params=_carry_params(problem))
    require_in_range(carry, model.arithmetic)
    out, h_n, h0 = _run_from_stored_h0(impl, carry, model.arithmetic.storage)
    p = carry.params
    L, D, H = p.num_layers, p.num_directions, p.hidden_size
    T, B = out.shape[0], out.shape[1]
    hinf = state_bound(h0)
    eps = float(sigmoid(np.array(-CARRY_MARGIN))) + model.arithmetic.activation_error
    tol = carried_state_tolerance(T, eps, hinf, u)
    expected = np.concatenate(
        [np.broadcast_to(h0[(L - 1) * D + d], (T, B, H)) for d in range(D)], 2
    )
    law = "carry-over (update gate saturated by b_iz)"
    formula = "z -> 1  =>  h_t = h_{t-1}: every output equals h0 of the last layer, h_n = h0"
    _agree(law, formula, "output", expected, out, (tol,), carry)
    _agree(law, formula, "h_n", h0, h_n, (tol,), carry)


def law_batch_independence(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """Permuting the batch permutes the outputs; each sequence alone equals its row (``2 tol``)."""
    if not problem.batched:
        raise Inconclusive("batch independence needs a batched input")
    model = _model(impl, model)
    tol = _tol(model, problem, impl)
    out, h_n = _outputs_tm(impl.forward(problem), problem)
    x = _x_tm(problem)
    h0 = _tm_state(problem.h0, problem)
    B = x.shape[1]
    perm = np.random.default_rng(B).permutation(B)
    if B > 1 and np.array_equal(perm, np.arange(B)):
        perm = np.roll(perm, 1)
    lengths = None if problem.lengths is None else np.asarray(problem.lengths)
    permuted = _make(
        problem, x[:, perm], None if h0 is None else h0[:, perm], None,
        None if lengths is None else lengths[perm],
    )  # fmt: skip
    out_p, hn_p = _outputs_tm(impl.forward(permuted), permuted)
    law = "batch independence"
    f_perm = "f(x[:, P])[:, i] == f(x)[:, P[i]]"
    _agree(law, f_perm, "output (permuted batch)", out[:, perm], out_p,
           (tol.output, tol.output), permuted)  # fmt: skip
    _agree(law, f_perm, "h_n (permuted batch)", h_n[:, perm], hn_p, (tol.h_n, tol.h_n), permuted)
    f_alone = "f(x[:, b:b+1]) == f(x)[:, b:b+1]"
    for b in range(B):
        alone = _make(
            problem, x[:, b : b + 1], None if h0 is None else h0[:, b : b + 1], None,
            None if lengths is None else lengths[b : b + 1],
        )  # fmt: skip
        out_b, hn_b = _outputs_tm(impl.forward(alone), alone)
        _agree(law, f_alone, f"output (sequence {b} alone)", out[:, b : b + 1], out_b,
               (tol.output, tol.output), problem)  # fmt: skip
        _agree(law, f_alone, f"h_n (sequence {b} alone)", h_n[:, b : b + 1], hn_b,
               (tol.h_n, tol.h_n), problem)  # fmt: skip


def law_chunked_continuation(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """``(y1, h_k) = f(x[:k], h0)``, ``(y2, h) = f(x[k:], h_k)``: ``[y1; y2] = f(x)``, ``h = h_n``.

    ``k = T // 2``; one direction only (the reverse direction cannot resume mid-sequence).
    """
    if problem.bidirectional:
        raise Inconclusive("chunked continuation needs a one-direction stack")
    if problem.steps < 2:
        raise Inconclusive("chunked continuation needs at least 2 time steps")
    model = _model(impl, model)
    problem = _without_lengths(problem)
    tol = _tol(model, problem, impl)
    out, h_n = _outputs_tm(impl.forward(problem), problem)
    x = _x_tm(problem)
    h0 = _tm_state(problem.h0, problem)
    k = problem.steps // 2
    first = _make(problem, x[:k], h0)
    y1, h_k = _outputs_tm(impl.forward(first), first)
    second = _make(problem, x[k:], h_k)
    tol2 = _tol(model, second, impl)
    y2, h2 = _outputs_tm(impl.forward(second), second)
    law = "chunked continuation"
    formula = f"f(x[{k}:], h_{k}) continues f(x[:{k}], h0): equals f(x)"
    _agree(law, formula, "output", out, np.concatenate([y1, y2]), (tol.output, tol2.output),
           problem)  # fmt: skip
    _agree(law, formula, "h_n", h_n, h2, (tol.h_n, tol2.h_n), problem)


def law_batch_first_equals_time_major(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """``f_bf(x^T) = f_tm(x)^T``: the batch-first layout computes the time-major result, transposed.

    ``x^T`` swaps the time and batch axes of the input (and of the output); ``h_n`` is
    ``(L * D, B, H)`` in both layouts and must be equal.
    """
    if not problem.batched:
        raise Inconclusive("batch_first needs a batched input")
    if not impl.capabilities.supports("batch_first"):
        raise Inconclusive(
            f"the target lacks batch_first: {impl.capabilities.reason('batch_first')}"
        )
    model = _model(impl, model)
    tol = _tol(model, problem, impl)
    x = _x_tm(problem)
    h0 = _tm_state(problem.h0, problem)
    tm = dataclasses.replace(_make(dataclasses.replace(problem, batch_first=False), x, h0),
                             lengths=problem.lengths)  # fmt: skip
    bf = dataclasses.replace(_make(dataclasses.replace(problem, batch_first=True), x, h0),
                             lengths=problem.lengths)  # fmt: skip
    y_tm, h_tm = _outputs_tm(impl.forward(tm), tm)
    y_bf, h_bf = _outputs_tm(impl.forward(bf), bf)
    law = "batch_first equals time-major"
    formula = "f(x.transpose(0, 1), batch_first=True) == f(x).transpose(0, 1), same h_n"
    _agree_runs(law, formula, Outputs(y_tm, h_tm), Outputs(y_bf, h_bf), tol, problem)


def law_direction_alignment(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """On the first layer of a bidirectional stack: forward half ``= f_fwd(x)``; reverse half
    ``= flip(f_rev(flip(x)))``; ``h_n = [h_fwd; h_rev]`` (each direction vs a one-direction run)."""
    if not problem.bidirectional:
        raise Inconclusive("direction alignment needs a bidirectional stack")
    model = _model(impl, model)
    p = problem.params
    H = p.hidden_size
    x = _x_tm(dataclasses.replace(problem, lengths=None))
    h0 = _tm_state(problem.h0, problem)
    one = _make(problem, x, None if h0 is None else h0[0:2],
                StackParams((p.cells[0],), bias=p.bias))  # fmt: skip
    tol = _tol(model, one, impl)
    out, h_n = _outputs_tm(impl.forward(one), one)
    law = "direction alignment"
    fwd = _make(problem, x, None if h0 is None else h0[0:1],
                StackParams(((p.cells[0][0],),), bias=p.bias))  # fmt: skip
    rev = _make(problem, x[::-1], None if h0 is None else h0[1:2],
                StackParams(((p.cells[0][1],),), bias=p.bias))  # fmt: skip
    tf, tr = _tol(model, fwd, impl), _tol(model, rev, impl)
    yf, hf = _outputs_tm(impl.forward(fwd), fwd)
    yr, hr = _outputs_tm(impl.forward(rev), rev)
    f1 = "bidirectional output[..., :H] == one-direction run of the forward cell"
    _agree(law, f1, "output (forward half)", out[..., :H], yf, (tol.output, tf.output), one)
    _agree(law, f1, "h_n (forward direction)", h_n[0:1], hf, (tol.h_n, tf.h_n), one)
    f2 = "bidirectional output[..., H:] == flip(forward run of the reverse cell on flip(x))"
    _agree(law, f2, "output (reverse half)", out[..., H:], yr[::-1], (tol.output, tr.output), one)
    _agree(law, f2, "h_n (reverse direction)", h_n[1:2], hr, (tol.h_n, tr.h_n), one)


def law_layer_stacking(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """An ``L``-layer stack equals ``L`` one-layer runs: layer ``l`` reads layer ``l-1``'s output
    and starts from ``h0[l D : (l + 1) D]``; ``h_n`` is their final states in order."""
    if problem.num_layers < 2:
        raise Inconclusive("layer stacking needs at least 2 layers")
    model = _model(impl, model)
    problem = _without_lengths(problem)
    tol = _tol(model, problem, impl)
    out, h_n = _outputs_tm(impl.forward(problem), problem)
    p = problem.params
    D = p.num_directions
    h0 = _tm_state(problem.h0, problem)
    seq = _x_tm(problem)
    finals = []
    tol_sum_out = tol_sum_hn = 0.0
    for layer, row in enumerate(p.cells):
        sub = _make(problem, seq, None if h0 is None else h0[layer * D : (layer + 1) * D],
                    StackParams((row,), bias=p.bias))  # fmt: skip
        ts = _tol(model, sub, impl)
        tol_sum_out = agreement_tolerance(tol_sum_out, ts.output)
        tol_sum_hn = agreement_tolerance(tol_sum_hn, ts.h_n)
        seq, hn_l = _outputs_tm(impl.forward(sub), sub)
        finals.append(hn_l)
    law = "layer stacking"
    formula = "stack(x) == layer_L(...layer_1(x)), h_n == [h_n of each layer]"
    _agree(law, formula, "output", out, seq, (tol.output, tol.output, tol_sum_out), problem)
    _agree(law, formula, "h_n", h_n, np.concatenate(finals), (tol.h_n, tol.h_n, tol_sum_hn),
           problem)  # fmt: skip


def law_lengths_truncation(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """With packed lengths ``l_b``: ``f(x)[:l_b, b] = f(x[:l_b, b])``, ``f(x)[l_b:, b] = 0`` and
    ``h_n[:, b]`` is the state after step ``l_b`` (both directions)."""
    if problem.lengths is None:
        raise Inconclusive("lengths truncation needs a problem with lengths")
    model = _model(impl, model)
    tol = _tol(model, problem, impl)
    out, h_n = _outputs_tm(impl.forward(problem), problem)
    x = _x_tm(problem)
    h0 = _tm_state(problem.h0, problem)
    law = "lengths (packed sequences)"
    for b, length in enumerate(np.asarray(problem.lengths).tolist()):
        alone = _make(problem, x[:length, b : b + 1], None if h0 is None else h0[:, b : b + 1])
        ta = _tol(model, alone, impl)
        y, hn = _outputs_tm(impl.forward(alone), alone)
        formula = f"f(x)[:l_b, b] == f(x[:l_b, b]) with l_b = {length}"
        _agree(law, formula, f"output (sequence {b}, steps < {length})", y,
               out[:length, b : b + 1], (tol.output, ta.output), problem)  # fmt: skip
        _agree(law, formula, f"h_n (sequence {b})", hn, h_n[:, b : b + 1], (tol.h_n, ta.h_n),
               problem)  # fmt: skip
        pad = out[length:, b]
        _agree(law, "f(x)[t, b] == 0 for t >= l_b (padding)", f"output (sequence {b} padding)",
               np.zeros_like(pad), pad, (0.0,), problem)  # fmt: skip


def law_eval_without_dropout(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """A stack constructed with ``dropout = 0.5`` equals ``dropout = 0`` in eval mode (``2 tol``).

    Needs ``impl.with_dropout(p)`` returning the same implementation built with ``dropout = p``
    (``TorchModuleTarget`` has it); the forward pass runs in eval mode.
    """
    with_dropout = getattr(impl, "with_dropout", None)
    if with_dropout is None:
        raise Inconclusive(f"{impl.name} cannot be built with dropout (no with_dropout method)")
    model = _model(impl, model)
    tol = _tol(model, problem, impl)
    dropped: Implementation = with_dropout(0.5)
    a, b = impl.forward(problem), dropped.forward(problem)
    law = "eval mode is free of dropout"
    formula = "eval(): f_dropout=0.5(x) == f_dropout=0(x)"
    _agree_runs(law, formula, a, b, tol, problem)


def law_deterministic(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """Two identical calls give bit-identical ``output`` and ``h_n`` (NaN equal to NaN)."""
    a, b = impl.forward(problem), impl.forward(problem)
    for name, x, y in (("output", a.output, b.output), ("h_n", a.h_n, b.h_n)):
        if np.shape(x) != np.shape(y) or not np.array_equal(x, y, equal_nan=True):
            v = compare(name, x, y, 0.0) if np.shape(x) == np.shape(y) else None
            raise LawViolation(
                "determinism",
                "f(p) == f(p) bit for bit",
                f"two identical calls differ: {v}" if v else "two identical calls differ in shape",
                {}
                if v is None
                else {
                    "quantity": name,
                    "first": v.expected,
                    "second": v.got,
                    "difference": v.error,
                    "index": v.index,
                },
                problem.describe(),
            )


def law_instance_reuse(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """``f(p)``, then ``f(q)`` with another input and initial state, then ``f(p)`` again: the two
    answers for ``p`` agree within ``2 tol`` (no state leaks from one call into the next)."""
    model = _model(impl, model)
    tol = _tol(model, problem, impl)
    first = impl.forward(problem)
    rng = np.random.default_rng(1)
    other_h0 = rng.uniform(-1, 1, _state_shape(problem)) if problem.h0 is None else None
    other = dataclasses.replace(problem, x=-np.asarray(problem.x)[::-1].copy(), h0=other_h0)
    impl.forward(other)
    again = impl.forward(problem)
    law = "instance reuse (no state carried between calls)"
    formula = "f(p); f(q); f(p) gives the first answer again"
    _agree_runs(law, formula, first, again, tol, problem)


def _runs_with_good_state(impl: Implementation, problem: Problem, shape: tuple[int, ...]) -> None:
    """Return when ``impl`` answers ``problem`` with a well-shaped ``h0`` (an output contract it
    breaks is another law's finding); else raise what it raised: the target crashes on this
    input, and its exception for a bad state was no rejection."""
    try:
        impl.forward(dataclasses.replace(problem, h0=np.full(shape, 0.5)))
    except LawViolation as e:
        if e.law != "output contract":
            raise


def law_rejects_bad_initial_state(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """An initial state of the wrong shape is an error, never silently broadcast or truncated.

    Tried: a hidden size one too large, one batch row too many (batched), and every shape that
    would broadcast to ``(L*D, B, H)``: a size-1 axis in place of ``L*D``, ``B`` or ``H`` when
    that is above 1 (``(1, B, H)``, ``(L*D, 1, H)``, ``(L*D, B, 1)``; unbatched ``(1, H)``,
    ``(L*D, 1)``); on the problem without lengths (torch.nn.GRU itself indexes h0 rows for a
    PackedSequence and accepts extra rows there). Only an exception of the target counts as a
    rejection: a ``LawViolation`` from the guard (a call that timed out, a worker that died) is
    raised, never taken for one; an output contract broken by the answer (e.g. Keras answering
    an input of batch 1 and a state of batch 2 with two rows) means the state was accepted. And
    an exception counts as a rejection only if the same call with a well-shaped ``h0`` (the same
    fill) succeeds: a target that raises on this input whatever its state (a crash at batch 1,
    say) has rejected nothing, and that crash is raised (``_runs_with_good_state``).
    """
    problem = _without_lengths(problem)
    shape = _state_shape(problem)
    bad: list[tuple[int, ...]] = [(*shape[:-1], shape[-1] + 1)]
    if problem.batched:
        bad += [(shape[0], shape[1] + 1, shape[2])]
    for axis, size in enumerate(shape):
        if size > 1:  # a size-1 axis broadcasts
            bad.append((*shape[:axis], 1, *shape[axis + 1 :]))
    runs = False  # the call with a well-shaped h0 succeeded (asked once, when needed)
    for wrong in bad:
        trial = dataclasses.replace(problem, h0=np.full(wrong, 0.5))
        answer = ""
        try:
            impl.forward(trial)
        except LawViolation as e:  # a timeout, a dead worker: never a rejection (nor acceptance)
            if e.law != "output contract":
                raise
            answer = f"; it answered with {e.detail}"  # it returned: the state was accepted
        except Exception:
            if not runs:
                _runs_with_good_state(impl, problem, shape)
                runs = True
            continue
        raise LawViolation(
            "bad initial state rejected",
            "h0 must have shape (L*D, B, H); any other shape raises",
            f"an initial state of shape {wrong} was accepted (expected {shape}){answer}",
            {"expected shape": shape, "accepted shape": wrong},
            problem.describe(),
        )
