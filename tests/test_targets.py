"""Targets: the torch adapters compute exactly what the reference computes (float64), the registry
and module:attr resolution, declared and probed capabilities, and the adapter API."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from test_checker_planted import TinyGRU

from gruverify.core.params import random_gru_params
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem
from gruverify.reference.implementations import NumpyReference
from gruverify.targets import (
    TARGETS,
    TargetError,
    TorchCellTarget,
    TorchModuleTarget,
    register,
    resolve_target,
)


def _problem(layers: int = 2, bidirectional: bool = True, **kw: Any) -> Problem:
    rng = np.random.default_rng(0)
    params = random_gru_params(3, 4, layers, bidirectional, rng=rng)
    D = 2 if bidirectional else 1
    x = rng.standard_normal((5, 3, 3))
    h0 = rng.uniform(-1, 1, (layers * D, 3, 4))
    return dataclasses.replace(Problem(params, x, h0), **kw)


def _close(a: np.ndarray, b: np.ndarray, tol: float = 1e-12) -> None:
    assert a.shape == b.shape and float(np.max(np.abs(a - b))) <= tol, float(np.max(np.abs(a - b)))


@pytest.mark.parametrize("lengths", [None, np.array([5, 2, 3])])
def test_torch_module_target_equals_the_reference_in_float64(lengths: np.ndarray | None) -> None:
    problem = _problem(lengths=lengths)
    target = TorchModuleTarget(torch.nn.GRU, dtype="float64")
    assert target.capabilities.supports("lengths")
    ref, got = NumpyReference().forward(problem), target.forward(problem)
    _close(ref.output, got.output)
    _close(ref.h_n, got.h_n)
    rng = np.random.default_rng(1)
    d_out, d_hn = rng.standard_normal(ref.output.shape), rng.standard_normal(ref.h_n.shape)
    gr = NumpyReference().gradients(problem, d_out, d_hn)
    gg = target.gradients(problem, d_out, d_hn)
    _close(gr.dx, gg.dx, 1e-11)
    _close(gr.dh0, gg.dh0, 1e-11)
    _close(gr.dparams.flat(), gg.dparams.flat(), 1e-11)


def test_torch_module_target_batch_first_unbatched_and_no_bias() -> None:
    target = TorchModuleTarget(torch.nn.GRU, dtype="float64")
    p = _problem(1, False)
    for problem in (
        dataclasses.replace(p, x=np.swapaxes(p.x, 0, 1).copy(), h0=None, batch_first=True),
        dataclasses.replace(p, x=p.x[:, 0], h0=p.h0[:, 0]),  # type: ignore[index]
        dataclasses.replace(p, params=random_gru_params(3, 4, bias=False, rng=2)),
    ):
        ref, got = NumpyReference().forward(problem), target.forward(problem)
        _close(ref.output, got.output)
        _close(ref.h_n, got.h_n)


def test_torch_cell_target_runs_the_cell_over_time() -> None:
    target = TorchCellTarget(torch.nn.GRUCell, dtype="float64")
    assert not target.capabilities.supports("bidirectional")
    p = _problem(1, False)
    for problem in (p, dataclasses.replace(p, x=p.x[:, 0], h0=None)):
        ref, got = NumpyReference().forward(problem), target.forward(problem)
        _close(ref.output, got.output)
        _close(ref.h_n, got.h_n)
    d_out = np.ones_like(NumpyReference().forward(p).output)
    _close(NumpyReference().gradients(p, d_out, None).dparams.flat(),
           target.gradients(p, d_out, None).dparams.flat(), 1e-11)  # fmt: skip


def test_one_module_instance_serves_a_configuration() -> None:
    target = TorchModuleTarget(torch.nn.GRU, dtype="float64", probe=False)
    a, b = _problem(), _problem()
    b = dataclasses.replace(b, params=random_gru_params(3, 4, 2, True, rng=9))
    target.forward(a)
    target.forward(b)
    assert len(target._modules) == 1


def test_lengths_are_probed_and_marked_missing_with_the_error() -> None:
    target = TorchModuleTarget(TinyGRU)
    assert not target.capabilities.supports("lengths")
    assert "PackedSequence" in target.capabilities.reason("lengths")


def test_with_dropout_builds_modules_with_dropout() -> None:
    target = TorchModuleTarget(torch.nn.GRU, probe=False).with_dropout(0.5)
    target.forward(_problem())
    (module,) = target._modules.values()
    assert module.dropout == 0.5


def test_a_forward_that_modifies_its_input_is_a_violation() -> None:
    from gruverify.laws.base import LawViolation

    class Mutates(TinyGRU):
        def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> Any:
            out = super().forward(input, hx)
            input.data.mul_(2)
            return out

    with pytest.raises(LawViolation, match="modified its input in place"):
        TorchModuleTarget(Mutates, probe=False).forward(_problem())


def test_registry_built_ins_and_register() -> None:
    assert {"torch-gru", "torch-grucell", "numpy-reference", "torch-reference"} <= set(TARGETS)
    for factory, description in TARGETS.values():
        assert callable(factory) and description
    with pytest.raises(ValueError, match="already registered"):
        register("torch-gru", TARGETS["torch-gru"][0], "again")
    register("test-double-gru", lambda device, dtype: NumpyReference(), "a test entry")
    try:
        assert isinstance(resolve_target("test-double-gru"), NumpyReference)
    finally:
        del TARGETS["test-double-gru"]


class BadMissing(TinyGRU):
    gruverify_missing: ClassVar[dict[str, str]] = {"wings": "no wings"}


class BadVariant(TinyGRU):
    gruverify_variant = "reset_sideways"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("test_targets:BadMissing", "unknown feature"),
        ("test_targets:BadVariant", "gruverify_variant"),
        ("test_targets", "not 'package.module:attr'"),
        ("test_targets:_problem", "does not behave like torch.nn.GRU"),
    ],
)
def test_resolve_errors_name_the_problem(spec: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        resolve_target(spec)


class DoublingAdapter:
    """The adapter API: any class with the Implementation attributes, built with (device, dtype)."""

    variant = "reset_after"
    capabilities = Capabilities({"gradients": "forward only"})

    def __init__(self, device: str = "cpu", dtype: str = "float32") -> None:
        self.name, self.device, self.dtype = "doubling-adapter", device, "float64"

    def forward(self, problem: Problem) -> Outputs:
        return NumpyReference().forward(problem)

    def gradients(self, problem: Problem, d_output: Any, d_h_n: Any) -> Gradients:
        raise NotImplementedError


def test_a_class_implementing_the_interface_is_used_as_an_adapter() -> None:
    impl = resolve_target("test_targets:DoublingAdapter")
    assert isinstance(impl, DoublingAdapter) and not impl.capabilities.supports("gradients")


def test_arithmetic_follows_the_tf32_flags_and_cudnn() -> None:
    """CUDA float32: TF32 when the flags allow it; cuDNN's float32 GRU otherwise (it is less
    accurate than float32); a custom module is plain float32. Flags only: no GPU needed."""
    from gruverify.targets.torch_module import CUDNN_FLOAT32

    gru = TorchModuleTarget(torch.nn.GRU, device="cuda", probe=False)
    tiny = TorchModuleTarget(TinyGRU, device="cuda", probe=False)
    flags = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = True
        assert gru.arithmetic.name == "tf32" and tiny.arithmetic.name == "tf32"
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        assert gru.arithmetic == CUDNN_FLOAT32 and tiny.arithmetic.name == "float32"
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
    assert TorchModuleTarget(torch.nn.GRU, probe=False).arithmetic.name == "float32"  # cpu


def test_the_adapter_example_in_docs_passes(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/adapters.md's numpy adapter runs and conforms (so the documented API is the real one)."""
    import pathlib
    import re

    from gruverify.conformance import run_checks

    doc = (pathlib.Path(__file__).parents[1] / "docs" / "adapters.md").read_text()
    (code,) = re.findall(r"```python\n(# my_pkg/adapters\.py.*?)```", doc, re.S)
    (tmp_path / "doc_adapter_example.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    report = run_checks("doc_adapter_example:MyNumpyGRU", device="cpu", profile="quick", seed=1)
    assert report.verdict == "pass", report.render()
    assert sum(c.status == "passed" for c in report.checks) >= 10


def test_recent_keeps_the_most_recently_used_and_builds_each_key_once() -> None:
    """``targets.recent.Recent``, the bounded cache of built models and sessions (onnx-export,
    openvino, tflite): a kept key is not rebuilt, a use refreshes it, and past the limit the least
    recently used goes."""
    from gruverify.targets.recent import Recent

    built: list[str] = []

    def build(key: str) -> Any:
        return lambda: built.append(key) or key.upper()

    cache: Recent[str] = Recent(2)
    assert [cache.get(k, build(k)) for k in ("a", "b", "a", "c")] == ["A", "B", "A", "C"]
    assert built == ["a", "b", "c"] and len(cache) == 2  # "b" went: "a" was used after it
    cache.get("a", build("a"))
    cache.get("b", build("b"))
    assert built == ["a", "b", "c", "b"]
    with pytest.raises(ValueError, match="at least 1"):
        Recent(0)
