"""Analytic BPTT of the numpy reference against numerical derivatives.

Law: for ``L(theta) = sum(d_out * output) + sum(d_hn * h_n)`` and a unit direction ``u``,
``grad L . u`` (from ``gru_backward`` / ``rnn_backward``) equals the complex-step derivative
``Im L(theta + i h u) / h`` (h = 1e-30) and the Richardson-extrapolated central difference
``(4 D(h/2) - D(h)) / 3`` (h = 2e-3), each to a relative error ``|a - b| / max(|b|, tiny)`` <= 1e-9.
One direction per block; a block is the input, the initial state, or one named parameter of one
layer and direction (all 12 GRU names, all 4 RNN names).

Directions are ``normalize(g_hat + w / 2)`` with ``g_hat`` the block's analytic gradient direction and
``w`` a random unit vector: a purely random ``u`` can be nearly orthogonal to the gradient, and then
the relative error divides by a near-zero ``grad L . u`` (3e-8 measured on these cases), which says
nothing about the gradient. Richardson's error is ``h^4 |L^(5)| / 480 + ~1.5 e_f |L| / h``; over these
cases its worst error is 1.5e-10 at h = 2e-3 (7e-10 at 3e-3, 4e-10 at 1e-3); the complex step is
about 5e-15 (docs/gru-math.md section 5).

A tiny case (T=3, B=2, I=2, H=3) also checks the full Jacobian of ``(output, h_n)`` with respect to
the input, the initial state and all parameters, row by row against one-hot cotangents.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from gruverify.core.params import StackParams, random_gru_params, random_rnn_params
from gruverify.reference import numpy_reference as ref
from gruverify.reference.finite_differences import (
    FlatLoss,
    central_difference,
    complex_step,
    complex_step_jacobian,
    gradient_check,
    reference_loss,
    relative_error,
    richardson_difference,
)

TOL = 1e-9
RICHARDSON_H = 2e-3

KINDS = [("gru", "reset_after"), ("gru", "reset_before"), ("rnn", None)]
KIND_IDS = ["gru-reset_after", "gru-reset_before", "rnn"]


def _setup(
    kind: str,
    *,
    layers: int = 2,
    bidirectional: bool = True,
    T: int = 4,
    B: int = 2,
    I: int = 3,
    H: int = 2,
    seed: int = 0,
) -> tuple[StackParams[Any], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parameters with nonzero biases, x (T, B, I), h0, and cotangents for output and h_n."""
    rng = np.random.default_rng(seed)
    make = random_gru_params if kind == "gru" else random_rnn_params
    # scale 0.8 keeps the gates away from saturation so every term of the gradient is exercised.
    params = make(I, H, layers, bidirectional, rng=rng, scale=0.8)
    D = 2 if bidirectional else 1
    x = rng.standard_normal((T, B, I))
    h0 = 0.5 * rng.standard_normal((layers * D, B, H))
    return params, x, h0, rng.standard_normal((T, B, D * H)), rng.standard_normal(h0.shape)


def _backward(kind: str, variant: Any, params: Any, *args: Any, **kw: Any) -> ref.StackGradients:
    if kind == "gru":
        return ref.gru_backward(params, *args, variant=variant, **kw)
    return ref.rnn_backward(params, *args, **kw)


def _blocks(params: StackParams[Any]) -> Iterator[tuple[str, slice]]:
    """``(name, slice of params.flat())`` for every named parameter of every layer and direction."""
    offset = 0
    for name, value in params.named():
        size = int(np.size(value))
        yield name, slice(offset, offset + size)
        offset += size


def _unit_rows(rng: np.random.Generator, k: int, n: int) -> np.ndarray:
    U = rng.standard_normal((k, n))
    return np.asarray(U / np.linalg.norm(U, axis=1, keepdims=True))


def _block_errors(
    loss: FlatLoss, gradient: np.ndarray, blocks: list[tuple[str, slice]], seed: int
) -> dict[str, tuple[float, float]]:
    """Per block: (complex-step error, Richardson error) of one directional derivative."""
    rng = np.random.default_rng(seed)
    U = np.zeros((len(blocks), loss.point.size))
    for i, (_, sl) in enumerate(blocks):
        v = _unit_rows(rng, 1, sl.stop - sl.start)[0] / 2
        norm = np.linalg.norm(gradient[sl])
        if norm > 0:
            v = v + gradient[sl] / norm
        U[i, sl] = v / np.linalg.norm(v)
    check = gradient_check(loss.fn, loss.point, gradient, U, richardson_h=RICHARDSON_H)
    return {
        name: (
            relative_error(check.analytic[i], check.complex_step[i]),
            relative_error(check.analytic[i], check.richardson[i]),
        )
        for i, (name, _) in enumerate(blocks)
    }


def _all_block_errors(
    kind: str,
    variant: Any,
    params: Any,
    x: np.ndarray,
    h0: np.ndarray,
    d_out: np.ndarray | None,
    d_hn: np.ndarray | None,
    lengths: Any,
    grads: ref.StackGradients | None = None,
) -> dict[str, tuple[float, float]]:
    if grads is None:
        grads = _backward(kind, variant, params, x, h0, d_out, d_hn, lengths=lengths)
    errors: dict[str, tuple[float, float]] = {}
    kw: dict[str, Any] = {"variant": variant or "reset_after", "lengths": lengths}
    for seed, wrt in enumerate(("x", "h0", "params")):
        loss = reference_loss(kind, params, x, h0, d_out, d_hn, wrt=wrt, **kw)  # type: ignore[arg-type]
        blocks = list(_blocks(params)) if wrt == "params" else [(wrt, slice(0, loss.point.size))]
        errors.update(_block_errors(loss, loss.gradient(grads), blocks, seed))
    return errors


def _assert_small(errors: dict[str, tuple[float, float]], where: str) -> None:
    worst_cs = max(errors, key=lambda k: errors[k][0])
    worst_ri = max(errors, key=lambda k: errors[k][1])
    assert errors[worst_cs][0] <= TOL and errors[worst_ri][1] <= TOL, (
        f"{where}: worst complex-step error {errors[worst_cs][0]:.3g} at {worst_cs}, worst "
        f"Richardson error {errors[worst_ri][1]:.3g} at {worst_ri}, tolerance {TOL} "
        f"({len(errors)} blocks)"
    )


@pytest.mark.parametrize("loss_on", ["output", "h_n", "both"])
@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize(("kind", "variant"), KINDS, ids=KIND_IDS)
def test_analytic_gradient_matches_numerical(
    kind: str, variant: Any, with_lengths: bool, loss_on: str
) -> None:
    """dx, dh0 and every named parameter (2 layers, both directions): complex step, Richardson."""
    params, x, h0, d_out, d_hn = _setup(
        kind, seed=zlib.crc32(f"{kind}{variant}{loss_on}".encode()) % 1000
    )
    lengths = np.array([4, 2]) if with_lengths else None
    errors = _all_block_errors(
        kind,
        variant,
        params,
        x,
        h0,
        None if loss_on == "h_n" else d_out,
        None if loss_on == "output" else d_hn,
        lengths,
    )
    expected = 2 + params.num_layers * params.num_directions * (12 if kind == "gru" else 4)
    assert len(errors) == expected, f"checked {len(errors)} blocks, expected {expected}"
    _assert_small(errors, f"{kind} {variant} lengths={with_lengths} loss on {loss_on}")


@pytest.mark.parametrize(("kind", "variant"), KINDS, ids=KIND_IDS)
def test_three_layer_middle_gradients(kind: str, variant: Any) -> None:
    """Middle layers of a 3-layer bidirectional stack, batch_first=False, T=3, unequal lengths."""
    params, x, h0, d_out, d_hn = _setup(kind, layers=3, T=3, B=3, I=2, H=2, seed=7)
    errors = _all_block_errors(kind, variant, params, x, h0, d_out, d_hn, np.array([3, 1, 2]))
    _assert_small(errors, f"{kind} {variant} 3 layers")


@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize(("kind", "variant"), KINDS, ids=KIND_IDS)
def test_full_jacobian_tiny(kind: str, variant: Any, with_lengths: bool) -> None:
    """Full Jacobian of (output, h_n) wrt x, h0 and all parameters: T=3, B=2, I=2, H=3, 1 layer.

    Row i of the analytic Jacobian is the gradient for the one-hot cotangent e_i; the complex-step
    Jacobian must match it to 1e-12 relative to its largest entry.
    """
    params, x, h0, _, _ = _setup(kind, layers=1, bidirectional=False, T=3, B=2, I=2, H=3, seed=3)
    lengths = np.array([3, 1]) if with_lengths else None
    forward = ref.gru_forward if kind == "gru" else ref.rnn_forward
    kw: dict[str, Any] = {"lengths": lengths}
    if kind == "gru":
        kw["variant"] = variant
    res = forward(params, x, h0, **kw)
    n_out, n_hn = res.output.size, res.h_n.size

    def outputs(p: Any, xv: np.ndarray, hv: np.ndarray) -> np.ndarray:
        r = forward(p, xv, hv, **kw)
        return np.concatenate([r.output.ravel(), r.h_n.ravel()])

    numerical = {
        "x": complex_step_jacobian(lambda v: outputs(params, v.reshape(x.shape), h0), x.ravel()),
        "h0": complex_step_jacobian(lambda v: outputs(params, x, v.reshape(h0.shape)), h0.ravel()),
        "params": complex_step_jacobian(lambda v: outputs(params.unflat(v), x, h0), params.flat()),
    }
    rows: dict[str, list[np.ndarray]] = {"x": [], "h0": [], "params": []}
    for i in range(n_out + n_hn):
        e = np.zeros(n_out + n_hn)
        e[i] = 1.0
        g = _backward(
            kind, variant, params, x, h0,
            e[:n_out].reshape(res.output.shape), e[n_out:].reshape(res.h_n.shape), lengths=lengths,
        )  # fmt: skip
        rows["x"].append(g.dx.ravel())
        rows["h0"].append(g.dh0.ravel())
        rows["params"].append(g.dparams.flat())
    for wrt, J_num in numerical.items():
        J = np.stack(rows[wrt])
        assert J.shape == J_num.shape
        err = float(np.max(np.abs(J - J_num)) / np.max(np.abs(J_num)))
        assert err <= 1e-12, f"{kind} {variant} Jacobian wrt {wrt}: rel-to-max error {err:.3g}"


# ---------------------------------------------------------------------------------------------
# The check must catch wrong gradients.


def test_check_flags_one_perturbed_gradient_entry() -> None:
    """A single analytic entry off by 1e-6 of its block's norm fails only that block's check."""
    kind, variant = "gru", "reset_after"
    params, x, h0, d_out, d_hn = _setup(kind, seed=11)
    grads = ref.gru_backward(params, x, h0, d_out, d_hn)
    target = "l1_reverse.W_hz"
    cell = grads.dparams.cell(1, 1)
    W_hz = cell.W_hz.copy()
    W_hz[1, 0] += 1e-6 * np.linalg.norm(W_hz)
    bad = dataclasses.replace(
        grads, dparams=grads.dparams.replace_cell(1, 1, cell.replace(W_hz=W_hz))
    )
    errors = _all_block_errors(kind, variant, params, x, h0, d_out, d_hn, None, grads=bad)
    flagged = sorted(k for k, (cs, ri) in errors.items() if max(cs, ri) > TOL)
    assert flagged == [target], f"flagged {flagged}, errors at {target}: {errors[target]}"
    assert min(errors[target]) > 1e-8, f"perturbation barely seen: {errors[target]}"


def test_check_flags_dropped_update_gate_term(monkeypatch: pytest.MonkeyPatch) -> None:
    """A backward that drops the ``dz/dh`` path (``da_z @ W_hz``) is caught through dx and dh0."""
    original = ref.gru_step_backward

    def dropped(cell: Any, x: Any, c: Any, dh_new: Any, variant: Any) -> Any:
        dx, dh, grads = original(cell, x, c, dh_new, variant)
        da_z = dh_new * (c["h_prev"] - c["n"]) * c["z"] * c["one_minus_z"]
        return dx, dh - da_z @ cell.W_hz, grads

    params, x, h0, d_out, d_hn = _setup("gru", seed=5)
    good = _all_block_errors("gru", "reset_after", params, x, h0, d_out, d_hn, None)
    monkeypatch.setattr(ref, "gru_step_backward", dropped)
    bad = _all_block_errors("gru", "reset_after", params, x, h0, d_out, d_hn, None)
    for block in ("x", "h0"):
        assert max(good[block]) <= TOL, f"correct gradient not accepted at {block}: {good[block]}"
        assert min(bad[block]) > 1e-3, f"dropped term not flagged at {block}: {bad[block]}"


# ---------------------------------------------------------------------------------------------
# The finite-difference primitives themselves.


def _f(v: np.ndarray) -> complex:
    """An analytic test function with known gradient: sum(tanh(a * v)) + prod-free quadratic."""
    a = np.arange(1, v.size + 1) / v.size
    s = np.sum(np.tanh(a * v)) + 0.5 * np.sum(v * v)
    return complex(s) if np.iscomplexobj(s) else float(s)


def _grad_f(v: np.ndarray) -> np.ndarray:
    a = np.arange(1, v.size + 1) / v.size
    return np.asarray(a * (1.0 - np.tanh(a * v) ** 2) + v)


def test_difference_formulas_error_orders() -> None:
    """Central error ~ h^2 (x100 per 10x step), Richardson << central, complex step ~ 1e-16."""
    rng = np.random.default_rng(1)
    v, u = rng.standard_normal(6), _unit_rows(rng, 1, 6)[0]
    exact = float(_grad_f(v) @ u)
    c2, c3 = (abs(central_difference(_f, v, u, h) - exact) for h in (1e-2, 1e-3))
    assert 30 < c2 / c3 < 300, f"central error ratio {c2 / c3:.3g} for 10x step, expected ~100"
    ri = abs(richardson_difference(_f, v, u, 1e-2) - exact)
    assert ri < c2 / 1e3, f"Richardson error {ri:.3g} not far below central {c2:.3g}"
    cs = abs(complex_step(_f, v, u) - exact)
    assert cs <= 4e-16 * max(abs(exact), 1.0), f"complex-step error {cs:.3g}"


def test_complex_step_breaks_on_abs() -> None:
    """Complex step is wrong on a non-analytic function: d/dv sum|v| = sign(v), it returns 0."""
    v, u = np.array([1.5, -2.0]), np.array([0.6, 0.8])
    got = complex_step(lambda t: complex(np.sum(np.abs(t))), v, u)
    assert got == 0.0 and float(np.sign(v) @ u) == pytest.approx(-0.2)


def test_complex_step_jacobian_of_linear_map_is_the_matrix() -> None:
    """``complex_step_jacobian(v -> A v) == A`` exactly."""
    A = np.random.default_rng(2).standard_normal((4, 3))
    J = complex_step_jacobian(lambda v: A @ v, np.ones(3))
    assert np.array_equal(J, A), f"max abs diff {np.max(np.abs(J - A)):.3g}"


def test_bad_direction_and_loss_arguments_raise() -> None:
    with pytest.raises(ValueError, match="direction has shape"):
        central_difference(_f, np.zeros(3), np.zeros(2))
    params, x, h0, d_out, _ = _setup("gru", layers=1, bidirectional=False)
    with pytest.raises(ValueError, match="wrt must be"):
        reference_loss("gru", params, x, h0, d_out, None, wrt="weights")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown network kind"):
        reference_loss("lstm", params, x, h0, d_out, None, wrt="x")  # type: ignore[arg-type]
