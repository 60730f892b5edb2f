"""``gruverify check model.pt2 [--source ...]``: the GRUs of a ``torch.export`` program.

The tests export the tagger of ``tests/model_file_sources.py`` (embedding -> 2-layer
bidirectional GRU -> linear) with ``torch.export`` themselves, its time and batch fixed to the
example's (3 x 2) as a plain ``torch.export.export`` fixes them, and tamper with a copy: two gate
blocks of one layer's ``weight_ih`` swapped in the program's state dict. The tampered program is
still a valid GRU (it passes without a source) and is not the source's (it fails with one, the
diagnosis naming the change). Runs use the quick profile and a few checks.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from cli_support import run_main
from model_file_sources import export_program, tagger

from gruverify.conformance.model_file import SOURCE_CHECK, run_file_checks
from gruverify.core.problem import Problem
from gruverify.layouts.torch_layout import gru_from_torch, torch_state_dict
from gruverify.targets import TargetError
from gruverify.targets.declaration import Declaration
from gruverify.targets.model_files import file_grus, file_target

SOURCE = "model_file_sources:tagger"
QUICK = dict(profile="quick", seed=0, isolate=False, device="cpu")
FEW = ["forward[basic]", "forward[multilayer]", "h0=None equals zeros"]


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> str:
    return export_program(tagger(), str(tmp_path_factory.mktemp("pt2") / "tagger.pt2"))


def _statuses(report: object) -> dict[str, str]:
    return {c.name: c.status for r in report.reports for c in r.checks}  # type: ignore[attr-defined]


def test_the_programs_gru_op_is_read_with_the_sources_weights_exactly(program: str) -> None:
    [entry] = file_grus(program, Declaration(source=SOURCE))
    gru = entry.gru
    assert (gru.name, gru.shape()) == ("gru", "input 5, hidden 4, 2 direction(s), 2 layers")
    assert gru.example == (3, 2, 8)  # the program's time and batch: the example's
    source = gru_from_torch(torch_state_dict(tagger().gru))
    for mine, theirs in zip(gru.params.cells, source.cells, strict=True):
        for a, b in zip(mine, theirs, strict=True):
            for name in ("W_ir", "W_hz", "b_in", "b_hn"):
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert (entry.source_name(), entry.differences()) == ("gru.layer0 + gru.layer1", [])


def test_the_op_alone_computes_what_the_whole_program_computes_at_its_shape(program: str) -> None:
    """At the program's own (fixed) shape, the GRU op alone gives the whole program's GRU output:
    the embedding's output fed to it, the head applied to its output."""
    model = tagger()
    tokens = torch.tensor([[1, 2], [3, 4], [5, 6]])
    target = file_target(program, None, "cpu", None)
    x = model.embed(tokens).detach().double().numpy()
    out = target.forward(Problem(params=target.fixed_params, x=x))
    whole = torch.export.load(program).module()(tokens).detach().double().numpy()
    head = model.head(torch.tensor(out.output, dtype=torch.float32)).detach().double().numpy()
    np.testing.assert_allclose(head, whole, rtol=0, atol=1e-6)
    with pytest.raises(Exception, match=r"(?i)guard|expected|shape"):
        torch.export.load(program).module()(torch.zeros(5, 2, dtype=torch.int64))


@pytest.mark.parametrize("source", [None, SOURCE])
def test_program_passes_with_and_without_source(program: str, source: str | None) -> None:
    report = run_file_checks(program, source=source, checks=FEW, **QUICK)
    assert report.verdict == "pass", report.reports[0].render()
    statuses = _statuses(report)
    assert statuses["forward[basic]"] == statuses["forward[multilayer]"] == "passed"
    assert (SOURCE_CHECK in statuses) == (source is not None)


def test_program_with_permuted_gates_fails_only_against_its_source(
    program: str, tmp_path: object
) -> None:
    ep = torch.export.load(program)
    w = ep.state_dict["gru.weight_ih_l1"]
    with torch.no_grad():  # torch's order is r, z, n: swap the first two blocks of layer 1
        w[:4], w[4:8] = w[4:8].clone(), w[:4].clone()
    path = os.path.join(str(tmp_path), "permuted.pt2")
    torch.export.save(ep, path)
    assert run_file_checks(path, checks=["forward[basic]"], **QUICK).verdict == "pass"
    report = run_file_checks(path, source=SOURCE, checks=["forward[basic]"], **QUICK)
    by_name = {c.name: c for c in report.reports[0].checks}
    assert (by_name["forward[basic]"].status, by_name[SOURCE_CHECK].status) == ("failed", "failed")
    assert (by_name[SOURCE_CHECK].diagnosis or "").startswith(
        "layer 1: gates permuted in W (direction forward): block 0 (z (update)) holds the source's "
        "r (reset)"
    )


def test_a_program_with_a_dynamic_batch_passes_too(tmp_path: object) -> None:
    path = export_program(tagger(), os.path.join(str(tmp_path), "dyn.pt2"), dynamic=True)
    [entry] = file_grus(path)
    assert entry.gru.example == (3, None, 8)  # the batch is symbolic
    assert run_file_checks(path, checks=["forward[basic]"], **QUICK).verdict == "pass"


def test_a_program_is_a_source_layer_by_layer(program: str, tmp_path: object) -> None:
    """``--source tagger.pt2``: the program's 2-layer GRU is two source layers, matched to an
    ONNX export's two GRU nodes (and a TorchScript file's one 2-layer GRU to the program's)."""
    pytest.importorskip("onnxruntime")
    from model_file_sources import export_onnx

    onnx_path = export_onnx(tagger(), os.path.join(str(tmp_path), "tagger.onnx"))
    entries = file_grus(onnx_path, Declaration(source=program))
    assert [(e.source_name(), e.differences()) for e in entries] == [
        ("gru.layer0", []),
        ("gru.layer1", []),
    ]


def test_a_batch_first_gru_without_biases_is_read_and_run_as_the_program_says(
    tmp_path: object,
) -> None:
    import warnings

    torch.manual_seed(0)
    gru = torch.nn.GRU(3, 2, batch_first=True, bias=False).eval()
    path = os.path.join(str(tmp_path), "plain.pt2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(gru, (torch.zeros(2, 4, 3),)), path)
    [entry] = file_grus(path)
    assert (entry.gru.batch_first, entry.gru.bias, entry.gru.example) == (True, False, (2, 4, 2))
    report = run_file_checks(path, checks=["forward[basic]", "forward[bias=False]"], **QUICK)
    assert report.verdict == "pass", report.reports[0].render()
    assert _statuses(report)["forward[bias=False]"] == "passed"


def test_cli_checks_the_program(
    program: str, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["check", program, "--profile", "quick", "--check", "forward[basic]", "--no-isolate",
            "--device", "cpu", "--artifacts", str(tmp_path), "--source", SOURCE]  # fmt: skip
    code, out, err = run_main(capsys, *args)
    assert code == 0, out + err
    assert f"{program}: PASS (1 GRU against --source {SOURCE};" in out


def test_unusable_programs_are_one_line_errors(tmp_path: object) -> None:
    d = str(tmp_path)
    with pytest.raises(TargetError, match="no such file"):
        file_grus(os.path.join(d, "missing.pt2"))
    bad = os.path.join(d, "bad.pt2")
    with open(bad, "wb") as f:
        f.write(b"not a zip")
    with pytest.raises(TargetError, match=r"not a readable torch\.export program") as e:
        file_grus(bad)
    assert "\n" not in str(e.value)
    lin = os.path.join(d, "linear.pt2")
    torch.export.save(torch.export.export(torch.nn.Linear(2, 2), (torch.zeros(1, 2),)), lin)
    with pytest.raises(TargetError, match=r"no GRU to check .*: no aten\.gru op"):
        file_grus(lin)


def test_a_decomposed_program_is_refused_naming_why(tmp_path: object) -> None:
    """``run_decompositions`` unrolls the GRU over the example's length: no op to run alone."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.export(torch.nn.GRU(2, 2).eval(), (torch.zeros(2, 1, 2),))
        path = os.path.join(str(tmp_path), "decomposed.pt2")
        torch.export.save(ep.run_decompositions(), path)
    with pytest.raises(TargetError, match="decomposed into an unrolled loop"):
        file_grus(path)
