"""Hand-written GRUs checked with only a declaration (issue 25), and ``gruverify suggest``.

Each GRU of tests/own_grus.py is written from scratch in one convention. With its declaration it
passes ``forward[basic]`` and ``gradient[output]`` (the gradients read back through the same
parameter map that loads the weights); with a wrong declaration it fails; ``suggest`` finds the
declaration (or, for the GRU with a real bug, none, and exits 1 with the closest candidates).
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch

from gruverify.conformance.runner import run_checks
from gruverify.conformance.suggest import suggest, toml
from gruverify.targets.errors import TargetError
from gruverify.targets.resolve import load_attr
from tests import own_grus

REPO = pathlib.Path(__file__).resolve().parents[1]
QUICK: dict[str, Any] = {
    "checks": ["forward[basic]", "gradient[output]"],
    "profile": "quick",
    "seed": 3,
}

DECLARED = {
    "TwoLinearCell": {"cell": True, "needs_h": True, "layout": "fused"},
    "CourseCell": {"cell": True, "needs_h": True, "variant": "reset_before", "update": "complement",
                   "gate_order": "zrn", "layout": "transposed"},
    "ConcatGRU": {"variant": "reset_before", "layout": "concat", "returns": "list"},
    "NoBhnGRU": {"variant": "reset_after_no_bhn", "returns": "outputs"},
    "per_gate_cell": {"cell": True, "needs_h": True, "returns": "pair",
                      "params": own_grus.PER_GATE_PARAMS},
}  # fmt: skip
"""Each GRU's declaration (what a user writes in [tool.gruverify.target."NAME"])."""

SWAPPED = {**own_grus.PER_GATE_PARAMS, "W_ir": "upd_x", "W_iz": "rst_x"}
WRONG = {
    "TwoLinearCell": {"gate_order": "zrn"},
    "CourseCell": {"update": "standard"},
    "ConcatGRU": {"variant": "reset_after_no_bhn"},
    "NoBhnGRU": {"variant": "reset_before"},
    "per_gate_cell": {"params": SWAPPED},
}
"""One wrong part of each declaration."""


def statuses(report: Any) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


@pytest.mark.parametrize("name", list(DECLARED))
def test_a_declaration_is_all_it_needs(name: str) -> None:
    report = run_checks(f"tests.own_grus:{name}", **QUICK, **DECLARED[name])
    assert statuses(report) == {"forward[basic]": "passed", "gradient[output]": "passed"}, [
        c.message for c in report.checks
    ]


@pytest.mark.parametrize("name", list(WRONG))
def test_it_fails_under_a_wrong_declaration(name: str) -> None:
    report = run_checks(f"tests.own_grus:{name}", **QUICK, **{**DECLARED[name], **WRONG[name]})
    assert statuses(report)["forward[basic]"] == "failed", statuses(report)


def test_a_real_bug_fails_under_the_declaration_it_claims() -> None:
    report = run_checks("tests.own_grus:IgnoresBhn", **QUICK, **DECLARED["TwoLinearCell"])
    assert set(statuses(report).values()) == {"failed"}, statuses(report)


def test_the_declared_variant_wins_over_the_class() -> None:
    """torch.nn.GRU declared reset-before is judged as that (and fails); undeclared it passes."""
    quick = {**QUICK, "checks": ["forward[basic]"]}
    assert statuses(run_checks("torch.nn:GRU", **quick))["forward[basic]"] == "passed"
    declared = run_checks("torch.nn:GRU", **quick, variant="reset_before")
    assert statuses(declared)["forward[basic]"] == "failed"


def test_a_declaration_that_does_not_fit_is_a_one_line_error() -> None:
    with pytest.raises(TargetError, match=r"transposed needs weights of shapes"):
        run_checks("tests.own_grus:TwoLinearCell", **QUICK, cell=True, needs_h=True,
                   layout="transposed")  # fmt: skip
    with pytest.raises(TargetError, match="returns = 'list' does not fit a cell"):
        run_checks("tests.own_grus:TwoLinearCell", **QUICK, cell=True, returns="list")
    with pytest.raises(TargetError, match="reset_after_no_bhn"):
        run_checks("tests.own_grus:NoBhnGRU", **QUICK, returns="outputs", variant="reset_after")


EXPECTED = {
    "TwoLinearCell": {"cell": True, "needs_h": True, "returns": "state", "variant": "reset_after",
                      "update": "standard", "gate_order": "rzn", "layout": "fused"},
    "CourseCell": {"cell": True, "needs_h": True, "returns": "state", "variant": "reset_before",
                   "update": "complement", "gate_order": "zrn", "layout": "transposed"},
    "ConcatGRU": {"cell": False, "needs_h": False, "returns": "list", "variant": "reset_before",
                  "update": "standard", "gate_order": "rzn", "layout": "concat"},
    "NoBhnGRU": {"cell": False, "needs_h": False, "returns": "outputs",
                 "variant": "reset_after_no_bhn", "update": "standard", "gate_order": "rzn",
                 "layout": "fused"},
}  # fmt: skip


@pytest.mark.parametrize("name", list(EXPECTED))
def test_suggest_finds_the_declaration(name: str) -> None:
    found = suggest(load_attr(f"tests.own_grus:{name}"), name)
    assert found.found is not None and found.found.error < 1e-12, found.closest
    got = {k: getattr(found.found.declaration, k) for k in EXPECTED[name]}
    assert got == EXPECTED[name]


def test_suggest_names_no_convention_for_a_real_bug() -> None:
    found = suggest(load_attr("tests.own_grus:IgnoresBhn"), "IgnoresBhn")
    assert found.found is None and found.tried == 36
    errors = [c.error for c in found.closest]
    assert len(errors) == 3 and errors == sorted(errors) and errors[0] > 1e-2, errors
    assert found.closest[0].declaration.variant == "reset_after"


def test_suggest_writes_the_map_of_per_gate_matrices() -> None:
    """Matrices per gate with their own names: the explicit map, by name, that explains it."""
    found = suggest(own_grus.per_gate_cell, "per_gate_cell")
    assert found.found is not None, found.closest
    d = found.found.declaration
    assert dict(d.params or ()) == own_grus.PER_GATE_PARAMS
    assert (d.variant, d.update, d.returns, d.cell, d.needs_h) == (
        "reset_after", "standard", "pair", True, True,
    )  # fmt: skip


def test_suggest_needs_a_map_for_parameters_of_no_layout() -> None:
    import torch

    class Odd(torch.nn.Module):
        def __init__(self, input_size: int, hidden_size: int) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(7))

        def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
            return h * self.w.sum()

    with pytest.raises(TargetError, match=r"fit none of the layouts .* nor one matrix per gate"):
        suggest(Odd, "Odd")


def test_toml_is_a_per_target_table_of_the_declared_fields() -> None:
    from gruverify.targets.declaration import Declaration

    text = toml("m:G", Declaration(variant="reset_before", needs_h=True, params=(("b_r", "b"),)))
    assert text == (
        '[tool.gruverify.target."m:G"]\nvariant = "reset_before"\nparams = {b_r = "b"}\n'
        "needs_h = true\n"
    )


def cli(*args: str, cwd: pathlib.Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gruverify", *args], cwd=cwd, capture_output=True, text=True,
        timeout=300, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def test_suggest_writes_a_config_that_check_accepts(tmp_path: pathlib.Path) -> None:
    """The combination reset-before + complement + z, r, n order: suggest --write, then check
    --config exits 0; without the config the same check fails."""
    config = tmp_path / "gru.toml"
    found = cli("suggest", "tests.own_grus:CourseCell", "--write", str(config))
    assert found.returncode == 0 and 'update = "complement"' in found.stdout, found
    subset = ["--check", "forward[basic]", "--check", "gradient[output]", "--profile", "quick"]
    checked = cli("check", "tests.own_grus:CourseCell", "--config", str(config), *subset)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    bare = cli("check", "tests.own_grus:CourseCell", "--cell", *subset)
    assert bare.returncode != 0, bare.stdout


def test_suggest_exits_1_with_the_closest_candidates() -> None:
    result = cli("suggest", "tests.own_grus:IgnoresBhn")
    assert result.returncode == 1, result
    assert "a bug, not a convention" in result.stdout and result.stdout.count("max error") == 3


def test_no_bhn_reference_ignores_b_hn_and_its_gradient_is_zero() -> None:
    """reset_after_no_bhn: the numpy and torch references agree, the output does not depend on
    b_hn (gradient 0) and equals reset_after with b_hn = 0."""
    import torch

    from gruverify.core.params import StackParams, random_gru_params
    from gruverify.reference.numpy_reference import gru_backward, gru_forward
    from gruverify.reference.torch_reference import gru_forward_torch, params_to_torch

    p = random_gru_params(3, 4, rng=1)
    x = np.random.default_rng(2).uniform(-1, 1, (5, 2, 3))
    ours = gru_forward(p, x, variant="reset_after_no_bhn")
    zeroed = StackParams(((p.cell(0).replace(b_hn=np.zeros(4)),),), bias=True)
    np.testing.assert_allclose(ours.output, gru_forward(zeroed, x).output, atol=1e-15)
    assert np.max(np.abs(ours.output - gru_forward(p, x).output)) > 1e-3
    tp = params_to_torch(p, torch.float64, "cpu")
    out, _ = gru_forward_torch(tp, torch.as_tensor(x), variant="reset_after_no_bhn")
    np.testing.assert_allclose(out.numpy(), ours.output, atol=1e-14)
    g = gru_backward(p, x, d_output=np.ones_like(ours.output), variant="reset_after_no_bhn")
    assert not np.any(g.dparams.cell(0).b_hn)
    gz = gru_backward(zeroed, x, d_output=np.ones_like(ours.output))
    np.testing.assert_allclose(g.dparams.cell(0).W_hn, gz.dparams.cell(0).W_hn, atol=1e-14)


def test_a_failing_check_names_the_declaration_that_explains_it() -> None:
    """The combination declared only in part (reset-before, standard update, r, z, n): the
    failure's diagnosis is the declaration suggest finds."""
    partial = {**DECLARED["CourseCell"], "update": "standard", "gate_order": "rzn"}
    report = run_checks("tests.own_grus:CourseCell", **{**QUICK, "checks": ["forward[basic]"]},
                        **partial)  # fmt: skip
    [result] = report.checks
    assert result.status == "failed"
    assert result.diagnosis is not None and (
        'update = "complement", gate_order = "zrn", layout = "transposed"' in result.diagnosis
    ), result.diagnosis


def test_no_declaration_points_to_suggest() -> None:
    with pytest.raises(TargetError, match=r"gruverify suggest tests\.own_grus:CourseCell"):
        run_checks("tests.own_grus:CourseCell", **QUICK, cell=True)


def test_an_isolated_worker_builds_it_from_the_declaration() -> None:
    """The declaration (an explicit map included) reaches the worker process."""
    report = run_checks("tests.own_grus:per_gate_cell", **QUICK, isolate=True,
                        **DECLARED["per_gate_cell"])  # fmt: skip
    assert statuses(report) == {"forward[basic]": "passed", "gradient[output]": "passed"}
    assert dict(report.declaration["params"])["W_ir"] == "rst_x"


def test_flax_nnx_is_the_declared_no_bhn_variant() -> None:
    """flax nnx's GRUCell has no b_hn: undeclared it fails forward[basic] (its finding, verdict
    unchanged); declared reset_after_no_bhn it computes the reference's third variant."""
    pytest.importorskip("flax")
    quick = {**QUICK, "checks": ["forward[basic]"]}
    assert statuses(run_checks("flax-nnx", **quick))["forward[basic]"] == "failed"
    declared = run_checks("flax-nnx", **quick, variant="reset_after_no_bhn")
    assert statuses(declared)["forward[basic]"] == "passed", declared.checks[0].message


def test_a_cell_whose_state_is_optional_is_seen_as_such() -> None:
    """``suggest`` probes a cell with and without its state: a cell whose ``h`` defaults to zeros
    needs no state; one that requires it does."""
    import torch

    from gruverify.conformance.suggest import _as_cell

    class Optional(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cell = torch.nn.GRUCell(4, 5)

        def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
            return self.cell(x, h)

    class Required(Optional):
        def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            return self.cell(x, h)

    got = _as_cell(Optional().double(), torch, torch.float64)
    assert got == {"cell": True, "returns": "state", "needs_h": False}, got
    got = _as_cell(Required().double(), torch, torch.float64)
    assert got is not None and got["needs_h"] is True, got


class _Float32OnlyCell(torch.nn.GRUCell):
    """A cell whose kernel runs in float32 only (it raises on float64 tensors)."""

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        if x.dtype != torch.float32 or (h is not None and h.dtype != torch.float32):
            raise TypeError("this kernel runs in float32 only")
        return super().forward(x, h)


def test_suggest_probes_a_float32_only_cell_in_float32() -> None:
    """The calling convention is probed in float64 first, then float32 with every tensor in
    float32: a cell that refuses float64 is still found as a cell."""
    from gruverify.conformance.suggest import calling_convention

    found = calling_convention(_Float32OnlyCell)
    assert found == ({"cell": True, "returns": "state", "needs_h": False}, "float32")


def test_suggests_probe_problem_has_a_state_that_differs_by_unit_batch_and_sign() -> None:
    """The probe's h0 is drawn in (-1, 1), every entry its own: a convention that mixes up the
    state's rows, units or sign (a transposed or broadcast h, ``z`` on the wrong side) gives
    a different answer on it, where a constant h0 could hide it."""
    from gruverify.conformance.suggest import _problem

    h0 = np.asarray(_problem().h0)
    assert h0.min() < -0.1 and h0.max() > 0.1 and np.unique(h0).size == h0.size
    assert np.all(np.abs(h0) < 1.0)
