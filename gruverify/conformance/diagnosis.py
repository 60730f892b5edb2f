"""Diagnosis: when a target's outputs differ from the reference, what does it compute instead?

Each known bug pattern (docs/real-bugs.md) is a hypothesis: a function giving the outputs
a target with that bug would produce on a problem. Almost all are the float64 reference run on
transformed parameters, by identities of the GRU equations:

- the other reset variant: the reference with ``variant`` switched;
- r and z swapped (weights, biases, or both): the reference with the named arrays exchanged;
- ``b_hn`` outside the reset product in reset-after,
  ``n = tanh(W_in x + b_in + r * (W_hn h) + b_hn)``: reset-after with ``b_in' = b_in + b_hn`` and
  ``b_hn' = 0`` (in reset-before it is the correct equation, so the hypothesis drops out);
- ``b_hn`` missing: ``b_hn' = 0``; the input bias added twice: ``b_i*' = 2 b_i*``;
- the update convention flipped, ``h' = z n + (1 - z) h``: since ``1 - sigmoid(a) = sigmoid(-a)``,
  the reference with ``W_iz, W_hz, b_iz, b_hz`` negated;
- ``(1 - z)`` computed as ``z - 1``, ``h' = -(1 - z) n + z h``: since ``-tanh(a) = tanh(-a)``, the
  reference with ``W_in, b_in, W_hn, b_hn`` negated (in either variant ``a_n`` is linear in them);
- recurrent blocks transposed: ``W_h*' = W_h*^T``; gates split by the input size (offsets ``k I``
  instead of ``k H`` into the packed ``(3H, I)`` input weight): the rows taken at those offsets;
- ``h0`` ignored: the problem with ``h0 = None``;
- state not carried (every step from ``h0``): the reference on a one-step problem whose batch is
  every ``(t, b)`` pair, ``h0`` tiled; ``h_n`` is the state after each sequence's last step;
- the reverse direction's outputs not flipped back (in every layer): one-layer reference runs
  chained, the reverse half of each layer's output reversed within each sequence's length;
- the bidirectional output laid out ``[T, B, H, dirs]``: the reference output interleaved.

Each hypothesis gets its own tolerance from the error model (``gruverify.error_model``): the
hypothesis is run on the problem as the target sees it (rounded to its storage dtype) and on a few
perturbations of it at the arithmetic's unit roundoff. A hypothesis that cannot be told from the
expected reference on this problem (within its tolerance) is skipped; the best-fitting hypothesis
within tolerance is the diagnosis, ranked by ``error / tolerance``, with any others that also fit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gruverify.core.arithmetic import Arithmetic, worst_entry
from gruverify.core.params import GRUCellParams, GRUParams, StackParams, Variant
from gruverify.core.problem import Implementation, Outputs, Problem
from gruverify.core.shapes import (
    from_time_major,
    state_from_batched,
    state_to_batched,
    to_time_major,
)
from gruverify.error_model import ErrorModel, Tolerance, arithmetic_of
from gruverify.reference.numpy_reference import gru_forward

__all__ = ["HYPOTHESES", "Diagnosis", "Hypothesis", "diagnose", "diagnose_implementation"]

Run = Callable[[Problem, Variant], Outputs]

_VARIANT_TEXT = {
    "reset_after": "the reset-after variant (torch, cuDNN; ONNX linear_before_reset=1; "
    "Keras reset_after=True)",
    "reset_before": "the reset-before variant (Cho et al. 2014; ONNX linear_before_reset=0; "
    "Keras reset_after=False)",
}


@dataclasses.dataclass(frozen=True)
class Hypothesis:
    """A known bug pattern: ``run(problem, expected_variant)`` gives what such a target outputs."""

    name: str
    description: str | Callable[[Variant], str]
    run: Run

    def describe(self, variant: Variant) -> str:
        return self.description(variant) if callable(self.description) else self.description


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """The hypothesis that explains the target's outputs best, within its tolerance."""

    name: str
    description: str
    error: float
    tolerance: float
    alternatives: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = (
            f"the target matches {self.description} to {self.error:.2g} "
            f"(tolerance {self.tolerance:.2g})"
        )
        if self.alternatives:
            text += f"; also consistent with: {', '.join(self.alternatives)}"
        return text


def _lengths(problem: Problem, steps: int, batch: int) -> np.ndarray:
    if problem.lengths is None:
        return np.full(batch, steps, dtype=np.int64)
    return np.asarray(problem.lengths, dtype=np.int64)


def _flip_valid(seq: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``out[t, b] = seq[lengths[b] - 1 - t, b]`` for ``t < lengths[b]``, zeros beyond."""
    out = np.zeros_like(seq)
    for b, n in enumerate(lengths):
        out[:n, b] = seq[:n, b][::-1]
    return out


# -- hypotheses as parameter transformations ------------------------------------------------------


def _reference(problem: Problem, variant: Variant) -> Outputs:
    r = gru_forward(problem.params, problem.x, problem.h0, variant=variant,
                    batch_first=problem.batch_first, lengths=problem.lengths)  # fmt: skip
    return Outputs(r.output, r.h_n)


def _with_cells(
    fn: Callable[[GRUCellParams[np.ndarray], int], GRUCellParams[np.ndarray]],
) -> Run:
    """The reference on parameters transformed cell by cell (``fn(cell, layer)``)."""

    def run(problem: Problem, variant: Variant) -> Outputs:
        p = problem.params
        rows = tuple(tuple(fn(c, layer) for c in row) for layer, row in enumerate(p.cells))
        params: GRUParams = StackParams(rows, bias=p.bias)
        return _reference(dataclasses.replace(problem, params=params), variant)

    return run


def _swap(*pairs: tuple[str, str]) -> Run:
    def fn(c: GRUCellParams[np.ndarray], layer: int) -> GRUCellParams[np.ndarray]:
        changes = {}
        for a, b in pairs:
            changes[a], changes[b] = getattr(c, b), getattr(c, a)
        return c.replace(**changes)

    return _with_cells(fn)


_W_RZ = (("W_ir", "W_iz"), ("W_hr", "W_hz"))
_B_RZ = (("b_ir", "b_iz"), ("b_hr", "b_hz"))


def _split_by_input_size(c: GRUCellParams[np.ndarray], layer: int) -> GRUCellParams[np.ndarray]:
    H, I = c.hidden_size, c.input_size
    w = np.concatenate([c.W_ir, c.W_iz, c.W_in])
    b = np.concatenate([c.b_ir, c.b_iz, c.b_in])
    rows = [(k * I + np.arange(H)) % (3 * H) for k in range(3)]
    return c.replace(
        W_ir=w[rows[0]], W_iz=w[rows[1]], W_in=w[rows[2]],
        b_ir=b[rows[0]], b_iz=b[rows[1]], b_in=b[rows[2]],
    )  # fmt: skip


def _other_variant(problem: Problem, variant: Variant) -> Outputs:
    return _reference(problem, "reset_before" if variant == "reset_after" else "reset_after")


def _h0_ignored(problem: Problem, variant: Variant) -> Outputs:
    return _reference(dataclasses.replace(problem, h0=None), variant)


# -- hypotheses needing a small alternative forward built from the reference ----------------------


def _state_not_carried(problem: Problem, variant: Variant) -> Outputs:
    """Every step from ``h0``: a one-step run with batch ``T * B`` (row ``t * B + b``)."""
    x = to_time_major(np.asarray(problem.x), problem)
    T, B, _ = x.shape
    p = problem.params
    D, H = p.num_directions, p.hidden_size
    h0 = (
        None
        if problem.h0 is None
        else np.tile(state_to_batched(np.asarray(problem.h0), problem), (1, T, 1))
    )
    r = gru_forward(p, x.reshape(1, T * B, -1), h0, variant=variant)
    lens = _lengths(problem, T, B)
    valid = (np.arange(T)[:, None] < lens[None, :])[..., None]
    out = np.where(valid, r.output.reshape(T, B, D * H), 0.0)
    states = r.h_n.reshape(p.num_layers * D, T, B, H)
    cols = np.arange(B)
    h_n = np.stack([
        states[i, lens - 1, cols] if i % D == 0 else states[i, 0, cols]
        for i in range(p.num_layers * D)
    ])  # fmt: skip
    return Outputs(from_time_major(out, problem), state_from_batched(h_n, problem))


def _reverse_not_flipped(problem: Problem, variant: Variant) -> Outputs:
    """One-layer reference runs chained, each layer's reverse outputs reversed in time."""
    p = problem.params
    if not p.bidirectional:
        return _reference(problem, variant)
    seq = to_time_major(np.asarray(problem.x), problem)
    T, B, _ = seq.shape
    H = p.hidden_size
    h0 = None if problem.h0 is None else state_to_batched(np.asarray(problem.h0), problem)
    lens = _lengths(problem, T, B)
    finals = []
    for layer, row in enumerate(p.cells):
        one: GRUParams = StackParams((row,), bias=p.bias)
        h0_l = None if h0 is None else h0[2 * layer : 2 * layer + 2]
        r = gru_forward(one, seq, h0_l, variant=variant, lengths=problem.lengths)
        seq = r.output.copy()
        seq[..., H:] = _flip_valid(r.output[..., H:], lens)
        finals.append(r.h_n)
    return Outputs(
        from_time_major(seq, problem), state_from_batched(np.concatenate(finals), problem)
    )


def _interleaved(problem: Problem, variant: Variant) -> Outputs:
    ref = _reference(problem, variant)
    out = to_time_major(ref.output, problem)
    T, B, DH = out.shape
    D = problem.params.num_directions
    mixed = out.reshape(T, B, D, DH // D).transpose(0, 1, 3, 2).reshape(T, B, DH)
    return Outputs(from_time_major(mixed, problem), ref.h_n)


def _negate_z(c: GRUCellParams[np.ndarray], layer: int) -> GRUCellParams[np.ndarray]:
    return c.replace(W_iz=-c.W_iz, W_hz=-c.W_hz, b_iz=-c.b_iz, b_hz=-c.b_hz)


def _negate_n(c: GRUCellParams[np.ndarray], layer: int) -> GRUCellParams[np.ndarray]:
    return c.replace(W_in=-c.W_in, b_in=-c.b_in, W_hn=-c.W_hn, b_hn=-c.b_hn)


HYPOTHESES: tuple[Hypothesis, ...] = (
    Hypothesis(
        "other variant",
        lambda v: _VARIANT_TEXT["reset_before" if v == "reset_after" else "reset_after"],
        _other_variant,
    ),
    Hypothesis("r/z swapped", "r and z swapped in weights and biases (gate order z, r, n)",
               _swap(*_W_RZ, *_B_RZ)),
    Hypothesis("r/z swapped in weights", "r and z swapped in the weights but not the biases",
               _swap(*_W_RZ)),
    Hypothesis("r/z swapped in biases", "r and z swapped in the biases only", _swap(*_B_RZ)),
    Hypothesis(
        "b_hn outside reset",
        "b_hn outside the reset product: n = tanh(W_in x + b_in + r * (W_hn h) + b_hn)",
        _with_cells(lambda c, _: c.replace(b_in=c.b_in + c.b_hn, b_hn=0.0 * c.b_hn)),
    ),
    Hypothesis("b_hn missing", "b_hn missing (the hidden candidate path has no bias)",
               _with_cells(lambda c, _: c.replace(b_hn=0.0 * c.b_hn))),
    Hypothesis("input bias twice", "the input biases b_ir, b_iz, b_in added twice",
               _with_cells(lambda c, _: c.replace(b_ir=2 * c.b_ir, b_iz=2 * c.b_iz, b_in=2 * c.b_in))),
    Hypothesis("update flipped", "the update convention flipped: h' = z n + (1 - z) h",
               _with_cells(_negate_z)),
    Hypothesis("one minus z as z minus 1", "(1 - z) computed as z - 1: h' = (z - 1) n + z h",
               _with_cells(_negate_n)),
    Hypothesis("recurrent weights transposed", "every recurrent block W_h* used transposed",
               _with_cells(lambda c, _: c.replace(W_hr=c.W_hr.T, W_hz=c.W_hz.T, W_hn=c.W_hn.T))),
    Hypothesis(
        "split by input size",
        "input-weight gates split at offsets k * input_size instead of k * hidden_size",
        _with_cells(_split_by_input_size),
    ),
    Hypothesis("h0 ignored", "h0 ignored (zeros used as the initial state)", _h0_ignored),
    Hypothesis("state not carried", "state not carried: every step starts from h0",
               _state_not_carried),
    Hypothesis(
        "reverse not flipped",
        "the reverse direction's outputs not flipped back in time (in every layer)",
        _reverse_not_flipped,
    ),
    Hypothesis("interleaved directions", "bidirectional output laid out [T, B, H, dirs]",
               _interleaved),
)  # fmt: skip
"""The known bug patterns, in the order ties are broken."""


# -- tolerance per hypothesis and the search --------------------------------------------------------


_Fit = tuple[Outputs, Tolerance]
"""A hypothesis' outputs on the rounded problem and their tolerances."""


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    if np.shape(a) != np.shape(b):
        return float("inf")
    if np.size(a) == 0:
        return 0.0
    return worst_entry(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))[1]


def _fit(run: Run, problem: Problem, variant: Variant, model: ErrorModel) -> _Fit:
    """The hypothesis' outputs on the rounded problem and tolerances from perturbed reruns
    (``ErrorModel.forward_of``: ``safety * s + floor * u * max(1, |ref|)``)."""
    return model.forward_of(lambda p, rng: run(p, variant), problem)


def _ratio(fit: _Fit, got: Outputs) -> tuple[float, float, float]:
    """``(max error / tolerance, error, tolerance)`` over output and h_n."""
    outputs, tol = fit
    e_out = _max_abs(got.output, outputs.output)
    e_hn = _max_abs(got.h_n, outputs.h_n)
    r_out = e_out / tol.output if tol.output > 0 else (0.0 if e_out == 0 else np.inf)
    r_hn = e_hn / tol.h_n if tol.h_n > 0 else (0.0 if e_hn == 0 else np.inf)
    if r_out >= r_hn:
        return float(r_out), e_out, tol.output
    return float(r_hn), e_hn, tol.h_n


def _outputs(outputs: Any) -> Outputs:
    if not isinstance(outputs, Outputs):
        raise TypeError(
            f"outputs must be gruverify.interface.Outputs, got {type(outputs).__name__}"
        )
    return Outputs(np.asarray(outputs.output), np.asarray(outputs.h_n))


def diagnose(
    problem: Problem,
    variant: Variant,
    outputs: Outputs,
    arithmetic: Arithmetic,
    *,
    hypotheses: Sequence[Hypothesis] = HYPOTHESES,
    model: ErrorModel | None = None,
) -> Diagnosis | None:
    """The known bug pattern that explains ``outputs`` (the target's, caller layout) on ``problem``.

    ``variant`` is the variant the target should compute, ``arithmetic`` the one it computes in
    (``gruverify.error_model.arithmetic_of``). Returns None when the outputs match the expected
    reference (nothing to explain), when no hypothesis fits within its tolerance, or when the
    problem is too ill-conditioned at this precision to tell hypotheses apart.
    """
    if variant not in _VARIANT_TEXT:
        raise ValueError(f"unknown GRU variant {variant!r}; expected reset_after or reset_before")
    got = _outputs(outputs)
    model = model or ErrorModel(arithmetic)
    expected = _fit(_reference, problem, variant, model)
    if not expected[1].conditioned:
        return None  # chaotic at this precision: no comparison can tell patterns apart
    if _ratio(expected, got)[0] <= 1.0:
        return None
    fits: list[tuple[float, int, float, float, Hypothesis]] = []
    for i, hyp in enumerate(hypotheses):
        fit = _fit(hyp.run, problem, variant, model)
        if _ratio(fit, expected[0])[0] <= 1.0:
            continue  # indistinguishable from the expected reference on this problem
        ratio, err, tol = _ratio(fit, got)
        if ratio <= 1.0:
            fits.append((ratio, i, err, tol, hyp))
    if not fits:
        return None
    fits.sort(key=lambda f: (f[0], f[1]))
    _, _, err, tol, best = fits[0]
    others = tuple(f[4].describe(variant) for f in fits[1:])
    return Diagnosis(best.name, best.describe(variant), err, tol, others)


def diagnose_implementation(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> Diagnosis | None:
    """``diagnose`` for an ``Implementation`` on a (failing) problem: runs ``impl.forward`` and uses
    the implementation's own variant and arithmetic (``model``'s, when given). None when the
    forward pass raises (a crash has no numbers to explain)."""
    try:
        got = impl.forward(problem)
    except Exception:
        return None
    arithmetic = model.arithmetic if model is not None else arithmetic_of(impl)
    return diagnose(problem, impl.variant, got, arithmetic, model=model)
