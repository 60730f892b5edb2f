"""``torch.nn.GRU`` exported with ``torch.onnx.export`` and run by onnxruntime (float32, CPU).

Two targets, one per exporter: ``exporter="torchscript"`` (``dynamo=False``) and
``exporter="dynamo"`` (``dynamo=True``, torch.export + onnxscript). The law checked is the one a
user relies on: the exported graph computes what the module computes, i.e. the reset-after GRU
(``linear_before_reset = 1``; pytorch/pytorch#189225 is an export with 0).

Exports are slow (TorchScript ~0.1 s, dynamo 3 to 13 s on 2 cores), while the checker draws new
weights for every example. So each configuration (sizes, layers, directions, bias, layout, batched,
initial state given, lengths given) is exported once, with dynamic time and batch axes (dynamo:
once per sequence length, see below), and the weights are replayed into it:

* **Tagged export.** The module is exported holding *tags*: parameter entry k of the canonical
  flat vector (``StackParams.flat``) holds ``2**21 + 4 k``, exact in float32. Both exporters
  constant-fold their weight transform (gate reordering z, r, n; concatenation of the biases) into
  initialisers, so every float initialiser entry is then either a tag (a copy of weight k) or a
  weight-independent constant (``|v| < 2**20``).
* **Replay.** For a problem's weights, each tagged initialiser entry is set to canonical entry k
  (rounded to float32), constants are kept, and a new ``InferenceSession`` is built (milliseconds).
  This is exactly the model the exporter would have written for those weights, as long as its
  transform copies entries; an initialiser entry that is neither a tag nor a small constant (a sum,
  a scaling: any arithmetic on weights) raises ``ExportReplayError`` and the target falls back to
  a real export per weight set. Tested: replayed initialisers equal a real export's, bit for bit.

The graph's own ops (the GRU node's attributes, the slicing between layers, the packing of
``lengths`` into ``sequence_lens``) are the exporter's and run on every call; only the export step
itself is shared between weight sets.

Features (declared missing with the measured reason, torch 2.13 / onnxruntime 1.32; the same with
torch 2.11 / onnxruntime 1.30):

* ``gradients``: an onnxruntime inference session is forward only.
* dynamo, ``lengths``: torch.export cannot trace ``pack_padded_sequence``
  (``GuardOnDataDependentSymNode``: a PackedSequence's batch sizes are data-dependent).
* dynamo, dynamic time axis: the exported graph of ``nn.GRU`` keeps the example's sequence length
  T0 (torch.export specialises it: "You marked T as dynamic but your code specialized it to be a
  constant"). Depending on the configuration the graph either declares T0 for its input (any
  other length is rejected) or declares a symbolic length while a Reshape after the GRU node holds
  ``[T0, -1, D * H]``: at another length T with ``T * B`` divisible by T0 it silently returns an
  output of shape ``(T0, T * B / T0, D * H)``: the right buffer under the wrong shape.
  So the dynamo target exports per sequence length (``dynamic_time=False``, its default); with
  ``dynamic_time=True`` it exports as documented and the checker reports the defect.
* TorchScript ``lengths`` works: ``pack_padded_sequence`` inside the exported module becomes the
  GRU node's ``sequence_lens``.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import sys
import time
import warnings
from typing import Any, Literal

import numpy as np

from gruverify.core.params import GRUParams, Variant
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem
from gruverify.layouts.torch_layout import gru_to_torch
from gruverify.targets.recent import Recent

__all__ = ["EXPORTERS", "ExportReplayError", "OnnxExportTarget", "Exporter"]

Exporter = Literal["torchscript", "dynamo"]
EXPORTERS: tuple[Exporter, ...] = ("torchscript", "dynamo")

_TAG_BASE = 2.0**21
_TAG_STEP = 4.0
_CONST_LIMIT = 2.0**20
_MAX_SESSIONS = 8  # most recently used onnxruntime sessions kept (one per graph and weight set)
_EXAMPLE_T, _EXAMPLE_B = 3, 2  # export example sizes (>= 2: torch.export specialises 0 and 1)

GRADIENTS_REASON = "onnxruntime inference session: forward only"
DYNAMO_LENGTHS_REASON = (
    "torch.onnx.export(dynamo=True) cannot export pack_padded_sequence: torch.export raises "
    "GuardOnDataDependentSymNode (a PackedSequence's batch sizes are data-dependent); the exported "
    "graph takes padded input only"
)


class ExportReplayError(RuntimeError):
    """An exported initialiser is not a copy of weight entries (replaying weights would be wrong)."""


@dataclasses.dataclass
class _Graph:
    """One exported configuration: the tagged model and, per float initialiser, its tag indices."""

    model: Any  # onnx.ModelProto
    replay: dict[str, tuple[tuple[int, ...], np.ndarray, np.ndarray]]  # name -> shape, idx, const
    seconds: float
    replay_error: str | None = None  # set: weights cannot be replayed, export per weight set


def _tags(params: GRUParams) -> GRUParams:
    n = params.flat().size
    if _TAG_BASE + _TAG_STEP * n >= 2.0**24:
        raise ExportReplayError(f"{n} parameters are too many to tag exactly in float32")
    return params.unflat(_TAG_BASE + _TAG_STEP * np.arange(n, dtype=np.float64))


def _replay_map(
    model: Any, n_params: int
) -> dict[str, tuple[tuple[int, ...], np.ndarray, np.ndarray]]:
    """Per tagged float initialiser: its shape, the canonical index of each entry (-1: constant)
    and the constant values. Raises ``ExportReplayError`` for any other entry."""
    from onnx import TensorProto, numpy_helper

    out = {}
    for init in model.graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        a = numpy_helper.to_array(init).astype(np.float64)
        flat = a.ravel()
        k = (flat - _TAG_BASE) / _TAG_STEP
        is_tag = (k >= 0) & (k < n_params) & (k == np.round(k))
        bad = ~is_tag & ~(np.abs(flat) < _CONST_LIMIT)
        if np.any(bad):
            v = float(flat[np.argmax(bad)])
            raise ExportReplayError(
                f"initialiser {init.name!r} {a.shape} holds {v!r}, neither a copied weight (tag) nor "
                "a weight-independent constant: the exporter computes with the weights"
            )
        if np.any(is_tag):
            idx = np.where(is_tag, np.round(k), -1).astype(np.int64)
            out[init.name] = (a.shape, idx, np.where(is_tag, 0.0, flat))
    return out


class OnnxExportTarget:
    """``torch.nn.GRU`` -> ``torch.onnx.export`` -> onnxruntime (see the module docstring).

    ``export_seconds`` lists the wall time of every export this instance made.
    """

    variant: Variant = "reset_after"
    dtype = "float32"

    def __init__(
        self,
        exporter: Exporter,
        *,
        device: str = "cpu",
        dropout: float = 0.0,
        dynamic_time: bool | None = None,
    ) -> None:
        if exporter not in EXPORTERS:
            raise ValueError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
        if device != "cpu":
            raise ValueError(f"the ONNX export targets run onnxruntime on the cpu, not {device!r}")
        self.exporter: Exporter = exporter
        self.device = device
        self.dropout = dropout
        self.dynamic_time = exporter == "torchscript" if dynamic_time is None else dynamic_time
        tags = ([f"dropout={dropout}"] if dropout else []) + (
            ["dynamic-time"] if self.dynamic_time and exporter == "dynamo" else []
        )
        self.name = f"onnx-{exporter}" + (f"[{', '.join(tags)}]" if tags else "")
        missing = {"gradients": GRADIENTS_REASON}
        if exporter == "dynamo":
            missing["lengths"] = DYNAMO_LENGTHS_REASON
        self.capabilities = Capabilities(missing)
        self.export_seconds: list[float] = []
        self.compile_seconds = 60.0 if exporter == "dynamo" else 0.0
        """dynamo exports per sequence length (3 to 13 s on 2 cores, more when they are busy):
        the checker's per-call limit does not go below this."""
        self._graphs: dict[tuple[Any, ...], _Graph] = {}
        self._sessions: Recent[Any] = Recent(_MAX_SESSIONS)  # each session holds a thread pool

    def with_dropout(self, dropout: float) -> OnnxExportTarget:
        """The same target exporting modules built with ``dropout`` (in eval mode)."""
        return OnnxExportTarget(
            self.exporter, device=self.device, dropout=dropout, dynamic_time=self.dynamic_time
        )

    # -- export -------------------------------------------------------------------------------

    def _key(self, problem: Problem, digest: str | None) -> tuple[Any, ...]:
        p = problem.params
        return (
            p.input_size, p.hidden_size, p.num_layers, p.bidirectional, p.bias,
            problem.batched, problem.batched and problem.batch_first, problem.h0 is not None,
            problem.lengths is not None, None if self.dynamic_time else problem.steps, digest,
        )  # fmt: skip

    def _export(self, problem: Problem, params: GRUParams) -> Any:
        import onnx
        import torch

        p = problem.params
        D = 2 if p.bidirectional else 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dropout with one layer
            gru = torch.nn.GRU(
                p.input_size, p.hidden_size, p.num_layers, bias=p.bias,
                batch_first=problem.batch_first, dropout=self.dropout,
                bidirectional=p.bidirectional,
            )  # fmt: skip
        gru.load_state_dict(gru_to_torch(params, as_torch=True, dtype=torch.float32), strict=True)
        gru.eval()
        T, B = (_EXAMPLE_T if self.dynamic_time else problem.steps), _EXAMPLE_B
        if problem.batched:
            x = torch.zeros((B, T, p.input_size) if problem.batch_first else (T, B, p.input_size))
            h0 = torch.zeros(p.num_layers * D, B, p.hidden_size)
            x_axes = {0: "B", 1: "T"} if problem.batch_first else {0: "T", 1: "B"}
            h_axes: dict[int, str] = {1: "B"}
        else:
            x = torch.zeros(T, p.input_size)
            h0 = torch.zeros(p.num_layers * D, p.hidden_size)
            x_axes, h_axes = {0: "T"}, {}
        if not self.dynamic_time:
            x_axes = {i: a for i, a in x_axes.items() if a != "T"}
        module: Any = gru
        args: list[Any] = [x]
        names = ["x"]
        axes: dict[str, dict[int, str]] = {"x": x_axes}
        if problem.lengths is not None:
            module = _packed_module(gru, problem.batch_first)
            args.append(torch.tensor([T, max(T - 1, 1)], dtype=torch.int64))
            names.append("lengths")
            axes["lengths"] = {0: "B"}
        if problem.h0 is not None:
            args.append(h0)
            names.append("h0")
            axes["h0"] = h_axes
        start = time.perf_counter()
        with warnings.catch_warnings(), _quiet_logging():
            warnings.simplefilter("ignore")
            if self.exporter == "torchscript":
                f = io.BytesIO()
                torch.onnx.export(
                    module, tuple(args), f,  # type: ignore[arg-type]
                    dynamo=False, input_names=names,
                    output_names=["output", "h_n"], dynamic_axes=axes,
                )  # fmt: skip
                model = onnx.load_from_string(f.getvalue())
            else:
                dims = {n: torch.export.Dim(n, min=1, max=4096) for n in ("T", "B")}
                shapes = tuple({i: dims[a] for i, a in axes[n].items()} or None for n in names)
                program = torch.onnx.export(
                    module, tuple(args), dynamo=True, input_names=names,
                    output_names=["output", "h_n"], dynamic_shapes=shapes, verbose=False,
                )  # fmt: skip
                if program is None:
                    raise RuntimeError("torch.onnx.export(dynamo=True) returned no ONNXProgram")
                model = program.model_proto
        seconds = time.perf_counter() - start
        self.export_seconds.append(seconds)
        return model, seconds

    def _graph(self, problem: Problem) -> _Graph:
        """The exported graph for the problem's configuration (weights replayed into it), or, when
        the exporter's weight transform is not a copy, a graph exported with the problem's own
        weights."""
        key = self._key(problem, None)
        graph = self._graphs.get(key)
        if graph is None:
            tagged = _tags(problem.params)
            model, seconds = self._export(problem, tagged)
            try:
                graph = _Graph(model, _replay_map(model, tagged.flat().size), seconds)
            except ExportReplayError as e:
                graph = _Graph(model, {}, seconds, replay_error=str(e))
            self._graphs[key] = graph
        if graph.replay_error is None:
            return graph
        exact_key = self._key(problem, problem.params.digest())
        exact = self._graphs.get(exact_key)
        if exact is None:
            model, seconds = self._export(problem, problem.params)
            exact = _Graph(model, {}, seconds, replay_error=graph.replay_error)
            self._graphs[exact_key] = exact
        return exact

    def _session(self, problem: Problem) -> Any:
        graph = self._graph(problem)
        key = (id(graph), problem.params.digest())
        return self._sessions.get(key, lambda: self._new_session(graph, problem))

    def model(self, problem: Problem) -> Any:
        """The ``onnx.ModelProto`` the exporter writes for ``problem``'s configuration and weights
        (exported once per configuration, weights replayed; the input of the converter targets)."""
        return self._with_weights(self._graph(problem), problem)

    def _new_session(self, graph: _Graph, problem: Problem) -> Any:
        """An onnxruntime session of ``graph`` with ``problem``'s weights."""
        import onnxruntime as ort

        model = self._with_weights(graph, problem)
        options = ort.SessionOptions()
        options.log_severity_level = 4  # errors reach the caller as exceptions; no log lines
        return ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )

    @staticmethod
    def _with_weights(graph: _Graph, problem: Problem) -> Any:
        """``graph``'s model with ``problem``'s weights (replayed into the graph's initializers
        where it was exported with other weights)."""
        import onnx
        from onnx import numpy_helper

        model = graph.model
        if graph.replay:
            model = onnx.ModelProto()
            model.CopyFrom(graph.model)
            flat = problem.params.flat()
            for init in model.graph.initializer:
                if init.name in graph.replay:
                    shape, idx, const = graph.replay[init.name]
                    values = np.where(idx >= 0, flat[np.maximum(idx, 0)], const).reshape(shape)
                    init.CopyFrom(numpy_helper.from_array(values.astype(np.float32), init.name))
        return model

    # -- Implementation -----------------------------------------------------------------------

    def forward(self, problem: Problem) -> Outputs:
        session = self._session(problem)
        feeds: dict[str, np.ndarray] = {"x": np.asarray(problem.x, np.float32)}
        if problem.lengths is not None:
            feeds["lengths"] = np.asarray(problem.lengths, np.int64)
        if problem.h0 is not None:
            feeds["h0"] = np.asarray(problem.h0, np.float32)
        wanted = {i.name for i in session.get_inputs()}
        feeds = {k: v for k, v in feeds.items() if k in wanted}
        output, h_n = session.run(["output", "h_n"], feeds)
        return Outputs(np.asarray(output, np.float64), np.asarray(h_n, np.float64))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        raise NotImplementedError(f"{self.name}: {GRADIENTS_REASON}")


def _packed_module(gru: Any, batch_first: bool) -> Any:
    """``pack_padded_sequence`` -> ``nn.GRU`` -> ``pad_packed_sequence``, as a user would export
    a GRU over padded batches with lengths."""
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    class Packed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = gru

        def forward(self, x: Any, lengths: Any, h0: Any = None) -> tuple[Any, Any]:
            packed = pack_padded_sequence(x, lengths, batch_first, enforce_sorted=False)
            out, h_n = self.gru(packed, h0)
            total = x.shape[1 if batch_first else 0]
            out, _ = pad_packed_sequence(out, batch_first, total_length=total)
            return out, h_n

    return Packed().eval()


class _quiet_logging:
    """Silence the exporters for a block: Python logging (torchvision-missing notes, progress
    lines) and file descriptor 2 (the TorchScript exporter's C++ shape-inference warnings about
    ``prim::PackPadded``). Errors still arrive as exceptions."""

    def __enter__(self) -> None:
        self._previous = logging.root.manager.disable
        logging.disable(logging.WARNING)
        sys.stderr.flush()
        self._saved_fd = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    def __exit__(self, *exc: object) -> None:
        sys.stderr.flush()
        os.dup2(self._saved_fd, 2)
        os.close(self._saved_fd)
        logging.disable(self._previous)
