"""Integration fixes of the conformance checker (issue 4), each with the test that failed before it.

- rounding takes arrays of any stride (``x[::-1]``);
- cuDNN's float32 arithmetic is the error model's (``arithmetic_for(..., backend="cudnn")``);
- a failed forward check carries a diagnosis (which known bug pattern the outputs match) in its
  message, its counterexample, the JSON report and the terminal's first-failure explanation;
- with no ``--device``, a device the target refuses (a CPU-only library on a CUDA machine) is
  reported as skipped with the reason instead of aborting the run;
- pinned cases and stronger laws make each check see its defect under every seed (the kill rate
  per seed is tests/test_kill_rate.py): the saturated input reaches a gate pre-activation of 100,
  wrong initial states include every broadcastable shape, and the guard's output contract no
  longer turns an accepted wrong h0 into a rejection;
- a state outside the box ``|h| <= max(|h0|, 1)`` (onnxruntime's tanh returns 1 + 8 u) breaks box
  invariance (slack 4 u) with a message naming tanh > 1 (a warning: within 16 u), and forward
  failures say so too.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import numpy as np
import pytest
import torch

from gruverify.conformance import run_checks
from gruverify.core.arithmetic import round_to_dtype
from gruverify.core.params import random_gru_params
from gruverify.core.problem import Problem, rounded
from gruverify.error_model import ARITHMETICS, ErrorModel
from gruverify.reference.emulation import round_to_tf32_numpy
from gruverify.zoo import ZooGRU


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_rounding_takes_negatively_strided_arrays(dtype: str) -> None:
    """``round_to_dtype(x[::-1])`` equals rounding the same values laid out contiguously."""
    x = np.random.default_rng(0).standard_normal((5, 3, 4))
    flipped = x[::-1]
    assert any(s < 0 for s in flipped.strides)
    got = round_to_dtype(flipped, dtype)
    want = round_to_dtype(flipped.copy(), dtype)
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(got, flipped), "rounding to a narrower dtype changed nothing"
    np.testing.assert_array_equal(round_to_tf32_numpy(flipped), round_to_tf32_numpy(flipped.copy()))


def test_error_model_takes_a_reversed_input() -> None:
    """The error model (which rounds the problem first) runs on a problem whose input is a view."""
    params = random_gru_params(4, 3, rng=1)
    x = np.random.default_rng(2).standard_normal((6, 2, 4))
    view = Problem(params, x[::-1], np.random.default_rng(3).uniform(-1, 1, (1, 2, 3))[:, ::-1])
    copy = dataclasses.replace(view, x=view.x.copy(), h0=np.array(view.h0))
    np.testing.assert_array_equal(rounded(view, "float32").x, rounded(copy, "float32").x)
    model = ErrorModel(ARITHMETICS["float32"])
    (ref_v, tol_v), (ref_c, tol_c) = (model.forward(p, "reset_after") for p in (view, copy))
    np.testing.assert_array_equal(ref_v.output, ref_c.output)
    assert tol_v == tol_c


def test_cudnn_float32_arithmetic_lives_in_the_error_model() -> None:
    """cuDNN's float32 GRU with TF32 off is ``error_model.CUDNN_FLOAT32`` (u = 2^-18), asked for
    with ``backend="cudnn"``; TF32 still wins while its flags are on; the CPU is plain float32.
    The torch target takes it from there. Flags only: no GPU needed."""
    import torch

    from gruverify import error_model
    from gruverify.error_model import CUDNN_FLOAT32, arithmetic_for
    from gruverify.targets import TorchModuleTarget, torch_module

    assert CUDNN_FLOAT32.unit_roundoff == 2.0**-18 and CUDNN_FLOAT32.storage == "float32"
    assert torch_module.CUDNN_FLOAT32 is error_model.CUDNN_FLOAT32
    flags = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    gru = TorchModuleTarget(torch.nn.GRU, device="cuda", probe=False)
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        assert arithmetic_for("float32", "cuda", backend="cudnn") is CUDNN_FLOAT32
        assert arithmetic_for("float32", "cuda").name == "float32"
        assert arithmetic_for("float64", "cuda", backend="cudnn").name == "float64"
        assert gru.arithmetic is CUDNN_FLOAT32
        torch.backends.cudnn.allow_tf32 = True
        assert arithmetic_for("float32", "cuda", backend="cudnn").name == "tf32"
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
    assert arithmetic_for("float32", "cpu", backend="cudnn").name == "float32"
    with pytest.raises(ValueError, match="unknown backend 'miopen'"):
        arithmetic_for("float32", "cuda", backend="miopen")


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    from gruverify.cli import main

    code = main(list(args))
    return code, capsys.readouterr().out


RESET_BEFORE = (
    "the target matches the reset-before variant (Cho et al. 2014; ONNX linear_before_reset=0; "
    "Keras reset_after=False)"
)


def test_forward_failure_is_diagnosed_in_terminal_and_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    """``gruverify check gruverify.zoo.mutants:ResetBefore`` names the reset-before variant: in the
    first-failure explanation, the check's message, its counterexample and the JSON report."""
    path = tmp_path / "report.json"
    code, out = _cli(
        capsys, "check", "gruverify.zoo.mutants:ResetBefore", "--device", "cpu", "--dtype",
        "float32", "--check", "forward[basic]", "--json", str(path),
    )  # fmt: skip
    assert code == 1, out
    explanation = out.split("First failure:", 1)[1]
    assert f"diagnosis: {RESET_BEFORE} to " in explanation, out
    (check,) = json.loads(path.read_text())["checks"]
    assert check["diagnosis"].startswith(RESET_BEFORE), check
    assert check["counterexample"]["diagnosis"] == check["diagnosis"]
    assert check["diagnosis"] in check["message"]
    # the numbers: error within the hypothesis' tolerance
    err, tol = re.search(r"to ([0-9.e+-]+) \(tolerance ([0-9.e+-]+)\)", check["diagnosis"]).groups()  # type: ignore[union-attr]
    assert float(err) <= float(tol)


def test_diagnosis_only_for_forward_checks() -> None:
    """A metamorphic failure has no diagnosis (and no ``diagnosis`` key in the JSON)."""
    report = run_checks("gruverify.zoo.mutants:StaleStateAcrossCalls", device="cpu",
                        dtype="float32", checks=["instance reuse"])  # fmt: skip
    (check,) = report.checks
    assert check.status == "failed" and check.diagnosis is None
    assert "diagnosis" not in check.to_dict() and "diagnosis" not in check.counterexample  # type: ignore[operator]


def test_flax_nnx_is_diagnosed_as_b_hn_missing() -> None:
    pytest.importorskip("flax", reason="flax is not installed")
    report = run_checks("flax-nnx", device="cpu", checks=["forward[basic]"])
    (check,) = report.checks
    assert check.status == "failed", check.message
    assert check.diagnosis is not None and "b_hn missing" in check.diagnosis, check.diagnosis
    assert "b_hn missing" in report.explain_first_failure()


def test_enlarged_case_keeps_everything_but_the_sizes() -> None:
    from gruverify.conformance.cases import CheckCase
    from gruverify.conformance.explain import enlarged
    from gruverify.core.problem import Capabilities
    from gruverify.reference.implementations import NumpyReference
    from gruverify.strategies import Config

    case = CheckCase(Config(1, 1, 1, 1, initial_state=False, batch_first=True), "large", "zeros", 7)
    big = enlarged(case, NumpyReference())
    assert (big.param_kind, big.input_kind, big.seed) == ("large", "zeros", 7)
    assert big.config == Config(4, 2, 3, 3, initial_state=True, batch_first=True)
    no_h0 = NumpyReference()
    no_h0.capabilities = Capabilities({"initial_state": "no hx"})  # type: ignore[misc]
    assert enlarged(case, no_h0).config.initial_state is False


def test_perturbed_is_public() -> None:
    """``ErrorModel.perturbed`` (used by the diagnosis) perturbs every weight by about u sqrt(k)."""
    model = ErrorModel(ARITHMETICS["float32"])
    params = random_gru_params(4, 3, rng=0)
    p = Problem(params, np.ones((2, 1, 4)))
    q = model.perturbed(p, np.random.default_rng(0))
    rel = np.abs(q.params.cells[0][0].W_hr / params.cells[0][0].W_hr - 1)
    assert 0 < rel.max() <= 2.0**-24 * np.sqrt(4 + 3 + 2)
    assert ErrorModel._perturbed is ErrorModel.perturbed


def cpu_only_gru(device: str = "cpu", dtype: str = "float32") -> Any:
    """An adapter that refuses every device but the CPU (like the onnx, keras and flax targets)."""
    from gruverify.targets import TargetError, TorchModuleTarget

    if device != "cpu":
        raise TargetError(f"cpu_only_gru runs on the cpu only, not {device}")
    return TorchModuleTarget(torch.nn.GRU, name="cpu-only", device=device, dtype=dtype)


cpu_only_gru.gruverify_adapter = True  # type: ignore[attr-defined]


def cuda_only_gru(device: str = "cuda", dtype: str = "float32") -> Any:
    """An adapter that refuses every device but CUDA; on a machine without CUDA (or with it
    pretended) every device refuses it."""
    from gruverify.targets import TargetError

    raise TargetError(f"cuda_only_gru runs on the cuda only, not {device}")


cuda_only_gru.gruverify_adapter = True  # type: ignore[attr-defined]


def test_a_refused_default_device_is_skipped_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No ``--device`` on a CUDA machine (simulated): the CPU-only target runs on the CPU, CUDA is
    one skipped result carrying the target's reason, and the verdict is the CPU's."""
    from gruverify.conformance import building, runner

    monkeypatch.setattr(building, "available_devices", lambda: ["cpu", "cuda"])
    report = run_checks("test_checker_integration:cpu_only_gru", checks=["forward[basic]"])
    assert report.devices == ["cpu"] and report.verdict == "pass", report.render()
    by_device = {c.device: c for c in report.checks}
    assert by_device["cpu"].status == "passed"
    skipped = by_device["cuda"]
    assert (skipped.name, skipped.status) == (runner.REFUSED_DEVICE, "skipped")
    assert "does not run on cuda: cpu_only_gru runs on the cpu only, not cuda" in skipped.message
    assert "SKIP   cuda" in report.render()
    assert any(
        c["device"] == "cuda" and c["status"] == "skipped" for c in report.to_dict()["checks"]
    )


def test_a_refused_device_asked_for_by_name_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--device`` named explicitly, or every device refused: a ``TargetError``, as before."""
    from gruverify.conformance import building, runner
    from gruverify.targets import TargetError

    monkeypatch.setattr(building, "available_devices", lambda: ["cpu", "cuda"])
    with pytest.raises(TargetError, match="runs on the cuda only, not cpu"):
        run_checks("test_checker_integration:cuda_only_gru", checks=["forward[basic]"])
    monkeypatch.setattr(runner, "_resolve_devices", lambda device: ["cpu", "cuda"])
    with pytest.raises(TargetError, match="runs on the cpu only, not cuda"):
        run_checks("test_checker_integration:cpu_only_gru", device=["cpu", "cuda"],
                   checks=["forward[basic]"])  # fmt: skip


def _check(name: str) -> Any:
    from gruverify.conformance import CHECKS

    return next(c for c in CHECKS if c.name == name)


def test_pinned_cases_fit_their_checks_and_adapt_to_the_target() -> None:
    """Each pinned case builds a problem with the features its check pins; a target lacking
    layers, directions or lengths gets the pinned case without them."""
    from gruverify.conformance import CHECKS
    from gruverify.core.problem import Capabilities

    full = Capabilities()
    for check in CHECKS:
        for case in check.pinned_cases(full):
            p = case.problem()
            for feature, on in check.forced.items():
                has = {"lengths": p.lengths is not None, "bias_false": not p.bias,
                       "bidirectional": p.bidirectional, "unbatched": not p.batched,
                       "multilayer": p.num_layers > 1}.get(feature)  # fmt: skip
                assert has is None or has == on, (check.name, feature, case)
    (grad,) = _check("gradient[output]").pinned_cases(full)
    assert grad.problem().num_layers == 3
    (short,) = _check("lengths truncation").pinned_cases(full)
    assert short.problem().bidirectional and list(short.problem().lengths) == [5, 1]  # type: ignore[arg-type]
    (unit,) = _check("carry-over").pinned_cases(full)
    assert np.all(np.abs(unit.problem().h0) == 1.0) and unit.as_dict()["h0_fill"] == 1.0  # type: ignore[arg-type]
    lacking = Capabilities({"multilayer": "no", "bidirectional": "no", "initial_state": "no"})
    (grad1,) = _check("gradient[output]").pinned_cases(lacking)
    assert grad1.problem().num_layers == 1 and grad1.problem().h0 is None
    (short1,) = _check("lengths truncation").pinned_cases(lacking)
    assert not short1.problem().bidirectional and list(short1.problem().lengths) == [5, 1]  # type: ignore[arg-type]


def _target(spec: str, dtype: str = "float32") -> Any:
    from gruverify.targets import resolve_target

    return resolve_target(spec, device="cpu", dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_saturated_law_drives_a_gate_past_exps_overflow(dtype: str) -> None:
    """On every drawn problem with a nonzero input (any parameter kind, however small the input),
    the saturated law makes a naive ``exp(a) / (1 + exp(a))`` give NaN: a reset or update
    pre-activation reaches 100 (1000 in float64). torch.nn.GRU passes the same problems."""
    from gruverify.laws.base import Inconclusive, LawViolation
    from gruverify.laws.equivalence import law_forward_saturated
    from gruverify.strategies import Config, make_case

    unstable = _target("gruverify.zoo.mutants:UnstableSigmoid", dtype)
    gru = _target("torch-gru", dtype)
    judged = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        cfg = Config(int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(1, 4)),
                     int(rng.integers(1, 4)), initial_state=bool(seed % 2))  # fmt: skip
        problem = make_case(cfg, ("ordinary", "large", "saturating", "chrono")[seed % 4],
                            "ordinary", seed).problem  # fmt: skip
        problem = dataclasses.replace(problem, x=problem.x * 1e-3)  # small: 60x is not enough
        try:
            law_forward_saturated(gru, problem)
        except Inconclusive:
            continue
        judged += 1
        with pytest.raises(LawViolation, match="nan"):
            law_forward_saturated(unstable, problem)
    assert judged >= 8


def test_bad_initial_state_law_tries_every_broadcastable_shape() -> None:
    """One layer, one direction, batch 1: only ``(1, 1, 1)`` broadcasts to ``(1, 1, 3)``; the law
    tries it (it used to try only non-broadcastable shapes there), also through the guard."""
    from gruverify.guard import Guarded
    from gruverify.laws.base import LawViolation
    from gruverify.laws.metamorphic import law_rejects_bad_initial_state

    problem = Problem(random_gru_params(2, 3, rng=0), np.ones((4, 1, 2)), np.zeros((1, 1, 3)))
    broadcasts = _target("gruverify.zoo.mutants:AcceptsBadInitialState")
    for impl in (broadcasts, Guarded(broadcasts)):
        with pytest.raises(LawViolation, match=r"shape \(1, 1, 1\) was accepted"):
            law_rejects_bad_initial_state(impl, problem)
    law_rejects_bad_initial_state(Guarded(_target("torch-gru")), problem)


class OvershootingTanh(ZooGRU):
    """A saturated candidate returned as ``1 + 2^-21`` (``1 + 8 u`` in float32), like
    onnxruntime 1.32's GRU: a tanh outside its closed interval, by 4 ulps."""

    def update(self, n: torch.Tensor, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return super().update(torch.where(n.abs() >= 1, n * (1 + 2.0**-21), n), z, h)


def _one_saturated_step() -> Problem:
    """``W_in = 5, W_iz = -5, x = 20``: ``n = tanh(100)``, ``z = sigmoid(-100)``: ``h = n = 1``."""
    from gruverify.core.params import StackParams

    zero = random_gru_params(1, 1, rng=0).map(lambda v: 0 * v)
    cell = zero.cells[0][0].replace(W_iz=np.array([[-5.0]]), W_in=np.array([[5.0]]))
    return Problem(StackParams(((cell,),), bias=True), np.array([[[20.0]]]))


BOX_MESSAGE = r"\|h\| = 1.000000477 exceeds the box \|h\| <= max\(\|h_prev\|, 1\) = 1 by 4.77e-07 \(8 u; slack 4 u\)"


def test_a_tanh_above_one_fails_box_invariance_with_a_clear_message() -> None:
    from gruverify.laws.base import LawViolation
    from gruverify.laws.equivalence import law_forward_equivalence
    from gruverify.laws.metamorphic import law_box_invariance

    problem = _one_saturated_step()
    over = _target("test_checker_integration:OvershootingTanh")
    with pytest.raises(LawViolation, match=BOX_MESSAGE) as info:
        law_box_invariance(over, problem)
    assert "only a candidate tanh > 1 in magnitude (n outside [-1, 1])" in str(info.value)
    with pytest.raises(LawViolation, match=r"leaves the box .* a candidate tanh > 1"):
        law_forward_equivalence(over, problem)
    law_box_invariance(_target("torch-gru"), problem)  # torch's tanh(100) is exactly 1
    report = run_checks("test_checker_integration:OvershootingTanh", device="cpu",
                        checks=["box invariance"])  # fmt: skip
    # 8 u is within a few units of the arithmetic: a warning (docs/checker.md), not a failure
    assert report.checks[0].status == "warning", report.render()
    assert report.verdict == "pass" and "tanh > 1" in report.checks[0].message


def test_onnxruntime_tanh_overshoot_is_reported_as_leaving_the_box() -> None:
    """The finding itself (docs/checker.md): onnxruntime's GRU gives 1 + 2^-21 for tanh(100)."""
    pytest.importorskip("onnxruntime", reason="onnxruntime is an optional dependency")
    pytest.importorskip("onnx", reason="onnx is an optional dependency")
    from gruverify.laws.base import LawViolation
    from gruverify.laws.metamorphic import law_box_invariance

    problem = _one_saturated_step()
    ort = _target("onnx-torchscript")
    got = float(ort.forward(problem).output.ravel()[0])
    if got <= 1.0:
        pytest.skip(f"this onnxruntime returns {got!r} for tanh(100): the overshoot is fixed")
    assert got == 1.0 + 2.0**-21, got
    with pytest.raises(LawViolation, match=BOX_MESSAGE):
        law_box_invariance(ort, problem)
