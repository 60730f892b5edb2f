"""A zoo of GRU modules for proving the checker: planted-bug mutants and correct alternatives.

Every module has ``torch.nn.GRU``'s constructor, state-dict names and call semantics
(``gruverify.zoo.base.ZooGRU``). ``MUTANTS`` maps a name to ``(class, the bug pattern, the check
expected to catch it, "failure" or "warning")``: every mutant whose bug changes numbers,
gradients or semantics is a failure; ``AcceptsBadInitialState``, whose only fault is lax
validation, is a warning (a failure under ``--strict``). ``CORRECT`` maps a name to ``(class, how
it differs from torch, "")``. The mutants mirror the defects of docs/real-bugs.md (each class
docstring cites its tracker thread). Usage: ``gruverify check gruverify.zoo.mutants:NoResetBias``.

``SCALE_MUTANTS`` (``gruverify.zoo.scale``) are wrong only where production kernels change path
(a hidden-unit tile tail, a batch-block tail, a state spilled on long runs, a chunk boundary in
time); ``SCALE_OPTIONS`` gives the size options that expose each (``gruverify check
gruverify.zoo.scale:HiddenTileTail --max-hidden 64``). They pass the default sizes, except
``ChunkBoundaryState``, which the default ``forward[long]`` check catches and which is in
``MUTANTS`` too.
"""

from __future__ import annotations

from typing import NamedTuple

from gruverify.zoo import correct, mutants, scale
from gruverify.zoo.base import Gates, ZooGRU, flip_valid

__all__ = [
    "CORRECT",
    "MUTANTS",
    "SCALE_MUTANTS",
    "SCALE_OPTIONS",
    "Gates",
    "ZooEntry",
    "ZooGRU",
    "flip_valid",
]


class ZooEntry(NamedTuple):
    """A zoo module: its class, what it does wrong (or differently), the check that should see it,
    and how that check reports it: ``"failure"`` (the bug changes numbers, gradients or
    semantics) or ``"warning"`` (the mutant computes the GRU and is only lax about bad input:
    a warning by default, a failure under ``--strict``)."""

    cls: type[ZooGRU]
    pattern: str
    check: str
    severity: str = "failure"


_M = mutants
_F = "forward[basic]"
MUTANTS: dict[str, ZooEntry] = {
    e.cls.__name__: e
    for e in (
        ZooEntry(_M.ResetBefore, "wrong reset placement (reset-before computed)", _F),
        ZooEntry(_M.GateOrderZRN, "r and z swapped in weights and biases", _F),
        ZooEntry(_M.SwappedWeightsOnly, "r and z swapped in weights, not biases", _F),
        ZooEntry(_M.SwappedBiasesOnly, "r and z swapped in biases only", _F),
        ZooEntry(_M.TransposedRecurrentKernel, "recurrent blocks used transposed", _F),
        ZooEntry(_M.BhnOutsideReset, "b_hn outside the reset product", _F),
        ZooEntry(_M.NoResetBias, "b_hn dropped", _F),
        ZooEntry(_M.BiasAddedTwice, "input bias added twice", _F),
        ZooEntry(_M.IgnoresInitialState, "h0 ignored (zeros used)", "chunked continuation"),
        ZooEntry(_M.NoneIsNotZeros, "h0=None != zeros (step 0 skips the hidden path)",
                 "h0=None equals zeros"),
        ZooEntry(_M.StateNotCarried, "state not carried (each step from h0)",
                 "chunked continuation"),
        ZooEntry(_M.SplitByInputSize, "gates split by input size (only I != H)", _F),
        ZooEntry(_M.ReverseNotFlippedBack, "reverse outputs not flipped back",
                 "direction alignment"),
        ZooEntry(_M.BidirectionalInterleaved, "bidirectional layout [T, B, H, dirs]",
                 "direction alignment"),
        ZooEntry(_M.ReverseStartsInPadding, "reverse pass starts inside padding",
                 "lengths truncation"),
        ZooEntry(_M.StaleStateAcrossCalls, "state leaks from the previous call", "instance reuse"),
        ZooEntry(_M.MutatesInput, "input overwritten in place (silently, via .data)",
                 "gradient[output]"),
        ZooEntry(_M.AcceptsBadInitialState, "wrong-shaped h0 silently broadcast",
                 "bad initial state rejected", "warning"),
        ZooEntry(_M.LastLayerStateOnly, "h_n holds the last layer only", "layer stacking"),
        ZooEntry(_M.UpdateConventionFlipped, "h' = z n + (1 - z) h", _F),
        ZooEntry(_M.OneMinusZSign, "(1 - z) computed as z - 1", _F),
        ZooEntry(_M.OneMinusZHalfPrecision, "(1 - z) computed in float16", _F),
        ZooEntry(_M.BackwardDropsUpdateGatePath, "backward drops dz/dh", "gradient[output]"),
        ZooEntry(_M.DetachedFinalState, "h_n detached (no gradient from h_n)", "gradient[h_n]"),
        ZooEntry(_M.MiddleLayerGradientScaled, "layer-1 gradients halved (>= 3 layers)",
                 "gradient[output]"),
        ZooEntry(_M.Nondeterministic, "outputs jittered by 1e-6 per call", "determinism"),
        ZooEntry(_M.DropoutInEval, "dropout between layers applied in eval mode",
                 "eval without dropout"),
        ZooEntry(_M.WrongAtBatch3, "stale rows of h0 at batch >= 3 without hx",
                 "batch independence"),
        ZooEntry(_M.UnstableSigmoid, "sigmoid NaN for large pre-activations",
                 "forward[saturated]"),
        ZooEntry(_M.ClampedState, "state clamped to [-0.999, 0.999]", "carry-over"),
        ZooEntry(_M.PerturbedWeightBlock, "W_hz off by a relative 1e-3", _F),
        ZooEntry(_M.UpdateGateBiasOffset, "update-gate bias off by 1e-2", _F),
        ZooEntry(scale.ChunkBoundaryState, "state reloaded from h0 every 32 steps",
                 "forward[long]"),
        ZooEntry(_M.TruncatedBackward, "state detached every 16 steps (exact forward)",
                 "gradient[long]"),
        ZooEntry(_M.RawStorageInput, "input read from its storage as if contiguous",
                 "memory layouts"),
    )
}  # fmt: skip

SCALE_MUTANTS: dict[str, ZooEntry] = {
    e.cls.__name__: e
    for e in (
        ZooEntry(scale.HiddenTileTail, "tail tile of hidden units (H % 32) skips the reset gate",
                 _F),
        ZooEntry(scale.BatchBlockTail, "tail block of the batch (B % 8) never carries its state",
                 _F),
        ZooEntry(scale.LongSequenceSpill, "state rounded to float16 from step 256 on", _F),
        ZooEntry(scale.ChunkBoundaryState, "state reloaded from h0 every 32 steps",
                 "forward[long]"),
    )
}  # fmt: skip

SCALE_OPTIONS: dict[str, tuple[str, ...]] = {
    "HiddenTileTail": ("--max-hidden", "64"),
    "BatchBlockTail": ("--max-batch", "16"),
    "LongSequenceSpill": ("--max-steps", "300"),
    "ChunkBoundaryState": (),
}
"""The size options under which each scale mutant is flagged (none: by the default check)."""

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
