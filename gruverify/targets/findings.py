"""What the built-in library targets are known to do, as data: printed beside the check it explains.

A ``Finding`` names the targets and checks it concerns (``forward[*]``: every forward check),
what the library does, the versions it was seen in, and the upstream report where one exists.
``finding_for(target, check)`` is the finding that explains a result of ``check`` on ``target``
(or None). The checker prints it next to the warning or failure (``CheckResult.finding``) and never
changes a status for it: a project that accepts a finding acknowledges it itself (``--xfail``,
``[[tool.gruverify.xfail]]``), which is what turns it into ``xfail``.

The figures come from ``scripts/measure_activations.py`` and the checker's own runs
(docs/checker.md, "Findings on real libraries").
"""

from __future__ import annotations

import dataclasses

__all__ = ["FINDINGS", "Finding", "finding_for"]


@dataclasses.dataclass(frozen=True)
class Finding:
    """A library behaviour that explains a check's result on some built-in targets."""

    targets: tuple[str, ...]
    checks: tuple[str, ...]
    """Check names; ``forward[*]`` stands for every ``forward[...]`` check."""
    what: str
    """What the library does, in one sentence."""
    seen_in: str
    """The versions it was seen in (``"onnxruntime 1.32.0"``)."""
    upstream: str = ""
    """The upstream report, or related ones; empty when none was found."""

    def concerns(self, target: str, check: str) -> bool:
        return target in self.targets and any(
            check == p or (p.endswith("[*]") and check.startswith(p[:-2])) for p in self.checks
        )

    def __str__(self) -> str:
        text = f"{self.what} (seen in {self.seen_in}"
        return text + (f"; upstream: {self.upstream})" if self.upstream else ")")


FINDINGS: tuple[Finding, ...] = (
    Finding(
        ("onnx-torchscript", "onnx-dynamo"),
        ("box invariance",),
        "onnxruntime's GRU kernel computes tanh with an approximation that returns up to "
        "1 + 10 u (1.0000006) for saturated pre-activations, e.g. 1 + 2^-21 for tanh(100), and a "
        "sigmoid up to 1 + 2^-23",
        "onnxruntime 1.32.0 (CPU)",
        "none found for onnxruntime; the same defect was tensorflow/tensorflow#35435 (fixed)",
    ),
    Finding(
        ("keras-reset-after", "keras-reset-before"),
        ("bad initial state rejected",),
        "keras.layers.GRU broadcasts an initial state of the wrong batch size (a state of "
        "batch 1 serves a larger batch) instead of raising; right-shaped states give the right "
        "numbers",
        "keras 3.15.1, torch backend",
        "the same broadcast for stateful RNNs: keras-team/keras#21183 (open)",
    ),
    Finding(
        ("onnx-reference",),
        ("forward[lengths]", "lengths truncation"),
        "onnx.reference's GRU evaluator ignores sequence_lens (reference/ops/op_gru.py never reads "
        "it): every sequence runs all T steps, so padded steps are computed and the state runs "
        "past each sequence's length",
        "onnx 1.23.2",
        "none found",
    ),
    Finding(
        ("onnx-reference",),
        ("bad initial state rejected",),
        "onnx.reference's GRU evaluator broadcasts an initial_h of batch 1 over the batch instead "
        "of rejecting it (onnxruntime rejects it)",
        "onnx 1.23.2",
        "none found",
    ),
    Finding(
        ("openvino", "openvino-default"),
        ("forward[lengths]", "lengths truncation"),
        "with dynamic input shapes the CPU plugin's GRUSequence ignores sequence_lengths: every "
        "sequence runs all T steps (a model compiled for static shapes honours them)",
        "openvino 2026.4.1 (CPU plugin)",
        "related: openvinotoolkit/openvino#10710 disabled the decomposition that applies "
        "sequence lengths for dynamic shapes",
    ),
    Finding(
        ("keras-tensorflow", "tflite"),
        ("bad initial state rejected",),
        "keras.layers.GRU on the TensorFlow backend broadcasts an initial state of batch 1 over "
        "a larger batch instead of raising; right-shaped states give the right numbers",
        "keras 3.15.1, tensorflow-cpu 2.20.0",
        "the same broadcast for stateful RNNs: keras-team/keras#21183 (open)",
    ),
    Finding(
        ("paddle",),
        ("gradient[*]",),
        "paddle.nn.GRU's backward gives wrong gradients for the reverse direction when "
        "sequence_length is given (its forward is right), and NaN gradients of x and the reset "
        "gate's parameters at saturated gates",
        "paddlepaddle 3.3.1 (CPU)",
        "none found",
    ),
    Finding(
        ("mnn",),
        ("forward[*]", "lengths truncation"),
        "MNN's converted ONNX GRU ignores sequence_lens: every sequence runs all T steps, so "
        "padded output steps are not zero and the final state is the state at step T (in every "
        "forward case drawn with lengths); onnxruntime honours the same file's lengths",
        "MNN 3.6.1 (converter and CPU runtime), torch 2.13.0 export",
        "none found",
    ),
    Finding(
        ("mnn",),
        ("bad initial state rejected",),
        "MNN broadcasts an initial_h of batch 1 over a larger batch instead of rejecting it",
        "MNN 3.6.1 (CPU runtime)",
        "none found",
    ),
    Finding(
        ("mnn[dynamic-time]",),
        ("forward[*]",),
        "MNN's converter takes a dynamic time axis of an ONNX GRU for a single step ('Single "
        "SeqLength, don't use while but unrool it'): the model runs only sequences of length 1 and "
        "returns no outputs for any longer one, whatever the batch ('Reshape error' at batch 1, "
        "'Broad cast error, dim1 = B, dim2 = T * B' above); a static time axis converts to a "
        "working model",
        "MNN 3.6.1, torch 2.13.0 export with dynamic_axes on T",
        "none found",
    ),
    Finding(
        ("mnn[origin-rnn]",),
        ("forward[bidirectional]", "forward[*]", "direction alignment"),
        "MNN's converter with --useOriginRNNImpl (its fused RNN op) gives a wrong final state for "
        "the reverse direction of a bidirectional GRU: Y and the forward Y_h are right, the "
        "reverse Y_h is none of the reverse outputs",
        "MNN 3.6.1, torch 2.13.0 export",
        "none found",
    ),
    Finding(
        ("flax-nnx",),
        ("forward[*]", "gradient[*]"),
        "flax.nnx.GRUCell has no b_hn: its hidden candidate path has no bias, so it computes "
        "a different GRU whenever b_hn != 0",
        "flax 0.12.8",
        "google/flax#5594",
    ),
    Finding(
        ("mindspore",),
        ("forward[*]", "gradient[*]"),
        "MindSpore's float32 Tanh kernel on the CPU is an approximation off by up to 1.0e-4 "
        "(~1700 ulp, near |x| = 5) that exceeds 1 in magnitude (tanh(-5) = -1.0000098), and its "
        "Sigmoid is off by up to 8.3e-7 (~34 ulp); the float64 kernels are exact. Declared as "
        "approximate activations (--activation-error 1.1e-4) the GRU passes",
        "mindspore 2.10.0 (CPU)",
        "none found",
    ),
    Finding(
        ("mindspore",),
        ("bad initial state rejected",),
        "mindspore.nn.GRU accepts an initial state whose batch differs from the input's and "
        "broadcasts the input over the state's batch (an input of batch 1 with a state of batch "
        "2 returns an output of batch 2) instead of rejecting it",
        "mindspore 2.10.0 (CPU)",
        "none found",
    ),
    Finding(
        ("jittor",),
        ("bad initial state rejected",),
        "jittor.nn.GRU broadcasts an initial state of batch 1 over a larger batch instead of "
        "rejecting it; right-shaped states give the right numbers",
        "jittor 1.3.11",
        "none found",
    ),
)
"""The built-in targets' known findings."""


def finding_for(target: str, check: str) -> Finding | None:
    """The known finding that explains a result of ``check`` on the built-in ``target``, or None."""
    for finding in FINDINGS:
        if finding.concerns(target, check):
            return finding
    return None
