"""``onnx.reference.ReferenceEvaluator`` on one-node GRU models against the float64 reference.

Laws: for both ``linear_before_reset`` values, the evaluator with ``gru_to_onnx`` weights computes
the reference GRU of the matching variant (float32 within the error model's float32 tolerance,
float64 within float64's) over forward and bidirectional nodes, stacks of nodes, ``bias=False``,
no ``initial_h`` and ``layout=1``; a ``"reverse"`` node equals the reverse half of a bidirectional
one; judged against the other variant it fails. The finding: the evaluator ignores
``sequence_lens`` (onnx 1.23.2): with lengths it returns exactly what it returns without them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("onnx", reason="onnx is an optional dependency (gruverify[onnx])")

from test_targets_external import (
    BUG_MIN,
    assert_broadcasts_a_batch_1_state,
    assert_computes_its_variant,
    forward_error,
    make_problem,
)

from gruverify.core.params import VARIANTS, Variant
from gruverify.error_model import ARITHMETICS, ErrorModel
from gruverify.layouts.onnx_layout import gru_to_onnx
from gruverify.targets.onnx_reference_target import (
    NodeConfig,
    OnnxReferenceTarget,
    make_onnx_gru_node_model,
)

CASES = {
    "basic": {},
    "long": {"T": 9, "B": 2, "seed": 2},
    "bidirectional-3-layers": {"I": 2, "H": 3, "layers": 3, "bidirectional": True},
    "no-bias-no-h0-batch-first": {"I": 2, "H": 3, "bias": False, "h0": False, "batch_first": True},
    "2-layers-bidirectional-batch-first": {"layers": 2, "bidirectional": True, "batch_first": True},
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("case", list(CASES))
def test_onnx_reference_computes_its_variant_in_float32(variant: Variant, case: str) -> None:
    target = OnnxReferenceTarget(variant)
    assert target.variant == variant
    assert_computes_its_variant(target, make_problem(**CASES[case]), gradients=False)


@pytest.mark.parametrize("variant", VARIANTS)
def test_onnx_reference_in_float64(variant: Variant) -> None:
    target = OnnxReferenceTarget(variant, dtype="float64")
    problem = make_problem(**CASES["bidirectional-3-layers"])
    ref, tol = ErrorModel(ARITHMETICS["float64"]).forward(problem, variant)
    got = target.forward(problem)
    err = float(np.max(np.abs(got.output - ref.output)))
    assert err <= tol.output, f"{err:.3g} > {tol.output:.3g}"
    assert err < 1e-13


def test_a_reverse_node_equals_the_reverse_half_of_a_bidirectional_node() -> None:
    from onnx.reference import ReferenceEvaluator

    problem = make_problem(I=3, H=4, bidirectional=True, seed=3)
    p, (fwd, rev) = problem.params, problem.params.cells[0]
    x = np.asarray(problem.x, np.float32)
    h0 = np.asarray(problem.h0, np.float32)
    both = NodeConfig(3, 4, "bidirectional", 1, True, True, False, 0, "float32")
    Y2, Yh2 = ReferenceEvaluator(make_onnx_gru_node_model(both)).run(
        None, {"X": x, "initial_h": h0, **_f32(gru_to_onnx((fwd, rev)))}
    )
    one = dataclasses.replace(both, direction="reverse")
    Y1, Yh1 = ReferenceEvaluator(make_onnx_gru_node_model(one)).run(
        None, {"X": x, "initial_h": h0[1:], **_f32(gru_to_onnx(rev))}
    )
    assert p.num_directions == 2
    np.testing.assert_array_equal(Y1[:, 0], Y2[:, 1])
    np.testing.assert_array_equal(Yh1[0], Yh2[1])


def test_gradients_and_unbatched_are_declared_missing() -> None:
    target = OnnxReferenceTarget()
    for feature in ("gradients", "unbatched", "dropout"):
        assert not target.capabilities.supports(feature)
        assert target.capabilities.reason(feature)
    with pytest.raises(NotImplementedError, match="inference only"):
        target.gradients(make_problem(), None, None)
    with pytest.raises(ValueError, match="batch axis"):
        target.forward(make_problem(batched=False))


@pytest.mark.parametrize("case", [{}, {"bidirectional": True, "batch_first": True}])
def test_finding_the_evaluator_ignores_sequence_lens(case: dict[str, bool]) -> None:
    """onnx 1.23.2, onnx/reference/ops/op_gru.py: ``_run`` never reads ``sequence_lens``."""
    target = OnnxReferenceTarget()
    problem = make_problem(**case, lengths=[5, 2, 3], seed=4)
    with_lengths = target.forward(problem)
    without = target.forward(dataclasses.replace(problem, lengths=None))
    np.testing.assert_array_equal(with_lengths.output, without.output)
    np.testing.assert_array_equal(with_lengths.h_n, without.h_n)
    err, _ = forward_error(target, problem)
    assert err > BUG_MIN, "the evaluator now honours sequence_lens: drop this finding"


def _f32(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.astype(np.float32) for k, v in d.items()}


def test_finding_the_evaluator_broadcasts_a_batch_1_initial_state() -> None:
    """The checker's "bad initial state rejected": initial_h of batch 1 serves a batch of 2 (the
    spec says initial_h is (num_directions, batch_size, hidden_size); onnxruntime rejects it)."""
    assert_broadcasts_a_batch_1_state(OnnxReferenceTarget())
