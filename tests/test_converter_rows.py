"""The converter rows of the matrix: ``onnx2torch`` (ONNX -> torch), ``mnn`` (ONNX -> MNN) and
``ncnn`` (torch -> pnnx -> ncnn).

Each runs the real converter; the tests skip when its package is not installed
(``pip install -c constraints.txt -e '.[converters]'``). The findings are reproduced with the
libraries alone (torch, onnx and the converter, no gruverify code on the compared path).
"""

from __future__ import annotations

import importlib.util
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gruverify.core.params import random_gru_params  # noqa: E402
from gruverify.core.problem import Problem  # noqa: E402
from gruverify.layouts.torch_layout import gru_to_torch  # noqa: E402
from gruverify.targets.errors import TargetError  # noqa: E402
from gruverify.targets.findings import finding_for  # noqa: E402


def _torch_gru(params: Any, batch_first: bool = False) -> Any:
    p = params
    gru = torch.nn.GRU(p.input_size, p.hidden_size, p.num_layers, bias=p.bias,
                       batch_first=batch_first, bidirectional=p.bidirectional).double()  # fmt: skip
    gru.load_state_dict(gru_to_torch(p, as_torch=True, dtype=torch.float64))
    return gru.eval()


# -- ncnn ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ncnn_target() -> Any:
    pytest.importorskip("ncnn")
    pytest.importorskip("pnnx")
    from gruverify.targets.ncnn_target import NcnnGRUTarget

    return NcnnGRUTarget()


@pytest.mark.parametrize(("layers", "bidirectional", "bias", "h0"),
                         [(2, True, True, True), (1, False, False, False)])  # fmt: skip
def test_ncnn_replayed_bin_equals_a_real_pnnx_conversion(
    ncnn_target: Any, tmp_path: Path, layers: int, bidirectional: bool, bias: bool, h0: bool
) -> None:
    from gruverify.targets.ncnn_target import _decode, _replay, convert_with_pnnx

    p = random_gru_params(3, 4, layers, bidirectional, bias, rng=1)
    n = p.flat().size
    tagged = p.unflat(2.0**21 + 4.0 * np.arange(n, dtype=np.float64))
    _, tag_bin = convert_with_pnnx(tagged, initial_state=h0, directory=str(tmp_path), name="tags")
    decoded = _decode(np.fromfile(tag_bin, np.float32), p)
    _, real_bin = convert_with_pnnx(p, initial_state=h0, directory=str(tmp_path), name="real")
    real = np.fromfile(real_bin, np.float32)
    replayed = _replay(decoded, p)
    assert replayed.shape == real.shape
    differ = np.flatnonzero(replayed.view(np.uint32) != real.view(np.uint32))
    assert differ.size == 0, f"{differ.size} of {real.size} entries differ, first at {differ[:5]}"
    if bias:  # pnnx sums b_ir + b_hr and b_iz + b_hz: the decoding found 2 * layers * D * H sums
        D = 2 if bidirectional else 1
        assert int(np.sum(decoded[1] >= 0)) == 2 * layers * D * 4


def test_ncnn_forward_matches_torch_over_a_batch(ncnn_target: Any) -> None:
    p = random_gru_params(5, 3, 2, True, True, rng=2)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 40, 5))  # batch-first, T = 40 (longer than any example)
    h0 = rng.standard_normal((4, 3, 3))
    got = ncnn_target.forward(Problem(p, x, h0, batch_first=True))
    with torch.no_grad():
        out, h_n = _torch_gru(p, batch_first=True)(torch.tensor(x), torch.tensor(h0))
    assert np.max(np.abs(got.output - out.numpy())) < 1e-5
    assert np.max(np.abs(got.h_n - h_n.numpy())) < 1e-5


def test_ncnn_a_wrong_bias_sum_is_caught(ncnn_target: Any) -> None:
    """Planted bug: a replay that drops b_hr from pnnx's b_ir + b_hr sum changes the outputs by
    far more than float32 error (the forward comparison above can fail)."""
    from gruverify.targets import ncnn_target as module

    p = random_gru_params(2, 3, 1, rng=4)
    x = np.random.default_rng(5).standard_normal((6, 2, 2))
    ncnn_target._graph(Problem(p, x))
    key = (2, 3, 1, 1, True, False)  # input, hidden, layers, directions, bias, h0 given
    param, (first, second, const) = ncnn_target._graphs[key]
    broken = (first, np.full_like(second, -1), const)
    ncnn_target._graphs[key] = (param, broken)
    ncnn_target._nets = module.Recent(4)
    try:
        got = ncnn_target.forward(Problem(p, x)).output
    finally:
        del ncnn_target._graphs[key]
        ncnn_target._nets = module.Recent(4)
    with torch.no_grad():
        want = _torch_gru(p)(torch.tensor(x))[0].numpy()
    assert np.max(np.abs(got - want)) > 1e-3


# -- mnn ----------------------------------------------------------------------------------------


def _mnn() -> tuple[Any, Any]:
    pytest.importorskip("MNN")
    from gruverify.targets.mnn_target import import_mnn

    return import_mnn()


def _mnn_run(tmp_path: Path, model_bytes: bytes, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Convert an ONNX file with MNN's converter and run it on ``feeds`` (MNN only)."""
    MNN, tools = _mnn()
    src, dst = str(tmp_path / "m.onnx"), str(tmp_path / "m.mnn")
    Path(src).write_bytes(model_bytes)
    tools.mnnconvert(["mnnconvert", "-f", "ONNX", "--modelFile", src, "--MNNModel", dst])
    module = MNN.nn.load_module_from_file(dst, list(feeds), ["output", "h_n"])
    F = MNN.expr
    args = [F.const(v, list(v.shape), F.NCHW, F.int if v.dtype == np.int32 else F.float)
            for v in feeds.values()]  # fmt: skip
    return [np.array(r.read()) for r in module.forward(args)]


def test_mnn_forward_matches_torch() -> None:
    _mnn()
    from gruverify.targets.mnn_target import MnnGRUTarget

    target = MnnGRUTarget()
    p = random_gru_params(3, 4, 2, True, True, rng=6)
    rng = np.random.default_rng(7)
    x, h0 = rng.standard_normal((5, 3, 3)), rng.standard_normal((4, 3, 4))
    got = target.forward(Problem(p, x, h0))
    with torch.no_grad():
        out, h_n = _torch_gru(p)(torch.tensor(x), torch.tensor(h0))
    assert np.max(np.abs(got.output - out.numpy())) < 1e-5
    assert np.max(np.abs(got.h_n - h_n.numpy())) < 1e-5


class _Packed(torch.nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.gru = torch.nn.GRU(2, 3)

    def forward(self, x: Any, lengths: Any) -> Any:
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

        out, h = self.gru(pack_padded_sequence(x, lengths, enforce_sorted=False))
        return pad_packed_sequence(out, total_length=x.shape[0])[0], h


def test_finding_mnn_ignores_sequence_lens(tmp_path: Path) -> None:
    """torch's export of a packed GRU carries the lengths as the GRU node's sequence_lens;
    onnxruntime honours them, MNN 3.6.1's converted model runs every sequence all T steps: its
    final state is torch's state *without* lengths."""
    _mnn()
    torch.manual_seed(0)
    m = _Packed().eval()
    x, lengths = torch.randn(4, 2, 2), torch.tensor([4, 2])
    f = io.BytesIO()
    torch.onnx.export(m, (x, lengths), f, dynamo=False, input_names=["x", "lengths"],
                      output_names=["output", "h_n"])  # fmt: skip
    out, h_n = _mnn_run(tmp_path, f.getvalue(), {"x": x.numpy(),
                                                 "lengths": lengths.numpy().astype(np.int32)})  # fmt: skip
    with torch.no_grad():
        _, want_h = m(x, lengths)
        _, unpadded_h = m.gru(x)
    assert np.max(np.abs(out[2:, 1])) > 1e-2, "MNN now zeros the padded steps: update the finding"
    assert np.max(np.abs(h_n[0, 1] - want_h[0, 1].numpy())) > 1e-2
    assert np.max(np.abs(h_n[0, 1] - unpadded_h[0, 1].numpy())) < 1e-5  # ran all T steps
    assert finding_for("mnn", "forward[lengths]") is not None
    assert finding_for("mnn", "lengths truncation") is not None


def test_finding_mnn_dynamic_time_axis_runs_one_step(tmp_path: Path) -> None:
    """An export with a dynamic time axis converts (the converter unrolls a single step), but the
    model returns no outputs for any sequence longer than 1, batch 1 included ("Reshape error";
    "Broad cast error" at batch > 1), and runs T = 1; a static time axis runs (the mnn target
    exports it so)."""
    _mnn()
    torch.manual_seed(0)
    gru = torch.nn.GRU(3, 4).eval()
    x, h0 = torch.randn(5, 2, 3), torch.randn(1, 2, 4)
    for dynamic, works in ((True, False), (False, True)):
        f = io.BytesIO()
        axes = (
            {"x": {0: "T", 1: "B"}, "h0": {1: "B"}} if dynamic else {"x": {1: "B"}, "h0": {1: "B"}}
        )
        torch.onnx.export(gru, (x, h0), f, dynamo=False, input_names=["x", "h0"],
                          output_names=["output", "h_n"], dynamic_axes=axes)  # fmt: skip
        result = _mnn_run(tmp_path, f.getvalue(), {"x": x.numpy(), "h0": h0.numpy()})
        assert (len(result) == 2) == works, (dynamic, len(result))
    from gruverify.targets.mnn_target import MnnGRUTarget

    p = random_gru_params(3, 4, 1, rng=8)
    target = MnnGRUTarget(dynamic_time=True)
    for steps, batch in ((5, 2), (2, 1)):
        with pytest.raises(RuntimeError, match="returned 0 outputs"):
            target.forward(Problem(p, np.zeros((steps, batch, 3))))
    assert target.forward(Problem(p, np.zeros((1, 3, 3)))).output.shape == (1, 3, 4)


def test_finding_mnn_origin_rnn_impl_gets_the_reverse_final_state_wrong(tmp_path: Path) -> None:
    """``--useOriginRNNImpl``: the output sequence and the forward state are torch's, the reverse
    direction's final state is not (and is none of the reverse outputs); the default is right."""
    MNN, tools = _mnn()
    torch.manual_seed(0)
    gru = torch.nn.GRU(3, 4, 1, bidirectional=True).eval()
    x, h0 = torch.randn(5, 2, 3), torch.randn(2, 2, 4)
    f = io.BytesIO()
    torch.onnx.export(gru, (x, h0), f, dynamo=False, input_names=["x", "h0"],
                      output_names=["output", "h_n"])  # fmt: skip
    src, dst = str(tmp_path / "g.onnx"), str(tmp_path / "g.mnn")
    Path(src).write_bytes(f.getvalue())
    with torch.no_grad():
        want_out, want_h = (t.numpy() for t in gru(x, h0))
    for origin, reverse_right in ((True, False), (False, True)):
        tools.mnnconvert(["mnnconvert", "-f", "ONNX", "--modelFile", src, "--MNNModel", dst]
                         + (["--useOriginRNNImpl"] if origin else []))  # fmt: skip
        module = MNN.nn.load_module_from_file(dst, ["x", "h0"], ["output", "h_n"])
        F = MNN.expr
        out, h_n = (np.array(r.read()) for r in module.forward(
            [F.const(x.numpy(), [5, 2, 3]), F.const(h0.numpy(), [2, 2, 4])]))  # fmt: skip
        assert np.max(np.abs(out - want_out)) < 1e-5
        assert np.max(np.abs(h_n[0] - want_h[0])) < 1e-5
        assert (np.max(np.abs(h_n[1] - want_h[1])) < 1e-5) == reverse_right, origin
        if origin:
            assert min(np.max(np.abs(h_n[1] - want_out[t, :, 4:])) for t in range(5)) > 1e-2
    assert finding_for("mnn[origin-rnn]", "forward[bidirectional]") is not None


def test_finding_mnn_broadcasts_a_batch_1_initial_state(tmp_path: Path) -> None:
    _mnn()
    from gruverify.targets.mnn_target import MnnGRUTarget

    p = random_gru_params(3, 4, 1, rng=9)
    got = MnnGRUTarget().forward(Problem(p, np.ones((5, 2, 3)), np.ones((1, 1, 4))))
    assert got.output.shape == (5, 2, 4)  # accepted instead of rejected
    assert finding_for("mnn", "bad initial state rejected") is not None


def test_mnn_never_imports_its_telemetry() -> None:
    """``MNN.tools`` runs ``pip install aliyun-log-python-sdk`` and reports conversions; the target
    must run the converter without importing it."""
    _mnn()
    import subprocess
    import sys

    code = ("import sys; from gruverify.targets.mnn_target import MnnGRUTarget; MnnGRUTarget(); "
            "assert 'MNN.tools' not in sys.modules and 'aliyun' not in sys.modules")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


# -- onnx2torch ---------------------------------------------------------------------------------


def test_finding_onnx2torch_has_no_gru_converter() -> None:
    """onnx2torch 1.5.15 has no converter for the ONNX GRU operator: a one-node GRU model (the
    operator alone, opset 22) and torch's export both fail; the target refuses with the error."""
    pytest.importorskip("onnx")
    if importlib.util.find_spec("onnx2torch") is None:  # not importorskip: torchvision may not load
        pytest.skip("onnx2torch is not installed (.venv-onnx2torch has it)")
    from gruverify.targets.onnx2torch_target import Onnx2TorchGRUTarget, import_onnx2torch
    from gruverify.targets.onnx_reference_target import NodeConfig, make_onnx_gru_node_model

    onnx2torch = import_onnx2torch()
    model = make_onnx_gru_node_model(
        NodeConfig(2, 3, "forward", 1, True, False, False, 0, "float32")
    )
    with pytest.raises(NotImplementedError, match="operation_type='GRU'"):
        onnx2torch.convert(model)
    with pytest.raises(TargetError, match=r"the GRU node alone: NotImplementedError: .*'GRU'"):
        Onnx2TorchGRUTarget()
