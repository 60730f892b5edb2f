"""A zoo of GRU modules for proving the checker: planted-bug mutants and correct alternatives.

Every module has ``torch.nn.GRU``'s constructor, state-dict names and call semantics
(``gruverify.zoo.base.ZooGRU``). ``MUTANTS`` maps a name to ``(class, the bug pattern, the check
expected to catch it)``; ``CORRECT`` maps a name to ``(class, how it differs from torch, "")``.
The mutants mirror the defects of ../shared/notes/real-bugs.md (each class docstring cites its
tracker thread). Usage: ``gruverify check gruverify.zoo.mutants:NoResetBias``.
"""

from __future__ import annotations

from typing import NamedTuple

from gruverify.zoo import correct, mutants
from gruverify.zoo.base import Gates, ZooGRU, flip_valid

__all__ = ["CORRECT", "MUTANTS", "Gates", "ZooEntry", "ZooGRU", "flip_valid"]


class ZooEntry(NamedTuple):
    """A zoo module: its class, what it does wrong (or differently), the check that should see it."""

    cls: type[ZooGRU]
    pattern: str
    check: str


_M = mutants
MUTANTS: dict[str, ZooEntry] = {
    e.cls.__name__: e
    for e in (
        ZooEntry(_M.ResetBefore, "wrong reset placement (reset-before computed)", "forward"),
        ZooEntry(_M.GateOrderZRN, "r and z swapped in weights and biases", "forward"),
        ZooEntry(_M.SwappedWeightsOnly, "r and z swapped in weights, not biases", "forward"),
        ZooEntry(_M.SwappedBiasesOnly, "r and z swapped in biases only", "forward"),
        ZooEntry(_M.TransposedRecurrentKernel, "recurrent blocks used transposed", "forward"),
        ZooEntry(_M.BhnOutsideReset, "b_hn outside the reset product", "forward"),
        ZooEntry(_M.NoResetBias, "b_hn dropped", "forward"),
        ZooEntry(_M.BiasAddedTwice, "input bias added twice", "forward"),
        ZooEntry(_M.IgnoresInitialState, "h0 ignored (zeros used)", "forward"),
        ZooEntry(_M.NoneIsNotZeros, "h0=None != zeros (hidden path skipped at step 0)", "forward"),
        ZooEntry(_M.StateNotCarried, "state not carried (each step from h0)", "forward"),
        ZooEntry(_M.SplitByInputSize, "gates split by input size (only I != H)", "forward"),
        ZooEntry(_M.ReverseNotFlippedBack, "reverse outputs not flipped back", "forward"),
        ZooEntry(_M.BidirectionalInterleaved, "bidirectional layout [T,B,H,dirs]", "forward"),
        ZooEntry(_M.ReverseStartsInPadding, "reverse pass starts inside padding", "lengths"),
        ZooEntry(_M.StaleStateAcrossCalls, "state leaks from the previous call", "repeat"),
        ZooEntry(_M.MutatesInput, "input overwritten in place", "input_unchanged"),
        ZooEntry(_M.AcceptsBadInitialState, "wrong-shaped h0 silently broadcast", "bad_shapes"),
        ZooEntry(_M.LastLayerStateOnly, "h_n holds the last layer only", "shapes"),
        ZooEntry(_M.UpdateConventionFlipped, "h' = z n + (1 - z) h", "forward"),
        ZooEntry(_M.OneMinusZSign, "(1 - z) computed as z - 1", "forward"),
        ZooEntry(_M.OneMinusZHalfPrecision, "(1 - z) computed in float16", "forward"),
        ZooEntry(_M.BackwardDropsUpdateGatePath, "backward drops dz/dh", "gradients"),
        ZooEntry(_M.DetachedFinalState, "h_n detached (no gradient from h_n)", "gradients"),
        ZooEntry(
            _M.MiddleLayerGradientScaled, "layer-1 gradients halved (>= 3 layers)", "gradients"
        ),
        ZooEntry(_M.Nondeterministic, "outputs jittered by 1e-6 per call", "determinism"),
        ZooEntry(_M.WrongAtBatch3, "stale rows of h0 at batch >= 3 without hx", "forward"),
        ZooEntry(_M.UnstableSigmoid, "sigmoid NaN for large pre-activations", "finiteness"),
        ZooEntry(_M.ClampedState, "state clamped to [-0.999, 0.999]", "forward (saturated)"),
        ZooEntry(_M.PerturbedWeightBlock, "W_hz off by a relative 1e-3", "forward"),
        ZooEntry(_M.UpdateGateBiasOffset, "update-gate bias off by 1e-2", "forward"),
    )
}

CORRECT: dict[str, ZooEntry] = {
    e.cls.__name__: e
    for e in (
        ZooEntry(correct.FusedBiasGRU, "fused matmuls, b_i + b_h fused for r and z", ""),
        ZooEntry(correct.TanhSigmoidGRU, "sigmoid(a) = (1 + tanh(a / 2)) / 2", ""),
        ZooEntry(correct.CourseConventionGRU, "G_u = 1 - z from negated weights", ""),
        ZooEntry(correct.Float64InsideGRU, "computes in float64, rounds once", ""),
        ZooEntry(correct.ChunkedGRU, "batch in chunks of 2, time in chunks of 3", ""),
        ZooEntry(correct.ReverseByFlipGRU, "reverse direction = flip, scan, flip", ""),
        ZooEntry(ZooGRU, "the zoo's base: explicit ops, Python loop over time", ""),
    )
}
