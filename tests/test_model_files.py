"""``gruverify check model.onnx [--source ...]``: a deployed file's GRUs checked with their weights.

The tests export their files themselves (``tests/model_file_sources.py``: embedding -> 2-layer
bidirectional GRU -> linear, TorchScript exporter) and tamper with copies: two gate blocks of one
GRU's ``W`` swapped, ``linear_before_reset`` flipped. A tampered file is still a valid GRU (it
passes without a source) and is not the source's (it fails with one, the diagnosis naming the
change). Runs use the quick profile and a few checks.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

import onnx
from cli_support import run_main
from model_file_sources import export_onnx, keras_tagger, save_keras, tagger
from onnx import TensorProto, helper, numpy_helper

from gruverify.conformance.model_file import SOURCE_CHECK, run_file_checks
from gruverify.conformance.runner import run_checks
from gruverify.layouts.onnx_layout import make_onnx_gru_model
from gruverify.layouts.torch_layout import gru_from_torch, torch_state_dict
from gruverify.targets import TargetError
from gruverify.targets.declaration import Declaration
from gruverify.targets.model_files import file_grus, file_target
from gruverify.targets.model_source import SourceGRU, differences

SOURCE = "model_file_sources:tagger"
OTHER = "model_file_sources:other_tagger"
QUICK = dict(profile="quick", seed=0, isolate=False, device="cpu")
FEW = ["forward[basic]", "forward[lengths]", "h0=None equals zeros"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> str:
    return export_onnx(tagger(), str(tmp_path_factory.mktemp("files") / "tagger.onnx"))


def _gru_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if n.op_type == "GRU"]


def _tampered(path: str, out: str, how: str, node: int = 1) -> str:
    """A copy of ``path`` with GRU ``node`` changed: ``permute`` swaps W's z and r blocks
    (forward direction), ``flip`` flips linear_before_reset."""
    model = onnx.load(path)
    gru = _gru_nodes(model)[node]
    if how == "permute":
        init = next(t for t in model.graph.initializer if t.name == gru.input[1])
        W = numpy_helper.to_array(init).copy()
        H = W.shape[1] // 3
        W[0, :H], W[0, H : 2 * H] = W[0, H : 2 * H].copy(), W[0, :H].copy()
        init.CopyFrom(numpy_helper.from_array(W, init.name))
    else:
        for a in gru.attribute:
            if a.name == "linear_before_reset":
                a.i = 1 - a.i
    onnx.save(model, out)
    return out


# -- reading a file -----------------------------------------------------------------------------


def test_reads_every_gru_with_the_sources_weights_exactly(exported: str) -> None:
    entries = file_grus(exported)
    assert [e.gru.shape() for e in entries] == [
        "input 5, hidden 4, 2 direction(s)",
        "input 8, hidden 4, 2 direction(s)",
    ]
    source = gru_from_torch(torch_state_dict(tagger().gru))
    for layer, e in enumerate(entries):
        assert e.gru.variant == "reset_after"
        for got, want in zip(e.gru.cells, source.cells[layer], strict=True):
            for (name, a), (_, b) in zip(got.items(), want.items(), strict=True):
                assert np.array_equal(a, b), (layer, name)
    matched = file_grus(exported, Declaration(source=SOURCE))
    assert [(e.source_name(), e.differences()) for e in matched] == [
        ("gru.layer0", []),
        ("gru.layer1", []),
    ]


def test_node_selects_one_gru_and_an_unknown_one_is_named(exported: str) -> None:
    [one] = file_grus(exported, Declaration(node="/gru/GRU_1"))
    assert one.gru.input_size == 8
    with pytest.raises(TargetError, match=r"did you mean '/gru/GRU_1'\?"):
        file_grus(exported, Declaration(node="/gru/GRU_2"))
    with pytest.raises(TargetError, match=r"holds 2 GRUs .* name one with --node"):
        file_target(exported, Declaration(), "cpu", None)


def test_unusable_files_are_one_line_errors(tmp_path: object, exported: str) -> None:
    base = str(tmp_path)
    corrupt = os.path.join(base, "corrupt.onnx")
    with open(corrupt, "wb") as f:
        f.write(b"\x00not a model\xff" * 10)
    with pytest.raises(TargetError, match="not a readable ONNX model"):
        file_grus(corrupt)
    with pytest.raises(TargetError, match="no such file"):
        file_grus(os.path.join(base, "missing.onnx"))
    relu = helper.make_model(helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    ))  # fmt: skip
    onnx.save(relu, os.path.join(base, "relu.onnx"))
    with pytest.raises(TargetError, match=r"no ONNX GRU node in the file \(its ops: Relu\)"):
        file_grus(os.path.join(base, "relu.onnx"))
    with pytest.raises(TargetError, match=r"2 GRU.*has 1 GRU layer"):
        file_grus(exported, Declaration(source="model_file_sources:single_gru"))


def test_unsupported_attributes_are_refused(tmp_path: object) -> None:
    cells = gru_from_torch(torch_state_dict(tagger().gru)).cells[0]
    model = make_onnx_gru_model(cells, linear_before_reset=1)
    gru = _gru_nodes(model)[0]
    gru.attribute.append(helper.make_attribute("clip", 3.0))
    path = os.path.join(str(tmp_path), "clip.onnx")
    onnx.save(model, path)
    with pytest.raises(TargetError, match=r"unsupported clip=3\.0"):
        file_grus(path)
    del gru.attribute[-1]
    gru.attribute.append(helper.make_attribute("activations", ["Sigmoid", "Relu"] * 2))
    onnx.save(model, path)
    with pytest.raises(TargetError, match=r"unsupported activations \['Sigmoid', 'Relu'"):
        file_grus(path)


# -- checking a file ----------------------------------------------------------------------------


def _statuses(report: object) -> dict[str, str]:
    return {c.name: c.status for r in report.reports for c in r.checks}  # type: ignore[attr-defined]


@pytest.mark.parametrize("source", [None, SOURCE])
def test_exported_file_passes_with_and_without_source(exported: str, source: str | None) -> None:
    report = run_file_checks(exported, source=source, checks=FEW, **QUICK)
    assert report.verdict == "pass", "\n".join(r.render() for r in report.reports)
    assert len(report.reports) == 2
    statuses = _statuses(report)
    assert statuses["forward[basic]"] == "passed"
    assert (SOURCE_CHECK in statuses) == (source is not None)


@pytest.mark.parametrize(
    "how, names",
    [
        ("permute", "gates permuted in W (direction forward): block 0 (z (update)) holds the "
                    "source's r (reset); block 1 (r (reset)) holds the source's z (update)"),
        ("flip", "linear_before_reset flipped: the file has 0 (reset_before)"),
    ],
)  # fmt: skip
def test_tampered_file_is_a_valid_gru_but_not_the_sources(
    exported: str, tmp_path: object, how: str, names: str
) -> None:
    path = _tampered(exported, os.path.join(str(tmp_path), f"{how}.onnx"), how)
    alone = run_file_checks(path, checks=["forward[basic]"], **QUICK)
    assert alone.verdict == "pass", "\n".join(r.render() for r in alone.reports)
    sourced = run_file_checks(
        path, declaration=Declaration(source=SOURCE), checks=["forward[basic]"], **QUICK
    )
    assert sourced.verdict == "fail"
    first, second = sourced.reports
    assert first.verdict == "pass"  # only GRU_1 was changed
    by_name = {c.name: c for c in second.checks}
    assert by_name[SOURCE_CHECK].status == "failed"
    assert names in (by_name[SOURCE_CHECK].diagnosis or "")
    assert by_name[SOURCE_CHECK].message.startswith("/gru/GRU_1 is not the source's "), by_name
    assert names in by_name[SOURCE_CHECK].message
    assert by_name["forward[basic]"].status == "failed"  # the runtime against the source's GRU


def test_weight_changing_checks_are_skipped_as_fixed_by_the_file(exported: str) -> None:
    report = run_checks(
        exported, node="/gru/GRU", checks=["carry-over", "chunked continuation", "determinism"],
        **QUICK,
    )  # fmt: skip
    by_name = {c.name: c for c in report.checks}
    assert by_name["carry-over"].status == "skipped"
    assert by_name["carry-over"].message.startswith("weights fixed by the file: it raises b_iz")
    assert by_name["chunked continuation"].message == (
        "weights fixed by the file: its GRU has two directions"
    )
    assert by_name["determinism"].status == "passed"


def test_the_target_refuses_other_weights(exported: str) -> None:
    from gruverify.strategies import Config, make_case

    target = file_target(exported, Declaration(node="/gru/GRU"), "cpu", None)
    drawn = make_case(Config(3, 2, 5, 4, bidirectional=True), "ordinary", "ordinary", 0).problem
    with pytest.raises(ValueError, match="other weights"):
        target.forward(drawn)
    fixed = dataclasses.replace(drawn, params=target.fixed_params)
    assert target.forward(fixed).output.shape == (3, 2, 8)


def test_fixed_weights_reach_the_checker_from_a_worker(exported: str) -> None:
    """In a worker the target's weights come back with its description: were they lost, the
    checker would draw other weights and every call would be refused (an error)."""
    report = run_checks(
        exported, node="/gru/GRU_1", checks=["forward[basic]"],
        **{**QUICK, "isolate": True},
    )  # fmt: skip
    assert [c.status for c in report.checks] == ["passed"], report.render()


def test_cli_checks_each_gru_and_says_the_files_verdict(
    exported: str, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _tampered(exported, os.path.join(str(tmp_path), "flip.onnx"), "flip")
    args = ["check", path, "--profile", "quick", "--check", "forward[basic]", "--no-isolate",
            "--device", "cpu", "--artifacts", str(tmp_path)]  # fmt: skip
    code, out, err = run_main(capsys, *args, "--source", SOURCE)
    assert code == 1, out + err
    assert f"{path}: FAIL (2 GRUs against --source {SOURCE}; failing: /gru/GRU_1" in out
    assert (
        "GRU /gru/GRU_1: input 8, hidden 4, 2 direction(s), reset_before (source: gru.layer1)"
        in out
    )
    assert "linear_before_reset flipped" in out
    code, out, err = run_main(capsys, *args)
    assert code == 0, out + err
    assert f"{path}: PASS (2 GRUs;" in out
    code, out, err = run_main(capsys, *args, "--node", "nope")
    assert code == 2
    assert err.count("\n") == 1 and "--node 'nope': no such GRU" in err


# -- how a file differs from its source ---------------------------------------------------------


def _source() -> SourceGRU:
    cells = gru_from_torch(torch_state_dict(tagger().gru)).cells[0]
    return SourceGRU("gru.layer0", tuple(cells))


def _with(source: SourceGRU, cells: tuple[object, ...], variant: str = "reset_after") -> SourceGRU:
    return dataclasses.replace(source, cells=cells, variant=variant)  # type: ignore[arg-type]


def test_differences_name_each_kind_of_change() -> None:
    s = _source()
    fwd, rev = s.cells
    assert differences(s, s) == []
    assert differences(_with(s, (rev, fwd)), s) == [
        "directions swapped: the forward cell holds the source's reverse cell"
    ]
    dropped = tuple(c.replace(**{k: 0 * v for k, v in c.items() if k.startswith("b_")})
                    for c in s.cells)  # fmt: skip
    assert differences(_with(s, dropped), s)[0].startswith("biases dropped (direction forward)")
    folded = tuple(
        c.replace(b_ir=c.b_ir + c.b_hr, b_hr=0 * c.b_hr, b_iz=c.b_iz + c.b_hz, b_hz=0 * c.b_hz)
        for c in s.cells
    )
    assert "biases folded (direction forward)" in differences(_with(s, folded), s)[0]
    assert "the same GRU" in differences(_with(s, folded), s)[0]
    n_folded = tuple(c.replace(b_in=c.b_in + c.b_hn, b_hn=0 * c.b_hn) for c in s.cells)
    assert "a different GRU" in differences(_with(s, n_folded), s)[0]
    half = tuple(c.map(lambda v: v.astype(np.float16).astype(np.float64)) for c in s.cells)
    assert differences(_with(s, half), s) == [
        "weights rounded to float16: W (direction forward), W (direction reverse), R (direction "
        "forward), R (direction reverse), B (direction forward), B (direction reverse) equal the "
        "source's values rounded to float16"
    ]
    assert differences(_with(s, s.cells, "reset_before"), s)[0].startswith(
        "linear_before_reset flipped"
    )


# -- Keras files --------------------------------------------------------------------------------

KERAS_SOURCE = "model_file_sources:keras_tagger"


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    from gruverify.targets.keras_target import import_keras

    try:
        import_keras()
    except TargetError as e:
        pytest.skip(str(e))
    return save_keras(keras_tagger(), str(tmp_path_factory.mktemp("keras") / "tagger.keras"))


def _keras_permuted(path: str, out: str) -> str:
    """A copy of the Keras file with the z and r column blocks of ``gru_a``'s kernel swapped."""
    from gruverify.targets.keras_target import import_keras

    keras = import_keras()
    model = keras.saving.load_model(path, compile=False)
    layer = model.get_layer("gru_a")
    kernel, *rest = layer.get_weights()
    H = kernel.shape[1] // 3
    kernel = np.concatenate([kernel[:, H : 2 * H], kernel[:, :H], kernel[:, 2 * H :]], axis=1)
    layer.set_weights([kernel, *rest])
    model.save(out)
    return out


def test_keras_file_layers_are_read_and_pass_with_and_without_source(keras_file: str) -> None:
    entries = file_grus(keras_file, Declaration(source=KERAS_SOURCE))
    assert [(e.name, e.gru.shape(), e.gru.variant, e.differences()) for e in entries] == [
        ("gru_a", "input 5, hidden 4, 1 direction(s)", "reset_after", []),
        ("gru_b", "input 4, hidden 3, 2 direction(s)", "reset_before", []),
    ]
    for source in (None, KERAS_SOURCE):
        report = run_file_checks(keras_file, source=source, checks=FEW, **QUICK)
        assert report.verdict == "pass", "\n".join(r.render() for r in report.reports)


def test_keras_file_with_permuted_gates_fails_only_against_its_source(
    keras_file: str, tmp_path: object
) -> None:
    path = _keras_permuted(keras_file, os.path.join(str(tmp_path), "permuted.keras"))
    assert run_file_checks(path, checks=["forward[basic]"], **QUICK).verdict == "pass"
    report = run_file_checks(path, source=KERAS_SOURCE, checks=["forward[basic]"], **QUICK)
    first, second = report.reports
    assert (first.verdict, second.verdict) == ("fail", "pass")
    by_name = {c.name: c for c in first.checks}
    assert "gates permuted in W: block 0 (z (update)) holds the source's r (reset)" in (
        by_name[SOURCE_CHECK].diagnosis or ""
    )
    assert by_name["forward[basic]"].status == "failed"


# -- TorchScript files --------------------------------------------------------------------------

_TORCHSCRIPT_DEPRECATED = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> str:
    import warnings

    import torch

    path = str(tmp_path_factory.mktemp("torchscript") / "tagger.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(tagger()).save(path)
    return path


@_TORCHSCRIPT_DEPRECATED
def test_torchscript_gru_is_one_multilayer_gru_matched_to_its_source_layers(scripted: str) -> None:
    [entry] = file_grus(scripted, Declaration(source=SOURCE))
    assert entry.gru.shape() == "input 5, hidden 4, 2 direction(s), 2 layers"
    assert (entry.source_name(), entry.differences()) == ("gru.layer0 + gru.layer1", [])
    report = run_file_checks(
        scripted, source=SOURCE, checks=[*FEW, "forward[multilayer]"], **QUICK
    )  # fmt: skip
    assert report.verdict == "pass", report.reports[0].render()
    statuses = _statuses(report)
    assert statuses["forward[multilayer]"] == "passed"
    assert statuses["forward[lengths]"] == "skipped"  # padded input only


@_TORCHSCRIPT_DEPRECATED
def test_torchscript_file_with_permuted_gates_fails_only_against_its_source(
    scripted: str, tmp_path: object
) -> None:
    import torch

    model = torch.jit.load(scripted)
    w = model.gru.weight_ih_l1
    with torch.no_grad():  # torch's order is r, z, n: swap the first two blocks of layer 1
        w[:4], w[4:8] = w[4:8].clone(), w[:4].clone()
    path = os.path.join(str(tmp_path), "permuted.pt")
    model.save(path)
    assert run_file_checks(path, checks=["forward[basic]"], **QUICK).verdict == "pass"
    report = run_file_checks(path, source=SOURCE, checks=["forward[basic]"], **QUICK)
    by_name = {c.name: c for c in report.reports[0].checks}
    assert (by_name["forward[basic]"].status, by_name[SOURCE_CHECK].status) == ("failed", "failed")
    assert (by_name[SOURCE_CHECK].diagnosis or "").startswith(
        "layer 1: gates permuted in W (direction forward): block 0 (z (update)) holds the source's "
        "r (reset)"
    )


# -- other ONNX runtimes --------------------------------------------------------------------------


def test_the_runtimes_named_by_the_option_are_the_readers() -> None:
    from gruverify.core.options import fields_of
    from gruverify.targets.onnx_file import ONNX_RUNTIMES

    spec = {name: o for name, o, _ in fields_of(Declaration)}["runtime"]
    assert spec.choices is not None and tuple(spec.choices()) == ONNX_RUNTIMES


@pytest.mark.parametrize("runtime", ["onnx-reference", "openvino"])
def test_a_runtime_that_ignores_sequence_lengths_fails_with_the_files_weights(
    exported: str, runtime: str
) -> None:
    """Both ignore ``sequence_lens`` with dynamic shapes (docs/library-targets.md): the file's
    GRU run alone on them fails the lengths check; on onnxruntime it passes."""
    if runtime == "openvino":
        pytest.importorskip("openvino")
    checks = ["lengths truncation"]
    report = run_file_checks(exported, node="/gru/GRU", runtime=runtime, checks=checks, **QUICK)
    [result] = report.reports[0].checks
    assert result.status == "failed", result.message
    assert report.reports[0].target == exported
    assert run_file_checks(exported, node="/gru/GRU", checks=checks, **QUICK).verdict == "pass"


def test_runtime_is_for_onnx_files_only(keras_file: str) -> None:
    with pytest.raises(TargetError, match="only an ONNX file's or an OpenVINO IR's GRUs run on"):
        file_target(keras_file, Declaration(node="gru_a", runtime="openvino"), "cpu", None)


@pytest.mark.parametrize("layout", [0, 1])
def test_a_file_of_one_reset_before_gru_without_biases_in_either_layout(
    tmp_path: object, layout: int
) -> None:
    """One node, ``linear_before_reset=0``, no ``B``, time-major or batch-major (``layout=1``:
    X, Y, initial_h and Y_h batch first, which onnxruntime's CPU kernel refuses and the
    reference evaluator runs): a file of one GRU needs no ``node``."""
    cells = gru_from_torch(torch_state_dict(tagger().gru)).cells[0]
    zeroed = [c.replace(**{k: 0 * v for k, v in c.items() if k.startswith("b_")}) for c in cells]
    model = make_onnx_gru_model(zeroed, linear_before_reset=0, bias=False)
    _gru_nodes(model)[0].attribute.append(helper.make_attribute("layout", layout))
    path = os.path.join(str(tmp_path), f"layout{layout}.onnx")
    onnx.save(model, path)
    [entry] = file_grus(path)
    assert (entry.gru.variant, entry.gru.bias, entry.gru.layout) == ("reset_before", False, layout)
    checks = ["forward[basic]", "forward[bias=False]", "h0=None equals zeros"]
    runtime = None
    if layout == 1:  # onnxruntime 1.32's CPU kernel: one line; the reference evaluator runs it
        with pytest.raises(TargetError, match=r"onnxruntime cannot run it alone .*layout == 1"):
            file_target(path, None, "cpu", None)
        runtime = "onnx-reference"
    else:
        checks.append("forward[lengths]")
    report = run_checks(path, checks=checks, runtime=runtime, **QUICK)
    assert [c.status for c in report.checks] == ["passed"] * len(checks), report.render()


# -- OpenVINO IR ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def irs(exported: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The exported ONNX file converted to IR (``openvino.convert_model``), saved as
    ``openvino.save_model`` does by default (weights compressed to float16) and without."""
    ov = pytest.importorskip("openvino")
    base = tmp_path_factory.mktemp("ir")
    model = ov.convert_model(exported)
    paths = {"fp16": str(base / "fp16.xml"), "fp32": str(base / "fp32.xml")}
    ov.save_model(model, paths["fp16"])
    ov.save_model(model, paths["fp32"], compress_to_fp16=False)
    return paths


def test_ir_is_the_source_under_openvinos_layout_and_passes_in_float32(irs: dict[str, str]) -> None:
    """GRUSequence holds the sums of the z and r biases: under its layout that is exactly the
    source (not "folded")."""
    entries = file_grus(irs["fp32"], Declaration(source=SOURCE))
    assert [(e.gru.shape(), e.differences()) for e in entries] == [
        ("input 5, hidden 4, 2 direction(s)", []),
        ("input 8, hidden 4, 2 direction(s)", []),
    ]
    report = run_file_checks(
        irs["fp32"], source=SOURCE, runtime="openvino-f32", checks=["forward[basic]"], **QUICK
    )
    assert report.verdict == "pass", report.reports[0].render()


def test_ir_saved_by_default_holds_float16_weights_which_only_the_source_shows(
    irs: dict[str, str],
) -> None:
    alone = run_file_checks(irs["fp16"], runtime="openvino-f32", checks=["forward[basic]"], **QUICK)
    assert alone.verdict == "pass", alone.reports[0].render()
    report = run_file_checks(
        irs["fp16"], source=SOURCE, runtime="openvino-f32", checks=["forward[basic]"], **QUICK
    )
    by_name = {c.name: c for c in report.reports[0].checks}
    assert (by_name["forward[basic]"].status, by_name[SOURCE_CHECK].status) == ("failed", "failed")
    assert (by_name[SOURCE_CHECK].diagnosis or "").startswith(
        "weights rounded to float16: W (direction forward), W (direction reverse), R (direction "
        "forward)"
    )


def test_ir_on_the_plugins_default_precision(irs: dict[str, str]) -> None:
    """The CPU plugin's default inference precision is what a user of the file gets: bfloat16 on
    a CPU with AMX / AVX512-BF16 (a failure: ~2e-3 from the reference), float32 elsewhere."""
    import openvino

    default = str(openvino.Core().get_property("CPU", "INFERENCE_PRECISION_HINT"))
    first = file_grus(irs["fp32"])[0].name
    report = run_file_checks(irs["fp32"], node=first, checks=["forward[basic]"], **QUICK)
    [result] = report.reports[0].checks
    assert result.status == ("passed" if "32" in default else "failed"), (default, result.message)


def test_match_pairs_gru_nodes_with_named_source_layers(exported: str) -> None:
    aux = "model_file_sources:tagger_with_aux"
    with pytest.raises(TargetError, match=r"2 layer\(s\) to match by order.*3 GRU layer\(s\) left"):
        file_grus(exported, Declaration(source=aux))
    pairs = {"/gru/GRU": "tagger.gru.layer0", "/gru/GRU_1": "tagger.gru.layer1"}
    entries = file_grus(exported, Declaration(source=aux, match=pairs))
    assert [(e.source_name(), e.differences()) for e in entries] == [
        ("tagger.gru.layer0", []),
        ("tagger.gru.layer1", []),
    ]
    with pytest.raises(TargetError, match=r"no GRU layer 'tagger.gru.layer2'; did you mean"):
        file_grus(exported, Declaration(source=aux, match={"/gru/GRU": "tagger.gru.layer2"}))
    with pytest.raises(TargetError, match=r"--match /gru/GRU_9=\.\.\.: no such GRU"):
        file_grus(exported, Declaration(source=aux, match={"/gru/GRU_9": "aux.layer0"}))


def test_a_node_keyword_checks_that_gru_alone_and_the_json_names_the_file_and_source(
    exported: str,
) -> None:
    """``run_file_checks(path, node=...)`` checks one GRU; the file's JSON says which file, its
    verdict, the source and the version, with one report per GRU; the source result heads a GRU's
    checks, ``passed`` on the device ``cpu`` when the weights are the source's."""
    one = run_file_checks(exported, node="/gru/GRU_1", checks=["forward[basic]"], **QUICK)
    assert [r.declaration.get("node") for r in one.reports] == ["/gru/GRU_1"]
    d = one.to_dict()
    assert (d["file"], d["verdict"], d["source"]) == (exported, "pass", None)
    assert d["seconds"] == round(one.seconds, 3), d  # milliseconds, as the check report
    assert isinstance(d["gruverify_version"], str) and len(d["grus"]) == 1
    assert one.summary()[-1].startswith(f"{exported}: PASS (1 GRU;"), one.summary()
    seen: list[str] = []
    sourced = run_file_checks(exported, source=SOURCE, node="/gru/GRU", checks=["forward[basic]"],
                              progress=lambda r: seen.append(r.name), **QUICK)  # fmt: skip
    assert seen == [SOURCE_CHECK, "forward[basic]"], seen  # each result reported as it comes
    first = sourced.reports[0].checks[0]
    assert (first.name, first.device, first.status) == (SOURCE_CHECK, "cpu", "passed"), first
    assert sourced.to_dict()["source"] == SOURCE
