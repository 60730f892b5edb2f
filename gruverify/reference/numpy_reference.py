"""The float64 numpy reference: GRU and tanh RNN, forward with gate traces, analytic backward.

Explicit equations, no autograd, nothing shared with torch. The step equations are those of
``gruverify.core.params`` (docs/gru-math.md section 1). The two GRU variants of the libraries:

- ``"reset_after"`` (torch, cuDNN, Keras ``reset_after=True``, ONNX ``linear_before_reset=1``):
  ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``
- ``"reset_before"`` (Cho et al. 2014, Keras ``reset_after=False``, ONNX default):
  ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)``

and a third, declared by hand-written GRUs that have one bias per gate (flax nnx's GRU):

- ``"reset_after_no_bhn"``: ``n = tanh(W_in x + b_in + r * (W_hn h))``. ``b_hn`` is not a parameter
  of this GRU: the equations ignore it and its gradient is 0 (``b_hn`` cannot be folded into
  ``b_in`` in reset-after, so this is a different GRU, not a layout of ``reset_after``).

and ``h' = (1 - z) * n + z * h`` with ``1 - z`` computed as ``sigmoid(-a_z)`` (no cancellation).

The functions accept real or complex arrays; real input is computed in float64, complex input in
complex128, so the complex-step derivative ``Im f(x + i h) / h`` works through them.

Padded batches: with ``lengths``, sequence b is processed for ``t < lengths[b]`` only. Outputs at
``t >= lengths[b]`` are zero, its final state is the state after its own last step, and the reverse
direction starts at ``t = lengths[b] - 1`` (the semantics of torch's packed sequences).

The stepping API is public so that other modules build on these equations instead of copying them:
``gru_step`` / ``rnn_step`` (one step and its trace; ``gru_step`` is ``gru_gates`` then
``gru_update``, which the error model composes with its random rounding in between), ``gru_step_backward`` / ``rnn_step_backward``
(its analytic backward), and ``stack_forward`` / ``stack_backward``, the driver over layers,
directions, lengths and layouts for any step function with that signature (the error model runs it
with a step that rounds at random).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gruverify.core.params import (
    ALL_VARIANTS,
    GRUCellParams,
    GRUParams,
    RNNCellParams,
    RNNParams,
    StackParams,
    Variant,
)
from gruverify.core.shapes import (
    CallShape,
    from_time_major,
    stack_call_shape,
    state_from_batched,
    state_to_batched,
    to_time_major,
    validate_lengths,
)

__all__ = [
    "StackGradients",
    "StackResult",
    "StepBackFn",
    "StepFn",
    "Trace",
    "gru_backward",
    "gru_cell_step",
    "gru_forward",
    "gru_gates",
    "gru_step",
    "gru_step_backward",
    "gru_step_jacobian",
    "gru_update",
    "rnn_backward",
    "rnn_forward",
    "rnn_step",
    "rnn_step_backward",
    "rnn_step_jacobian",
    "sigmoid",
    "stack_backward",
    "stack_forward",
]


Trace = dict[str, np.ndarray]
"""One step's named values (``StackResult.traces`` holds them stacked over time)."""


def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic function, stable for large |a| in real arithmetic, analytic for complex input."""
    if a.dtype.kind == "c" if isinstance(a, np.ndarray) else np.iscomplexobj(a):
        # same branch split on the real part, so exp never overflows (complex step stays finite)
        neg = np.real(a) < 0
        e = np.exp(np.where(neg, a, -a))
        return np.where(neg, e / (1.0 + e), 1.0 / (1.0 + e))  # type: ignore[no-any-return]
    e = np.exp(-np.abs(a))  # exp(-a) where a >= 0, exp(a) below: never overflows
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))  # type: ignore[no-any-return]


@dataclasses.dataclass(frozen=True)
class StackResult:
    """Forward result in the caller's layout, plus per-layer, per-direction traces.

    ``traces[layer][direction]`` maps names to arrays ``(T, B, H)`` indexed by real time t (for the
    reverse direction too): for the GRU ``a_r, a_z, a_n, r, z, one_minus_z, n, g, h_prev, h``
    (``g = W_hn h_prev + b_hn`` for reset-after, ``W_hn (r * h_prev) + b_hn`` for reset-before);
    for the RNN ``a, h_prev, h``. Steps beyond a sequence's length hold zeros; ``mask`` ``(T, B)``
    says which steps ran. ``traces`` is empty from ``stack_forward(..., traces=False)``.
    """

    output: np.ndarray
    h_n: np.ndarray
    traces: tuple[tuple[Trace, ...], ...]
    mask: np.ndarray
    shape: CallShape


@dataclasses.dataclass(frozen=True)
class StackGradients:
    """Gradients of ``L = sum(d_output * output) + sum(d_h_n * h_n)``."""

    dx: np.ndarray
    dh0: np.ndarray
    dparams: StackParams[Any]
    forward: StackResult


# ---------------------------------------------------------------------------------------------
# One step of each cell: forward (returns the new state and its trace) and backward.


def gru_gates(
    cell: GRUCellParams[np.ndarray], x: np.ndarray, h: np.ndarray, variant: Variant
) -> Trace:
    """The gates of one GRU step on ``x (B, I)``, ``h (B, H)`` (arrays of one dtype, no
    conversion): ``a_r, a_z, a_n, r, z, one_minus_z, n, g`` (``StackResult``), ``1 - z`` as
    ``sigmoid(-a_z)``. ``gru_update`` turns them into the new state."""
    a_r = x @ cell.W_ir.T + cell.b_ir + h @ cell.W_hr.T + cell.b_hr
    a_z = x @ cell.W_iz.T + cell.b_iz + h @ cell.W_hz.T + cell.b_hz
    r = sigmoid(a_r)
    z = sigmoid(a_z)
    omz = sigmoid(-a_z)
    if variant == "reset_after":
        g = h @ cell.W_hn.T + cell.b_hn
        a_n = x @ cell.W_in.T + cell.b_in + r * g
    elif variant == "reset_after_no_bhn":  # no recurrent candidate bias: b_hn is not a parameter
        g = h @ cell.W_hn.T
        a_n = x @ cell.W_in.T + cell.b_in + r * g
    elif variant == "reset_before":
        g = (r * h) @ cell.W_hn.T + cell.b_hn
        a_n = x @ cell.W_in.T + cell.b_in + g
    else:
        raise ValueError(f"unknown GRU variant {variant!r}; expected one of {ALL_VARIANTS}")
    n = np.tanh(a_n)
    return {"a_r": a_r, "a_z": a_z, "a_n": a_n, "r": r, "z": z, "one_minus_z": omz, "n": n, "g": g}


def gru_update(gates: Mapping[str, np.ndarray], h: np.ndarray) -> np.ndarray:
    """The state update ``h' = (1 - z) n + z h`` from ``gru_gates``' ``one_minus_z``, ``n`` and
    ``z`` (the error model passes gates it rounded)."""
    return gates["one_minus_z"] * gates["n"] + gates["z"] * h  # type: ignore[no-any-return]


def gru_step(
    cell: GRUCellParams[np.ndarray], x: np.ndarray, h: np.ndarray, variant: Variant
) -> tuple[np.ndarray, Trace]:
    """One GRU step on ``x (B, I)``, ``h (B, H)`` (arrays of one dtype, no conversion): the new
    state and the trace ``a_r, a_z, a_n, r, z, one_minus_z, n, g, h_prev, h`` (``StackResult``):
    ``gru_gates`` then ``gru_update``."""
    trace = gru_gates(cell, x, h, variant)
    h_new = gru_update(trace, h)
    trace["h_prev"] = h
    trace["h"] = h_new
    return h_new, trace


def gru_step_backward(
    cell: GRUCellParams[np.ndarray], x: np.ndarray, c: Trace, dh_new: np.ndarray, variant: Variant
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Backward of ``gru_step`` from its trace ``c`` and the cotangent ``dh_new`` of the new state:
    ``(dx, dh, parameter gradients by name)``. The activations' derivatives are ``r (1 - r)``,
    ``z (1 - z)``, ``1 - n^2`` from the trace's values, or the trace's own ``dr_da``, ``dz_da``,
    ``dn_da`` where it has them (the error model's perturbed runs do)."""
    h, r, z, omz, n, g = c["h_prev"], c["r"], c["z"], c["one_minus_z"], c["n"], c["g"]
    dn = dh_new * omz
    dz = dh_new * (h - n)
    dh = dh_new * z
    da_n = dn * (c["dn_da"] if "dn_da" in c else 1.0 - n * n)
    da_z = dz * (c["dz_da"] if "dz_da" in c else z * omz)
    grads: dict[str, np.ndarray] = {}
    if variant != "reset_before":  # reset-after, with or without b_hn (then dL/db_hn = 0)
        dr = da_n * g
        dg = da_n * r
        grads["W_hn"] = dg.T @ h
        grads["b_hn"] = dg.sum(0) * (variant == "reset_after")
        dh = dh + dg @ cell.W_hn
    else:
        d_rh = da_n @ cell.W_hn
        grads["W_hn"] = da_n.T @ (r * h)
        grads["b_hn"] = da_n.sum(0)
        dr = d_rh * h
        dh = dh + d_rh * r
    da_r = dr * (c["dr_da"] if "dr_da" in c else r * (1.0 - r))
    grads["W_ir"] = da_r.T @ x
    grads["W_iz"] = da_z.T @ x
    grads["W_in"] = da_n.T @ x
    grads["W_hr"] = da_r.T @ h
    grads["W_hz"] = da_z.T @ h
    grads["b_ir"] = da_r.sum(0)
    grads["b_iz"] = da_z.sum(0)
    grads["b_in"] = da_n.sum(0)
    grads["b_hr"] = da_r.sum(0)
    grads["b_hz"] = da_z.sum(0)
    dh = dh + da_r @ cell.W_hr + da_z @ cell.W_hz
    dx = da_r @ cell.W_ir + da_z @ cell.W_iz + da_n @ cell.W_in
    return dx, dh, grads


def rnn_step(
    cell: RNNCellParams[np.ndarray], x: np.ndarray, h: np.ndarray, variant: Any = None
) -> tuple[np.ndarray, Trace]:
    """One tanh-RNN step ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` and its trace
    ``a, h_prev, h`` (``variant`` is ignored: the signature of ``StepFn``)."""
    a = x @ cell.W_ih.T + cell.b_ih + h @ cell.W_hh.T + cell.b_hh
    h_new = np.tanh(a)
    return h_new, {"a": a, "h_prev": h, "h": h_new}


def rnn_step_backward(
    cell: RNNCellParams[np.ndarray],
    x: np.ndarray,
    c: Trace,
    dh_new: np.ndarray,
    variant: Any = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Backward of ``rnn_step``: ``(dx, dh, parameter gradients by name)``."""
    da = dh_new * (1.0 - c["h"] * c["h"])
    grads = {
        "W_ih": da.T @ x,
        "W_hh": da.T @ c["h_prev"],
        "b_ih": da.sum(0),
        "b_hh": da.sum(0),
    }
    return da @ cell.W_ih, da @ cell.W_hh, grads


# ---------------------------------------------------------------------------------------------
# The stack driver: layers, directions, lengths, layouts. Shared by the GRU and the RNN.

StepFn = Callable[[Any, np.ndarray, np.ndarray, Any], tuple[np.ndarray, Trace]]
"""``step(cell, x (B, I), h (B, H), variant) -> (h_new, trace)``, e.g. ``gru_step``."""
StepBackFn = Callable[
    [Any, np.ndarray, Trace, np.ndarray, Any], tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]
]
"""``step_back(cell, x, trace, dh_new, variant) -> (dx, dh, grads)``, e.g. ``gru_step_backward``."""


def _as_array(a: Any, dtype: Any) -> np.ndarray:
    return np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a, dtype=dtype)


def _compute_dtype(*arrays: Any) -> Any:
    for a in arrays:
        if a is not None and np.iscomplexobj(a):
            return np.complex128
    return np.float64


def _prepare(
    params: StackParams[Any],
    x: Any,
    h0: Any,
    batch_first: bool,
    lengths: Any,
) -> tuple[StackParams[Any], np.ndarray, np.ndarray, np.ndarray, CallShape]:
    """Canonical time-major batched float64 (or complex128) arrays and the step mask (T, B)."""
    dtype = _compute_dtype(x, h0, *(v for _, v in params.named()))
    shape = stack_call_shape(params, np.shape(x), None if h0 is None else np.shape(h0), batch_first)
    lens = validate_lengths(lengths, shape)
    xa = to_time_major(_as_array(x, dtype), shape)
    if h0 is None:
        h0a = np.zeros((params.num_layers * params.num_directions, shape.batch, shape.hidden_size))
        h0a = h0a.astype(dtype)
    else:
        h0a = state_to_batched(_as_array(h0, dtype), shape)
    steps = np.arange(shape.steps)[:, None]
    mask = steps < (lens if lens is not None else np.full(shape.batch, shape.steps))[None, :]
    arrays = [v for _, v in params.named()]
    if all(isinstance(v, np.ndarray) and v.dtype == dtype for v in arrays):
        p = params  # already float64 (complex128) arrays: no copy, no re-validation
    else:
        p = params.map(lambda v: _as_array(v, dtype))
    return p, xa, h0a, mask, shape


def _output_cotangent(seq: Any, shape: CallShape, dtype: Any) -> np.ndarray:
    arr = _as_array(seq, dtype)
    if arr.shape != shape.output_shape:
        raise ValueError(f"output cotangent has shape {arr.shape}, expected {shape.output_shape}")
    return to_time_major(arr, shape)


def stack_forward(
    step: StepFn, params: StackParams[Any], x: Any, h0: Any, variant: Any,
    batch_first: bool, lengths: Any, *, traces: bool = True,
) -> StackResult:  # fmt: skip
    """Run ``step`` over every layer, direction and time step of the stack (module docstring);
    ``h0=None`` means zeros. ``gru_forward`` is ``stack_forward(gru_step, ...)``. With
    ``traces=False`` the result keeps no traces (``()``): outputs and final states only, in
    memory ``O(T B H)`` instead of ten such arrays per layer and direction, and faster."""
    if not traces:
        return _forward_untraced(step, params, x, h0, variant, batch_first, lengths)
    return _forward_with_inputs(step, params, x, h0, variant, batch_first, lengths)[0]


def _forward_untraced(
    step: StepFn, params: StackParams[Any], x: Any, h0: Any, variant: Any,
    batch_first: bool, lengths: Any,
) -> StackResult:  # fmt: skip
    """``stack_forward`` without traces: the same values, steps and masking."""
    p, seq, h0a, mask, shape = _prepare(params, x, h0, batch_first, lengths)
    T, D, H = shape.steps, p.num_directions, shape.hidden_size
    full = bool(mask.all())  # no padding: every step is taken, nothing to mask
    h_n = np.zeros_like(h0a)
    for layer, row in enumerate(p.cells):
        out = np.zeros((T, shape.batch, D * H), dtype=seq.dtype)
        for d, cell in enumerate(row):
            h = h0a[layer * D + d]
            for t in range(T) if d == 0 else range(T - 1, -1, -1):
                h_new = step(cell, seq[t], h, variant)[0]
                if full:
                    h = out[t, :, d * H : (d + 1) * H] = h_new
                else:
                    active = mask[t][:, None]
                    h = np.where(active, h_new, h)
                    out[t, :, d * H : (d + 1) * H] = np.where(active, h_new, 0.0)
            h_n[layer * D + d] = h
        seq = out
    hn = state_from_batched(h_n, shape)
    return StackResult(from_time_major(seq, shape), hn, (), mask, shape)


def _forward_with_inputs(
    step: StepFn, params: StackParams[Any], x: Any, h0: Any, variant: Any,
    batch_first: bool, lengths: Any,
) -> tuple[StackResult, list[np.ndarray]]:  # fmt: skip
    p, seq, h0a, mask, shape = _prepare(params, x, h0, batch_first, lengths)
    T, D, H = shape.steps, p.num_directions, shape.hidden_size
    layer_inputs = []
    h_n = np.zeros_like(h0a)
    traces = []
    for layer, row in enumerate(p.cells):
        layer_inputs.append(seq)
        out = np.zeros((T, shape.batch, D * H), dtype=seq.dtype)
        row_traces = []
        for d, cell in enumerate(row):
            h = h0a[layer * D + d]
            trace: Trace = {}  # (T, ...) arrays, filled step by step: no per-step copies to stack
            for t in range(T) if d == 0 else range(T - 1, -1, -1):
                active = mask[t][:, None]
                h_new, c = step(cell, seq[t], h, variant)
                h = np.where(active, h_new, h)
                out[t, :, d * H : (d + 1) * H] = np.where(active, h_new, 0.0)
                for k, v in c.items():
                    if k not in trace:
                        trace[k] = np.zeros((T, *np.shape(v)), dtype=np.result_type(v, 0.0))
                    trace[k][t] = np.where(active, v, 0.0)
            h_n[layer * D + d] = h
            row_traces.append(trace)
        traces.append(tuple(row_traces))
        seq = out
    hn = state_from_batched(h_n, shape)
    result = StackResult(from_time_major(seq, shape), hn, tuple(traces), mask, shape)
    return result, layer_inputs


def stack_backward(
    step: StepFn, step_back: StepBackFn, params: StackParams[Any], x: Any, h0: Any,
    d_output: Any, d_h_n: Any, variant: Any, batch_first: bool, lengths: Any,
) -> StackGradients:  # fmt: skip
    """Gradients of ``sum(d_output * output) + sum(d_h_n * h_n)`` through ``stack_forward(step,
    ...)`` with ``step_back`` the backward of ``step`` (None cotangents mean zeros)."""
    fwd, layer_inputs = _forward_with_inputs(step, params, x, h0, variant, batch_first, lengths)
    p, _, h0a, mask, shape = _prepare(params, x, h0, batch_first, lengths)
    dtype = layer_inputs[0].dtype
    T, D, H, L = shape.steps, p.num_directions, shape.hidden_size, p.num_layers
    d_seq = (
        np.zeros((T, shape.batch, D * H), dtype)
        if d_output is None
        else _output_cotangent(d_output, shape, dtype)
    )
    if d_h_n is None:
        dhn = np.zeros_like(h0a)
    else:
        dhn = _as_array(d_h_n, dtype)
        if dhn.shape != tuple(np.shape(fwd.h_n)):
            raise ValueError(f"h_n cotangent has shape {dhn.shape}, expected {np.shape(fwd.h_n)}")
        dhn = state_to_batched(dhn, shape)
    dh0 = np.zeros_like(h0a)
    drows: list[tuple[Any, ...]] = [()] * L
    for layer in range(L - 1, -1, -1):
        inp = layer_inputs[layer]
        d_inp = np.zeros_like(inp)
        drow = []
        for d, cell in enumerate(p.cells[layer]):
            acc = {k: np.zeros_like(v) for k, v in cell.items()}
            dh = dhn[layer * D + d]
            trace = fwd.traces[layer][d]
            for t in range(T - 1, -1, -1) if d == 0 else range(T):
                active = mask[t][:, None]
                g_out = dh + d_seq[t, :, d * H : (d + 1) * H] * active
                c = {k: v[t] for k, v in trace.items()}
                dx_t, dh_prev, grads = step_back(cell, inp[t], c, g_out * active, variant)
                d_inp[t] += dx_t
                for k, v in grads.items():
                    acc[k] += v
                dh = np.where(active, dh_prev, dh)
            dh0[layer * D + d] = dh
            drow.append(type(cell)(**acc))
        drows[layer] = tuple(drow)
        d_seq = d_inp
    dparams: StackParams[Any] = StackParams(tuple(drows), bias=p.bias)
    dx = from_time_major(d_seq, shape)
    return StackGradients(dx, state_from_batched(dh0, shape), dparams, fwd)


# ---------------------------------------------------------------------------------------------
# Public GRU and RNN entry points.


def _check_variant(variant: str) -> None:
    if variant not in ALL_VARIANTS:
        raise ValueError(f"unknown GRU variant {variant!r}; expected one of {ALL_VARIANTS}")


def gru_forward(
    params: GRUParams,
    x: Any,
    h0: Any = None,
    *,
    variant: Variant = "reset_after",
    batch_first: bool = False,
    lengths: Any = None,
) -> StackResult:
    """Run a GRU stack. ``h0=None`` means zeros. Returns outputs, final states and gate traces."""
    _check_variant(variant)
    return stack_forward(gru_step, params, x, h0, variant, batch_first, lengths)


def gru_backward(
    params: GRUParams,
    x: Any,
    h0: Any = None,
    d_output: Any = None,
    d_h_n: Any = None,
    *,
    variant: Variant = "reset_after",
    batch_first: bool = False,
    lengths: Any = None,
) -> StackGradients:
    """Analytic gradients (BPTT) of ``sum(d_output * output) + sum(d_h_n * h_n)``.

    ``d_output`` has the output's shape, ``d_h_n`` the final state's; None means zeros. Returns the
    gradient with respect to the input, the initial state and every named parameter.
    """
    _check_variant(variant)
    return stack_backward(
        gru_step, gru_step_backward, params, x, h0, d_output, d_h_n, variant, batch_first, lengths
    )


def rnn_forward(
    params: RNNParams,
    x: Any,
    h0: Any = None,
    *,
    batch_first: bool = False,
    lengths: Any = None,
) -> StackResult:
    """Run a tanh-RNN stack: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)``."""
    return stack_forward(rnn_step, params, x, h0, None, batch_first, lengths)


def rnn_backward(
    params: RNNParams,
    x: Any,
    h0: Any = None,
    d_output: Any = None,
    d_h_n: Any = None,
    *,
    batch_first: bool = False,
    lengths: Any = None,
) -> StackGradients:
    """Analytic gradients of ``sum(d_output * output) + sum(d_h_n * h_n)`` for the tanh RNN."""
    return stack_backward(
        rnn_step, rnn_step_backward, params, x, h0, d_output, d_h_n, None, batch_first, lengths
    )


def gru_cell_step(
    cell: GRUCellParams[np.ndarray],
    x: np.ndarray,
    h: np.ndarray,
    *,
    variant: Variant = "reset_after",
) -> tuple[np.ndarray, Mapping[str, np.ndarray]]:
    """One GRU step on ``x (B, I)``, ``h (B, H)``: the new state and the step's gate values.

    ``gru_step`` with the variant checked and the arrays converted first (float64, or complex128
    when any is complex)."""
    _check_variant(variant)
    dtype = _compute_dtype(x, h, *(v for _, v in cell.items()))
    c = cell.map(lambda v: _as_array(v, dtype))
    return gru_step(c, _as_array(x, dtype), _as_array(h, dtype), variant)


def gru_step_jacobian(
    cell: GRUCellParams[np.ndarray],
    x: np.ndarray,
    h: np.ndarray,
    *,
    variant: Variant = "reset_after",
) -> np.ndarray:
    """The exact step Jacobian ``dh'/dh`` ``(B, H, H)`` (docs/gru-math.md section 3).

    Reset-after: ``J = D(z) + D(1-z) D(1-n^2) [D(r) W_hn + D(g r (1-r)) W_hr] + D((h-n) z (1-z)) W_hz``;
    reset-before: ``J = D(z) + D(1-z) D(1-n^2) W_hn [D(r) + D(h r (1-r)) W_hr] + D((h-n) z (1-z)) W_hz``.
    """
    _, c = gru_cell_step(cell, x, h, variant=variant)
    W = cell.map(lambda v: _as_array(v, np.float64))
    r, z, omz, n, hp = c["r"], c["z"], c["one_minus_z"], c["n"], c["h_prev"]
    dn = omz * (1.0 - n * n)  # (B, H)
    if variant != "reset_before":  # g = W_hn h (+ b_hn): the trace's
        g = c["g"]
        inner = r[:, :, None] * W.W_hn[None] + (g * r * (1.0 - r))[:, :, None] * W.W_hr[None]
    else:
        inner = W.W_hn[None] * r[:, None, :] + W.W_hn[None] @ (
            (hp * r * (1.0 - r))[:, :, None] * W.W_hr[None]
        )
    J = dn[:, :, None] * inner + ((hp - n) * z * omz)[:, :, None] * W.W_hz[None]
    idx = np.arange(J.shape[1])
    J[:, idx, idx] += z
    return J  # type: ignore[no-any-return]


def rnn_step_jacobian(cell: RNNCellParams[np.ndarray], x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``dh'/dh = D(1 - h'^2) W_hh`` ``(B, H, H)`` for one tanh-RNN step."""
    c = cell.map(lambda v: _as_array(v, np.float64))
    h_new, _ = rnn_step(c, np.asarray(x, np.float64), np.asarray(h, np.float64))
    return (1.0 - h_new * h_new)[:, :, None] * c.W_hh[None]  # type: ignore[no-any-return]
