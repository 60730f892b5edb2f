"""``torch.nn.GRU`` -> pnnx -> ncnn ``.param``/``.bin`` -> the ncnn runtime (float32, CPU).

The path ncnn documents for torch models: trace the module with ``torch.jit.trace`` (an
``nn.GRU`` held as a submodule, which pnnx recognises by its type), convert the TorchScript file
with ``pnnx`` (pip ``pnnx``: the converter binary, run as ``pnnx model.pt inputshape=... fp16=0``)
and run the ``.ncnn.param``/``.ncnn.bin`` pair with ``ncnn.Net`` (pip ``ncnn``).

What the converter produces: one ncnn ``GRU`` layer per torch layer (``0=hidden 1=weight count
2=direction``, 2 for bidirectional), a ``Slice`` of the initial state per layer and a ``Concat`` of
the final states. ncnn's layer holds ``weight_xc``, ``bias_c`` and ``weight_hc``; pnnx writes
``bias_c`` as ``b_ir + b_hr``, ``b_iz + b_hz``, ``b_in``, ``b_hn`` (sums: arithmetic on weights, in
float32). ``fp16=0`` keeps the weights float32 (pnnx's default stores them as float16), and the
target turns off ncnn's fp16/bf16 storage and arithmetic options, so float32 is judged.

ncnn has **no batch axis**: a blob is one sequence ``(T, I)``, the state ``(L * D, H)``. The target
converts a batch-1 trace and runs each sequence of a batch in its own extractor call. The ``.param``
does not depend on ``T``, so one conversion serves every length.

Conversions take ~2.5 s (the pnnx binary loads libtorch), while the checker draws new weights for
every example. As for ``onnx-torchscript`` (``gruverify.targets.onnx_export``), each configuration
is converted once with *tags* (entry k of the canonical parameter vector holds ``2**21 + 4 k``) and
the ``.bin`` is decoded entry by entry: a tag is a copy of weight k, ``2**22 + 4 (a + b)`` for
the pair (``b_i*``, ``b_h*``) of one gate and unit is pnnx's sum of those two, anything below
``2**20`` is a weight-independent constant (ncnn's 4-byte storage flags). A problem's ``.bin`` is
then written from its weights by the same copies and float32 sums (tested bit for bit against a
real conversion); any other entry makes the target convert per weight set.

Missing: ``gradients`` (inference only), ``lengths`` (ncnn's GRU layer has no sequence lengths: it
runs one unpadded sequence), ``dropout``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import warnings
from typing import Any

import numpy as np

from gruverify.core.params import GRUParams, Variant
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem
from gruverify.layouts.torch_layout import gru_to_torch
from gruverify.targets.errors import TargetError
from gruverify.targets.recent import Recent

__all__ = ["NCNN_MISSING", "NcnnGRUTarget", "NcnnReplayError", "convert_with_pnnx"]

GRADIENTS_REASON = "the ncnn runtime runs inference only (no gradients)"
NCNN_MISSING = {
    "gradients": GRADIENTS_REASON,
    "lengths": "ncnn's GRU layer has no sequence lengths: it runs one unpadded sequence per call",
    "dropout": "a converted inference model has no dropout",
}
_TAG_BASE = 2.0**21
_TAG_STEP = 4.0
_CONST_LIMIT = 2.0**20
_MAX_NETS = 16
_GATES = (("b_ir", "b_hr"), ("b_iz", "b_hz"), ("b_in", "b_hn"))


class NcnnReplayError(RuntimeError):
    """A ``.bin`` entry is neither a copied weight, a known bias sum nor a constant."""


def import_ncnn() -> tuple[Any, str]:
    """``(ncnn, path of the pnnx binary)``, or ``TargetError``."""
    try:
        import ncnn  # type: ignore[import-not-found]
        import pnnx  # type: ignore[import-not-found]
    except ImportError as e:
        raise TargetError(
            f"ncnn needs pnnx and ncnn (pip install pnnx ncnn, gruverify[ncnn]): {e}"
        ) from e
    return ncnn, str(pnnx.EXEC_PATH)


def convert_with_pnnx(
    params: GRUParams, *, initial_state: bool, directory: str, name: str
) -> tuple[str, str]:
    """Trace an ``nn.GRU`` holding ``params`` (batch-first, batch 1, ``T = 4``) and convert it with
    pnnx (``fp16=0``); the paths of the ``.ncnn.param`` and ``.ncnn.bin`` files."""
    import torch

    _, exe = import_ncnn()
    p = params
    D = p.num_directions
    gru = torch.nn.GRU(p.input_size, p.hidden_size, p.num_layers, bias=p.bias, batch_first=True,
                       bidirectional=p.bidirectional)  # fmt: skip
    gru.load_state_dict(gru_to_torch(params, as_torch=True, dtype=torch.float32), strict=True)

    class WithState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = gru

        def forward(self, x: Any, h0: Any) -> Any:
            return self.gru(x, h0)

    class WithoutState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = gru

        def forward(self, x: Any) -> Any:
            return self.gru(x)

    x = torch.zeros(1, 4, p.input_size)
    h0 = torch.zeros(p.num_layers * D, 1, p.hidden_size)
    module = (WithState() if initial_state else WithoutState()).eval()
    example = (x, h0) if initial_state else (x,)
    shapes = ",".join(str(list(t.shape)).replace(" ", "") for t in example)
    pt = os.path.join(directory, f"{name}.pt")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about nn.GRU's shape checks
        torch.jit.trace(module, example).save(pt)
    result = subprocess.run([exe, pt, f"inputshape={shapes}", "fp16=0"], cwd=directory,
                            capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    param = os.path.join(directory, f"{name}.ncnn.param")
    binary = os.path.join(directory, f"{name}.ncnn.bin")
    if result.returncode != 0 or not os.path.exists(param):
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise TargetError(f"pnnx could not convert the GRU (exit {result.returncode}): {tail}")
    with open(param) as f:
        text = f.read()
    if "\nGRU " not in text:
        layers = sorted({line.split()[0] for line in text.splitlines()[2:] if line.split()})
        raise TargetError(f"pnnx converted the GRU into no ncnn GRU layer (layers: {layers})")
    return param, binary


def _decode(values: np.ndarray, params: GRUParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a ``.bin`` converted from tagged weights: per entry the canonical indices ``(a, b)``
    (``a >= 0, b < 0``: a copy of weight a; both ``>= 0``: their sum; both ``< 0``: a constant) and
    the constants. Raises ``NcnnReplayError`` for any other entry."""
    n = params.flat().size
    index = params.unflat(np.arange(n, dtype=np.float64))
    pairs: dict[float, tuple[int, int]] = {}
    if params.bias:
        for layer in index.cells:
            for cell in layer:
                for gi, gh in _GATES:
                    for a, b in zip(getattr(cell, gi), getattr(cell, gh), strict=True):
                        s = 2 * _TAG_BASE + _TAG_STEP * (a + b)
                        if s in pairs:
                            raise NcnnReplayError(f"two bias pairs share the tag sum {s}")
                        pairs[s] = (int(a), int(b))
    v = values.astype(np.float64)
    k = (v - _TAG_BASE) / _TAG_STEP
    single = (k >= 0) & (k < n) & (k == np.round(k))
    first = np.where(single, np.round(k), -1).astype(np.int64)
    second = np.full(v.shape, -1, np.int64)
    for i in np.flatnonzero(~single & ~(np.abs(v) < _CONST_LIMIT)):
        pair = pairs.get(float(v[i]))
        if pair is None:
            raise NcnnReplayError(
                f"ncnn .bin entry {i} holds {v[i]!r}: neither a copied weight, a b_i + b_h sum "
                "nor a weight-independent constant (pnnx computes with the weights)"
            )
        first[i], second[i] = pair
    const = np.where(first < 0, values, 0).astype(np.float32)
    return first, second, const


def _replay(decoded: tuple[np.ndarray, np.ndarray, np.ndarray], params: GRUParams) -> np.ndarray:
    """The float32 ``.bin`` entries pnnx writes for ``params`` (copies and float32 sums)."""
    first, second, const = decoded
    w = params.flat().astype(np.float32)
    a = w[np.maximum(first, 0)]
    b = np.where(second >= 0, w[np.maximum(second, 0)], np.float32(0))
    return np.where(first >= 0, np.where(second >= 0, a + b, a), const).astype(np.float32)


class NcnnGRUTarget:
    """nn.GRU -> TorchScript -> pnnx -> ncnn (module docstring)."""

    variant: Variant = "reset_after"

    def __init__(self, *, dtype: str = "float32", device: str = "cpu") -> None:
        if dtype != "float32" or device != "cpu":
            raise TargetError(f"ncnn runs float32 on the cpu, not {dtype} on {device}")
        self.ncnn, _ = import_ncnn()
        self.dtype = dtype
        self.device = device
        self.name = "ncnn"
        self.capabilities = Capabilities(dict(NCNN_MISSING))
        self.conversions = 0
        self.compile_seconds = 60.0
        """A new configuration runs pnnx (seconds on 2 cores): the per-call limit is not below."""
        self._dir = tempfile.TemporaryDirectory(prefix="gruverify-ncnn-")
        self._graphs: dict[tuple[Any, ...], tuple[str, Any]] = {}
        self._nets: Recent[Any] = Recent(_MAX_NETS)

    def _convert(self, params: GRUParams, initial_state: bool) -> tuple[str, str]:
        name = f"gru{self.conversions}"
        self.conversions += 1
        return convert_with_pnnx(params, initial_state=initial_state, directory=self._dir.name,
                                 name=name)  # fmt: skip

    def _graph(self, problem: Problem) -> tuple[str, Any]:
        """The ``.param`` path of the problem's configuration and its decoded tagged ``.bin``
        (or the ``NcnnReplayError`` message when weights cannot be replayed)."""
        p = problem.params
        key = (p.input_size, p.hidden_size, p.num_layers, p.num_directions, p.bias,
               problem.h0 is not None)  # fmt: skip
        graph = self._graphs.get(key)
        if graph is None:
            n = p.flat().size
            tagged = p.unflat(_TAG_BASE + _TAG_STEP * np.arange(n, dtype=np.float64))
            param, binary = self._convert(tagged, problem.h0 is not None)
            try:
                decoded: Any = _decode(np.fromfile(binary, np.float32), p)
            except NcnnReplayError as e:
                decoded = str(e)
            graph = (param, decoded)
            self._graphs[key] = graph
        return graph

    def _net(self, problem: Problem) -> Any:
        p = problem.params
        key = (p.input_size, p.hidden_size, p.num_layers, p.num_directions, p.bias,
               problem.h0 is not None, p.digest())  # fmt: skip
        return self._nets.get(key, lambda: self._load(problem))

    def _load(self, problem: Problem) -> Any:
        param, decoded = self._graph(problem)
        if isinstance(decoded, str):  # not replayable: a real conversion with these weights
            param, binary = self._convert(problem.params, problem.h0 is not None)
        else:
            binary = os.path.join(self._dir.name, "replayed.ncnn.bin")
            _replay(decoded, problem.params).tofile(binary)
        net = self.ncnn.Net()
        opt = net.opt
        opt.use_fp16_storage = opt.use_fp16_packed = opt.use_fp16_arithmetic = False
        opt.use_bf16_storage = opt.use_bf16_packed = False
        opt.num_threads = 1
        net.load_param(param)
        net.load_model(binary)
        return net

    # -- Implementation -----------------------------------------------------------------------

    def _one(self, net: Any, x: np.ndarray, h0: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """One sequence ``x`` ``(T, I)``, state ``h0`` ``(L * D, H)`` -> ``(T, D * H)``, ``(L * D, H)``."""
        ncnn = self.ncnn
        names = list(net.input_names())
        # ncnn.Mat(array) wraps the array's memory without holding a reference to it: the arrays
        # are kept in variables until the Mats are cloned (a temporary is freed at once)
        x32 = np.ascontiguousarray(x, np.float32)
        h32 = None if h0 is None else np.ascontiguousarray(h0, np.float32)
        with net.create_extractor() as ex:
            ex.input(names[0], ncnn.Mat(x32).clone())
            if h32 is not None:
                ex.input(names[1], ncnn.Mat(h32).clone())
            outs = list(net.output_names())
            rc0, out = ex.extract(outs[0])
            rc1, h_n = ex.extract(outs[1])
            if rc0 != 0 or rc1 != 0:
                raise RuntimeError(f"{self.name}: ncnn extract failed (return codes {rc0}, {rc1})")
            # copied while the extractor lives: its blobs' memory is reused once it is closed
            return np.array(out, np.float64), np.array(h_n, np.float64)

    def forward(self, problem: Problem) -> Outputs:
        if problem.lengths is not None:
            raise ValueError(f"{self.name}: {NCNN_MISSING['lengths']}")
        p = problem.params
        net = self._net(problem)
        shape = (p.num_layers * p.num_directions, p.hidden_size)
        x = np.asarray(problem.x)
        if not problem.batched:
            h0 = None if problem.h0 is None else np.asarray(problem.h0)
            if h0 is not None and h0.shape != shape:
                raise ValueError(f"{self.name}: h0 has shape {h0.shape}, expected {shape}")
            out, h_n = self._one(net, x, h0)
            return Outputs(out, h_n.reshape(shape))
        xb = x if problem.batch_first else np.swapaxes(x, 0, 1)  # (B, T, I)
        B = xb.shape[0]
        if problem.h0 is not None and np.shape(problem.h0) != (shape[0], B, shape[1]):
            raise ValueError(
                f"{self.name}: h0 has shape {np.shape(problem.h0)}, expected {(shape[0], B, shape[1])}"
            )
        outs, finals = [], []
        for b in range(B):
            h0 = None if problem.h0 is None else np.asarray(problem.h0)[:, b]
            out, h_n = self._one(net, xb[b], h0)
            outs.append(out)
            finals.append(h_n.reshape(shape))
        output = np.stack(outs)  # (B, T, D * H)
        output = output if problem.batch_first else np.swapaxes(output, 0, 1)
        return Outputs(output, np.stack(finals, axis=1))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        raise NotImplementedError(f"{self.name}: {GRADIENTS_REASON}")
