"""The library targets (ONNX export, Keras 3, Flax) against the reference of their own variant.

Laws: each target's ``forward`` equals ``gru_forward`` of its variant on the float32-rounded problem
within the error model's float32 tolerance (``|got - ref|_inf <= tol``), and its ``gradients``
(where supported) equal ``gru_backward``'s within the gradient tolerance, over configurations that
cover every feature the target claims; declared-missing features carry their reasons. The ONNX
targets replay weights into one export per configuration: the replayed initialisers equal those of
a real export with the same weights, bit for bit, and an exporter that computes with the weights is
refused. ``flax.nnx.GRUCell`` (no ``b_hn``) differs from the reference by more than 1e-2 when
``b_hn != 0`` and matches it when ``b_hn = 0``. Each target is also run against the *other*
variant or a perturbed weight and must fail there, so these comparisons can fail.

Timings (2 cores): TorchScript exports ~0.15 s each, dynamo exports 3 to 6 s (10 to 17 s for the
first one in a process): the dynamo tests share one module-scoped target.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any

import numpy as np
import pytest

from gruverify.core.params import Variant, random_gru_params
from gruverify.core.problem import Implementation, Problem
from gruverify.error_model import ARITHMETICS, ErrorModel

F32 = ErrorModel(ARITHMETICS["float32"])
BUG_MIN = 1e-2


def make_problem(
    I: int = 3,
    H: int = 4,
    *,
    layers: int = 1,
    bidirectional: bool = False,
    bias: bool = True,
    T: int = 5,
    B: int = 3,
    batch_first: bool = False,
    h0: bool = True,
    batched: bool = True,
    lengths: list[int] | None = None,
    seed: int = 0,
) -> Problem:
    rng = np.random.default_rng(seed)
    p = random_gru_params(I, H, layers, bidirectional, bias, rng=rng)
    D = 2 if bidirectional else 1
    x = rng.standard_normal((T, B, I))
    hh = rng.uniform(-1, 1, (layers * D, B, H))
    if not batched:
        x, hh = x[:, 0], hh[:, 0]
    elif batch_first:
        x = np.ascontiguousarray(np.swapaxes(x, 0, 1))
    return Problem(
        p, x, hh if h0 else None, batch_first, None if lengths is None else np.array(lengths)
    )


def forward_error(
    impl: Implementation, problem: Problem, variant: Variant | None = None
) -> tuple[float, float]:
    """(max abs error, tolerance) of ``impl.forward`` against the reference of ``variant``."""
    ref, tol = F32.forward(problem, variant or impl.variant)
    got = impl.forward(problem)
    assert got.output.shape == ref.output.shape, (impl.name, got.output.shape, ref.output.shape)
    assert got.h_n.shape == ref.h_n.shape, (impl.name, got.h_n.shape, ref.h_n.shape)
    err = max(
        float(np.max(np.abs(got.output - ref.output))), float(np.max(np.abs(got.h_n - ref.h_n)))
    )
    return err, min(tol.output, tol.h_n)


def assert_forward_matches(impl: Implementation, problem: Problem) -> None:
    err, tol = forward_error(impl, problem)
    assert err <= tol, (
        f"{impl.name} ({impl.variant}): max abs error {err:.3g} > tolerance {tol:.3g} "
        f"on {problem.describe()}"
    )


def gradient_errors(
    impl: Implementation, problem: Problem, skip: tuple[str, ...] = ()
) -> dict[str, tuple[float, float]]:
    """Per quantity (dx, dh0, l0.W_ir, ...): (max abs error, tolerance) against ``gru_backward``."""
    ref_out, _ = F32.forward(problem, impl.variant)
    rng = np.random.default_rng(99)
    d_out = rng.standard_normal(ref_out.output.shape)
    d_hn = rng.standard_normal(ref_out.h_n.shape)
    got = impl.gradients(problem, d_out, d_hn)
    ref, tol = F32.backward(problem, impl.variant, d_out, d_hn)
    pairs = [("dx", got.dx, ref.dx), ("dh0", got.dh0, ref.dh0)] + [
        (k, a, b) for (k, a), (_, b) in zip(got.dparams.named(), ref.dparams.named(), strict=True)
    ]
    out = {}
    for k, a, b in pairs:
        if k in skip or (k == "dh0" and problem.h0 is None):
            continue
        if not problem.bias and k.split(".")[-1].startswith("b_"):
            continue
        assert np.shape(a) == np.shape(b), (impl.name, k, np.shape(a), np.shape(b))
        out[k] = (float(np.max(np.abs(a - b))), tol.gradients[k])
    return out


def assert_gradients_match(
    impl: Implementation, problem: Problem, skip: tuple[str, ...] = ()
) -> None:
    bad = {k: v for k, v in gradient_errors(impl, problem, skip).items() if v[0] > v[1]}
    assert not bad, f"{impl.name}: gradients (error, tolerance) {bad} on {problem.describe()}"


def assert_computes_its_variant(
    impl: Implementation, problem: Problem, *, gradients: bool = True
) -> None:
    """``impl``'s forward (and, with ``gradients``, its gradients) match the reference of its own
    variant within the float32 error model's tolerance, and its forward is visibly wrong (error
    > ``BUG_MIN``) against the other variant's: the problem tells the two variants apart."""
    assert_forward_matches(impl, problem)
    if gradients:
        assert_gradients_match(impl, problem)
    other: Variant = "reset_before" if impl.variant == "reset_after" else "reset_after"
    err, _ = forward_error(impl, problem, other)
    assert err > BUG_MIN, f"{impl.name} ({impl.variant}) vs {other}: {err:.3g} <= {BUG_MIN}"


def assert_broadcasts_a_batch_1_state(impl: Implementation) -> None:
    """The finding behind a target's "bad initial state rejected" warning: an initial state of
    batch 1 serves an input of batch 2 instead of being refused, and gives what that state
    repeated over the batch gives."""
    problem = make_problem(B=2, seed=6)
    assert problem.h0 is not None
    out = impl.forward(dataclasses.replace(problem, h0=problem.h0[:, :1]))
    assert out.output.shape == (5, 2, 4)
    wide = dataclasses.replace(problem, h0=np.repeat(problem.h0[:, :1], 2, axis=1))
    np.testing.assert_allclose(out.output, impl.forward(wide).output, atol=1e-6)


def test_the_shared_target_assertions_can_fail() -> None:
    """``assert_computes_its_variant`` passes for the reference itself and fails for a GRU that
    computes the other variant than it claims (its forward is off by more than the tolerance);
    ``assert_broadcasts_a_batch_1_state`` fails for the reference, which refuses the state."""
    from gruverify.core.shapes import ShapeError
    from gruverify.reference.implementations import NumpyReference

    problem = make_problem(seed=3)
    reference = NumpyReference("reset_after")
    assert_computes_its_variant(reference, problem)
    liar = types.SimpleNamespace(
        name="reset-after claiming reset-before", variant="reset_before", dtype="float64",
        device="cpu", forward=reference.forward, gradients=reference.gradients,
    )  # fmt: skip
    with pytest.raises(AssertionError, match="max abs error"):
        assert_computes_its_variant(liar, problem)  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="initial state has shape"):  # it refuses: no finding
        assert_broadcasts_a_batch_1_state(reference)


# -- ONNX ---------------------------------------------------------------------------------------

ONNX_CASES = {
    "basic": {},
    "other-T-and-B": {"T": 1, "B": 1, "seed": 1},  # the same export, dynamic axes
    "long": {"T": 9, "B": 2, "seed": 2},
    "bidirectional-3-layers": {"I": 2, "H": 3, "layers": 3, "bidirectional": True},
    "no-bias-no-h0-batch-first": {"I": 2, "H": 3, "bias": False, "h0": False, "batch_first": True},
    "unbatched": {"I": 2, "H": 3, "batched": False},
    "lengths-bidirectional": {"I": 2, "H": 3, "bidirectional": True, "lengths": [5, 2, 3]},
    "lengths-2-layers-batch-first": {"layers": 2, "batch_first": True, "lengths": [1, 5, 4]},
}


@pytest.fixture(scope="module")
def onnx_export() -> Any:
    pytest.importorskip("onnx", reason="onnx is an optional dependency (gruverify[onnx])")
    pytest.importorskip("onnxruntime", reason="onnxruntime is an optional dependency")
    from gruverify.targets import onnx_export

    return onnx_export


@pytest.fixture(scope="module")
def torchscript(onnx_export: Any) -> Any:
    return onnx_export.OnnxExportTarget("torchscript")


@pytest.fixture(scope="module")
def dynamo(onnx_export: Any) -> Any:
    pytest.importorskip("onnxscript", reason="the dynamo exporter needs onnxscript")
    return onnx_export.OnnxExportTarget("dynamo")


@pytest.mark.parametrize("case", list(ONNX_CASES))
def test_onnx_torchscript_export_computes_the_reset_after_gru(torchscript: Any, case: str) -> None:
    assert_forward_matches(torchscript, make_problem(**ONNX_CASES[case]))


def test_onnx_torchscript_exports_once_per_configuration(torchscript: Any) -> None:
    before = len(torchscript.export_seconds)
    for seed in range(3):  # new weights, T and B: the export is reused
        assert_forward_matches(torchscript, make_problem(T=2 + seed, B=1 + seed, seed=10 + seed))
    assert len(torchscript.export_seconds) - before <= 1, torchscript.export_seconds


@pytest.mark.parametrize(
    "case", ["basic", "bidirectional-3-layers", "no-bias-no-h0-batch-first", "unbatched"]
)
def test_onnx_dynamo_export_computes_the_reset_after_gru(dynamo: Any, case: str) -> None:
    assert_forward_matches(dynamo, make_problem(**ONNX_CASES[case]))
    # new weights and batch size through the same export (the time axis is static)
    assert_forward_matches(dynamo, make_problem(**{**ONNX_CASES[case], "B": 2, "seed": 7}))


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_replayed_initialisers_equal_a_real_export(
    onnx_export: Any, torchscript: Any, dynamo: Any, exporter: str
) -> None:
    """``replay(export(tags), p) == export(p)`` for every initialiser, bit for bit."""
    from onnx import numpy_helper

    target = torchscript if exporter == "torchscript" else dynamo
    problem = make_problem(**{**ONNX_CASES["bidirectional-3-layers"], "seed": 5})  # export shared
    graph = target._graph(problem)
    assert graph.replay_error is None and graph.replay, graph.replay_error
    target.forward(problem)  # builds the replayed session
    real, _ = target._export(problem, problem.params)
    real_inits = {i.name: numpy_helper.to_array(i) for i in real.graph.initializer}
    flat = problem.params.flat()
    names_seen = set()
    for name, (shape, idx, const) in graph.replay.items():
        replayed = np.where(idx >= 0, flat[np.maximum(idx, 0)], const).reshape(shape)
        match = [
            n
            for n, a in real_inits.items()
            if a.shape == shape and np.array_equal(a, replayed.astype(np.float32))
        ]
        assert match, (
            f"{exporter}: replayed initialiser {name} {shape} is in no real export's initialisers"
        )
        names_seen.update(match)
    weights = {n for n, a in real_inits.items() if a.dtype == np.float32 and a.size >= 3 * 3}
    assert weights <= names_seen, (
        f"{exporter}: real weight initialisers not replayed: {weights - names_seen}"
    )


def test_replay_refuses_an_exporter_that_computes_with_the_weights(
    onnx_export: Any, torchscript: Any
) -> None:
    """A planted exporter bug: one initialiser scaled by 2 (arithmetic, not a copy) is refused."""
    import onnx
    from onnx import numpy_helper

    problem = make_problem(seed=6)
    graph = torchscript._graph(problem)
    n = problem.params.flat().size
    onnx_export._replay_map(graph.model, n)  # the genuine export replays
    for change in (lambda a: a * 2, lambda a: a + 1, lambda a: -a):
        model = onnx.ModelProto()
        model.CopyFrom(graph.model)
        init = next(i for i in model.graph.initializer if i.name in graph.replay)
        init.CopyFrom(numpy_helper.from_array(change(numpy_helper.to_array(init)), init.name))
        with pytest.raises(onnx_export.ExportReplayError, match="neither a copied weight"):
            onnx_export._replay_map(model, n)


def test_without_replay_the_target_exports_per_weight_set(
    onnx_export: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exporter whose initialisers are not copies (simulated) gets a real export per weight set:
    still the reference's numbers, one export more for every new set of weights."""

    def refuse(model: Any, n: int) -> Any:
        raise onnx_export.ExportReplayError("simulated: the exporter computes with the weights")

    monkeypatch.setattr(onnx_export, "_replay_map", refuse)
    target = onnx_export.OnnxExportTarget("torchscript")
    for seed in (20, 21):
        assert_forward_matches(target, make_problem(I=2, H=3, seed=seed))
    assert_forward_matches(target, make_problem(I=2, H=3, seed=21, B=1))  # same weights: cached
    assert len(target.export_seconds) == 3, target.export_seconds  # tagged + one per weight set


def test_dynamo_dynamic_time_axis_is_broken_and_caught(onnx_export: Any) -> None:
    """torch 2.13: an export with a dynamic time axis keeps the example's length (T0 = 3). At
    T = 5, B = 3 the graph returns a (3, 5, H) output (``Reshape [T0, -1, H]``) or raises; either way
    the forward law fails. If this starts passing, the exporter is fixed: make ``dynamic_time``
    the dynamo default again."""
    pytest.importorskip("onnxscript", reason="the dynamo exporter needs onnxscript")
    target = onnx_export.OnnxExportTarget("dynamo", dynamic_time=True)
    problem = make_problem(T=5, B=3, seed=8)
    try:
        got = target.forward(problem)
    except Exception as e:  # onnxruntime rejects the length: also the defect
        assert "ONNXRuntimeError" in str(e) or "dimensions" in str(e), repr(e)
        return
    ref, _ = F32.forward(problem, "reset_after")
    assert got.output.shape != ref.output.shape or not np.allclose(
        got.output, ref.output, atol=1e-5
    ), (
        "the dynamo export with a dynamic time axis now works at another length: "
        "make dynamic_time=True the dynamo default"
    )


def test_onnx_capabilities(torchscript: Any, dynamo: Any) -> None:
    for target in (torchscript, dynamo):
        assert (
            target.capabilities.reason("gradients") == "onnxruntime inference session: forward only"
        )
        with pytest.raises(NotImplementedError, match="forward only"):
            target.gradients(make_problem(), None, None)
        assert target.variant == "reset_after" and target.dtype == "float32"
    assert torchscript.capabilities.supports("lengths")
    assert "pack_padded_sequence" in dynamo.capabilities.reason("lengths")


def test_onnx_target_fails_against_the_other_variant(torchscript: Any) -> None:
    err, _ = forward_error(torchscript, make_problem(seed=3), "reset_before")
    assert err > BUG_MIN, f"reset-after export vs reset-before reference: {err:.3g} <= {BUG_MIN}"


# -- Keras --------------------------------------------------------------------------------------

KERAS_CASES = {
    "basic": {},
    "one-step-one-batch": {"T": 1, "B": 1, "seed": 1},
    "bidirectional-2-layers-batch-first": {
        "I": 2, "H": 3, "layers": 2, "bidirectional": True, "batch_first": True,
    },
    "no-bias-no-h0": {"I": 2, "H": 3, "bias": False, "h0": False},
    "lengths-bidirectional": {"I": 2, "H": 3, "bidirectional": True, "lengths": [5, 2, 3]},
    "lengths-2-layers": {"layers": 2, "batch_first": True, "lengths": [1, 5, 4], "seed": 4},
}  # fmt: skip


@pytest.fixture(scope="module")
def keras_targets() -> dict[bool, Any]:
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip(
        "keras", reason="Keras 3 is an optional dependency (gruverify[keras])"
    )
    if keras.backend.backend() != "torch":
        pytest.skip(f"KERAS_BACKEND is {keras.backend.backend()!r}; the Keras targets need torch")
    from gruverify.targets.keras_target import KerasGRUTarget

    return {True: KerasGRUTarget(True), False: KerasGRUTarget(False)}


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset-after", "reset-before"])
@pytest.mark.parametrize("case", list(KERAS_CASES))
def test_keras_target_computes_its_variant_with_gradients(
    keras_targets: dict[bool, Any], reset_after: bool, case: str
) -> None:
    target = keras_targets[reset_after]
    assert target.variant == ("reset_after" if reset_after else "reset_before")
    problem = make_problem(**KERAS_CASES[case])
    assert_forward_matches(target, problem)
    assert_gradients_match(target, problem)


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset-after", "reset-before"])
def test_keras_target_fails_against_the_other_variant(
    keras_targets: dict[bool, Any], reset_after: bool
) -> None:
    other: Variant = "reset_before" if reset_after else "reset_after"
    err, _ = forward_error(keras_targets[reset_after], make_problem(seed=3), other)
    assert err > BUG_MIN, f"Keras reset_after={reset_after} vs {other}: {err:.3g} <= {BUG_MIN}"


def test_keras_float64_reset_after_is_float64_and_reset_before_is_refused(
    keras_targets: dict[bool, Any],
) -> None:
    from gruverify.targets.errors import TargetError
    from gruverify.targets.keras_target import KerasGRUTarget

    f64 = KerasGRUTarget(True, dtype="float64")
    problem = make_problem(layers=2, bidirectional=True, seed=2)
    ref, tol = ErrorModel(ARITHMETICS["float64"]).forward(problem, "reset_after")
    err = float(np.max(np.abs(f64.forward(problem).output - ref.output)))
    assert err <= tol.output, f"Keras float64 reset_after: {err:.3g} > {tol.output:.3g}"
    assert "float32" in f64.capabilities.reason("lengths")
    with pytest.raises(TargetError, match="computes float64 in float32"):
        KerasGRUTarget(False, dtype="float64")


def test_keras_capabilities_and_backend_guard(
    keras_targets: dict[bool, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras

    from gruverify.targets.errors import TargetError
    from gruverify.targets.keras_target import import_keras

    caps = keras_targets[True].capabilities
    assert "batch axis" in caps.reason("unbatched")
    assert (
        caps.supports("lengths") and caps.supports("gradients") and caps.supports("bidirectional")
    )
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(TargetError, match="KERAS_BACKEND=torch"):
        import_keras()


# -- Flax ---------------------------------------------------------------------------------------

FLAX_CASES = {
    "basic": {},
    "one-step-one-batch": {"T": 1, "B": 1, "seed": 1},
    "no-bias-no-h0-batch-first": {"I": 2, "H": 3, "bias": False, "h0": False, "batch_first": True},
    "unbatched": {"I": 2, "H": 3, "batched": False},
}


@pytest.fixture(scope="module")
def flax_targets() -> dict[str, Any]:
    pytest.importorskip("jax", reason="jax is an optional dependency (gruverify[flax])")
    pytest.importorskip("flax.nnx", reason="flax (with nnx) is an optional dependency")
    from gruverify.targets.flax_target import FlaxGRUCellTarget

    return {"linen": FlaxGRUCellTarget("linen"), "nnx": FlaxGRUCellTarget("nnx")}


@pytest.mark.parametrize("case", list(FLAX_CASES))
def test_flax_linen_computes_the_reset_after_gru_with_gradients(
    flax_targets: dict[str, Any], case: str
) -> None:
    problem = make_problem(**FLAX_CASES[case])
    assert_forward_matches(flax_targets["linen"], problem)
    assert_gradients_match(flax_targets["linen"], problem)


def test_flax_linen_fails_on_a_perturbed_weight(flax_targets: dict[str, Any]) -> None:
    """The comparison can fail: the reference on W_hz + 1e-3 is told apart from linen on W_hz."""
    problem = make_problem(seed=2)
    cell = problem.params.cell(0, 0)
    shifted = dataclasses.replace(
        problem, params=problem.params.replace_cell(0, 0, cell.replace(W_hz=cell.W_hz + 1e-3))
    )
    ref, tol = F32.forward(shifted, "reset_after")
    err = float(np.max(np.abs(flax_targets["linen"].forward(problem).output - ref.output)))
    assert err > tol.output, f"a 1e-3 weight change went unnoticed: {err:.3g} <= {tol.output:.3g}"


def test_flax_nnx_differs_with_b_hn_and_matches_without(flax_targets: dict[str, Any]) -> None:
    nnx_target = flax_targets["nnx"]
    assert "flax.nnx.GRUCell has no b_hn parameter" in nnx_target.description
    problem = make_problem(seed=3)
    assert np.max(np.abs(problem.params.cell(0, 0).b_hn)) > 0.1
    err, _ = forward_error(nnx_target, problem)
    assert err > BUG_MIN, f"nnx with b_hn != 0 should differ visibly, got {err:.3g}"
    cell = problem.params.cell(0, 0)
    no_b_hn = dataclasses.replace(
        problem,
        params=problem.params.replace_cell(0, 0, cell.replace(b_hn=np.zeros_like(cell.b_hn))),
    )
    assert_forward_matches(nnx_target, no_b_hn)
    # every gradient matches except d/db_hn, which nnx reports as 0 (its output ignores b_hn)
    assert_gradients_match(nnx_target, no_b_hn, skip=("l0.b_hn",))
    g = nnx_target.gradients(no_b_hn, np.ones((5, 3, 4)), None)
    assert np.all(g.dparams.cell(0, 0).b_hn == 0)


def test_flax_nnx_failure_is_diagnosed_as_b_hn_missing(flax_targets: dict[str, Any]) -> None:
    """The diagnosis module, given nnx's failing outputs, names the pattern (no special case)."""
    from gruverify.conformance.diagnosis import diagnose_implementation

    found = diagnose_implementation(flax_targets["nnx"], make_problem(seed=3))
    assert found is not None and found.name == "b_hn missing", found
    assert diagnose_implementation(flax_targets["linen"], make_problem(seed=3)) is None


def test_flax_folded_bias_gradients_are_reported_for_both_halves(
    flax_targets: dict[str, Any],
) -> None:
    """Flax has no b_hr, b_hz: ``dL/db_hr = dL/db_ir`` and ``dL/db_hz = dL/db_iz`` (one sum)."""
    problem = make_problem(seed=4)
    g = flax_targets["linen"].gradients(problem, np.ones((5, 3, 4)), None).dparams.cell(0, 0)
    assert np.array_equal(g.b_hr, g.b_ir) and np.array_equal(g.b_hz, g.b_iz)
    assert np.max(np.abs(g.b_hr)) > 0


def test_flax_capabilities_and_shape_checks(flax_targets: dict[str, Any]) -> None:
    for target in flax_targets.values():
        for feature in ("multilayer", "bidirectional", "lengths"):
            assert target.capabilities.reason(feature) == "a GRUCell: one layer, one direction"
        assert target.capabilities.supports("unbatched") and target.capabilities.supports(
            "gradients"
        )
        with pytest.raises(ValueError, match="one layer, one direction"):
            target.forward(make_problem(layers=2))
        bad = make_problem(seed=5)
        with pytest.raises(ValueError, match="h0 has shape"):
            target.forward(dataclasses.replace(bad, h0=np.zeros((1, 2, 4))))


# -- registry -----------------------------------------------------------------------------------

NAMES = (
    "onnx-torchscript",
    "onnx-dynamo",
    "keras-reset-after",
    "keras-reset-before",
    "flax-linen",
    "flax-nnx",
)


def test_registry_lists_the_library_targets_and_refuses_unsupported_dtypes() -> None:
    from gruverify.targets import TARGETS, TargetError, resolve_target

    assert set(NAMES) <= set(TARGETS), sorted(TARGETS)
    for name in ("onnx-torchscript", "onnx-dynamo", "flax-linen", "flax-nnx"):
        with pytest.raises(TargetError, match="float32"):
            resolve_target(name, dtype="float64")
    pytest.importorskip("flax.nnx", reason="flax is optional")
    impl = resolve_target("flax-nnx")
    assert isinstance(impl, Implementation) and impl.name == "flax-nnx"
