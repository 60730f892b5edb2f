"""The GRUs of a ``torch.export`` program (``.pt2``, ``torch.export.save``): each ``aten.gru`` op.

``torch.export.export`` traces a model into one graph of ATen ops: an ``nn.GRU`` leaves no
submodule behind (its module call is inlined), but one ``aten.gru.input`` node holding the
GRU's attributes as literals (``has_biases``, ``num_layers``, ``dropout``, ``train``,
``bidirectional``, ``batch_first``) and its weights as a list of parameter placeholders (per
layer and direction: ``w_ih``, ``w_hh`` and, with biases, ``b_ih``, ``b_hh``).
``read_exported_grus(path)`` loads the program (``torch.export.load``) and lists these nodes in
graph order, each read through the program's graph signature (placeholder -> state-dict name ->
tensor of ``ep.state_dict``) and ``gruverify.layouts.torch_layout.gru_from_torch`` (names only:
the op's layout is ``nn.GRU``'s); an ``aten.gru`` computes the reset-after variant. The GRU is
named by the module path its node records (``nn_module_stack``, e.g. ``gru``), else by the node.

``ExportedGRURunner`` runs one *alone*: the node's own op (``node.target``) called with the
program's weights and the node's literal attributes, on drawn input and initial state. The op
is shape-generic: the shapes torch.export fixed (a time axis and batch exported without a
``Dim`` are the example's) are guards of the *whole program*, not of its GRU op, so the op is run
at every length and batch the checker draws (docs/model-files.md, "alone" for ``.pt2``).
A program whose GRU was decomposed (``ep.run_decompositions()``, what ExecuTorch lowers) holds
no ``aten.gru`` node but an unrolled loop of the example's length: ``TargetError``, one line.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any

import numpy as np

from gruverify.core.params import GRUCellParams, GRUParams, Variant
from gruverify.core.problem import Gradients, Outputs, Problem
from gruverify.targets.errors import TargetError

__all__ = ["ExportedGRU", "ExportedGRURunner", "read_exported_grus"]

GRU_OP = "aten::gru.input"
LENGTHS_REASON = (
    "the program's GRU op is run on padded input only (aten.gru.input; a packed sequence is "
    "aten.gru.data, which torch.export does not trace from pack_padded_sequence)"
)


@dataclasses.dataclass(frozen=True)
class ExportedGRU:
    """One ``aten.gru.input`` node of a ``torch.export`` program: its name, weights, attributes."""

    name: str
    index: int
    params: GRUParams
    batch_first: bool
    op: Any  # torch._ops.OpOverload: the node's target
    literals: tuple[Any, ...]  # has_biases, num_layers, dropout, train, bidirectional, batch_first
    weights: tuple[Any, ...]  # the program's tensors, in the op's order
    example: tuple[int | None, ...] | None = None
    """The op's output shape in the program: its time and batch are the example's, None where
    the program has a ``Dim`` (torch 2.13 specialises an ``nn.GRU``'s time axis: never None)."""
    variant: Variant = "reset_after"

    @property
    def rows(self) -> tuple[tuple[GRUCellParams[np.ndarray], ...], ...]:
        return self.params.cells

    @property
    def cells(self) -> tuple[GRUCellParams[np.ndarray], ...]:
        return self.params.cells[0]

    @property
    def bias(self) -> bool:
        return self.params.bias

    @property
    def input_size(self) -> int:
        return self.params.input_size

    @property
    def hidden_size(self) -> int:
        return self.params.hidden_size

    @property
    def directions(self) -> int:
        return self.params.num_directions

    def shape(self) -> str:
        return (
            f"input {self.input_size}, hidden {self.hidden_size}, {self.directions} direction(s)"
            + (f", {self.params.num_layers} layers" if self.params.num_layers > 1 else "")
        )


def _load(path: str) -> Any:
    import torch

    if not os.path.isfile(path):
        raise TargetError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.export.load(path)
    except Exception as e:
        detail = f"{type(e).__name__}: {e}".splitlines()[0]
        raise TargetError(f"{path}: not a readable torch.export program ({detail})") from None


def _name(node: Any) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    paths = [path for path, _ in stack.values() if path]
    return str(paths[-1]) if paths else str(node.name)


def _tensor(path: str, ep: Any, node: Any, name: str) -> Any:
    """The program's tensor behind the placeholder ``node`` (a parameter, buffer or constant)."""
    sig = ep.graph_signature
    if getattr(node, "op", None) != "placeholder":
        raise TargetError(
            f"{path}: GRU {name!r}: its weight {getattr(node, 'name', node)!r} is computed in the "
            "program, not stored in it"
        )
    for table, store in (
        (sig.inputs_to_parameters, ep.state_dict),
        (sig.inputs_to_buffers, ep.state_dict),
        (sig.inputs_to_lifted_tensor_constants, ep.constants),
    ):
        if node.name in table:
            return store[table[node.name]].detach()
    raise TargetError(f"{path}: GRU {name!r}: its weight {node.name!r} is an input of the program")


def _size(size: Any) -> int | None:
    """A dimension of the program's example: its int, None when symbolic (a ``Dim``)."""
    return size if isinstance(size, int) else None  # a torch.SymInt is no int


def _state_dict(weights: list[Any], layers: int, directions: int, bias: bool) -> dict[str, Any]:
    """The op's flat weight list under ``nn.GRU``'s state-dict names."""
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else [])
    keys = [
        f"{n}_l{layer}{'_reverse' if d else ''}"
        for layer in range(layers)
        for d in range(directions)
        for n in names
    ]
    return {k: w.numpy() for k, w in zip(keys, weights, strict=True)}


def read_exported_grus(path: str) -> list[ExportedGRU]:
    """Every ``aten.gru.input`` node of the ``torch.export`` program at ``path``; ``TargetError``
    (one line) for a missing or unreadable file and a program without one."""
    import torch

    from gruverify.layouts.torch_layout import gru_from_torch

    ep = _load(path)
    found: list[ExportedGRU] = []
    decomposed = False
    for node in ep.graph.nodes:
        if node.op != "call_function":
            continue
        target_name = node.target.name() if hasattr(node.target, "name") else str(node.target)
        if target_name != GRU_OP:
            stack = node.meta.get("nn_module_stack") or {}
            decomposed |= any(kind.endswith(".GRU") for _, kind in stack.values())
            continue
        name = _name(node)
        _x, _hx, params, *literals = node.args
        has_biases, layers, dropout, train, bidirectional, batch_first = literals
        if train and dropout:
            raise TargetError(
                f"{path}: GRU {name!r} was exported in training mode with dropout {dropout}: "
                "export the model in eval mode"
            )
        weights = [_tensor(path, ep, p, name) for p in params]
        if any(w.dtype != torch.float32 for w in weights):
            raise TargetError(f"{path}: GRU {name!r}: its weights are not float32")
        state = _state_dict(weights, layers, 2 if bidirectional else 1, has_biases)
        val = node.meta.get("val")
        example = None if val is None else tuple(_size(s) for s in val[0].shape)
        found.append(
            ExportedGRU(
                name=name,
                index=len(found),
                params=gru_from_torch(state),
                batch_first=bool(batch_first),
                op=node.target,
                literals=tuple(literals),
                weights=tuple(weights),
                example=example,
            )
        )
    if not found:
        why = (
            "its GRU was decomposed into an unrolled loop (ep.run_decompositions()); check the "
            "program torch.export.export returns, before decompositions"
            if decomposed
            else "no aten.gru op"
        )
        raise TargetError(f"{path}: no GRU to check in the torch.export program: {why}")
    return found


class ExportedGRURunner:
    """A ``torch.export`` program's ``aten.gru`` op called alone (module docstring)."""

    def __init__(self, gru: ExportedGRU) -> None:
        self.gru = gru
        self.missing = {
            "lengths": LENGTHS_REASON,
            "gradients": "not run: the checks judge the program's forward pass",
            "unbatched": "the program's GRU op is run on batched input",
            "batch_first": f"the program's GRU op runs with batch_first={gru.batch_first}",
            "dropout": "the program's GRU op is run as exported (eval mode)",
        }

    def forward(self, problem: Problem) -> Outputs:
        import torch

        if problem.batch_first or not problem.batched:
            raise ValueError(f"GRU {self.gru.name!r} is run time-major and batched")
        x = torch.tensor(np.asarray(problem.x), dtype=torch.float32)
        p = self.gru.params
        shape = (p.num_layers * p.num_directions, x.shape[1], p.hidden_size)
        if self.gru.batch_first:
            x = x.transpose(0, 1)
        h0 = (
            torch.zeros(shape, dtype=torch.float32)
            if problem.h0 is None
            else torch.tensor(problem.h0, dtype=torch.float32)
        )
        with torch.no_grad():
            output, h_n = self.gru.op(x, h0, list(self.gru.weights), *self.gru.literals)
        if self.gru.batch_first:
            output = output.transpose(0, 1)
        return Outputs(output.double().numpy(), h_n.double().numpy())

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        raise NotImplementedError(f"GRU {self.gru.name!r}: {self.missing['gradients']}")
