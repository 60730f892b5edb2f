"""The GRUs of a TorchScript file (``.pt``, ``torch.jit.save``): each ``nn.GRU`` submodule, run alone.

``read_torchscript_grus(path)`` loads the file (``torch.jit.load``, on the CPU) and lists its
``nn.GRU`` submodules (``original_name == "GRU"``) in ``named_modules`` order, each read from its
state dict through ``gruverify.layouts.torch_layout.gru_from_torch`` (names only: the canonical
layout is torch's) with its ``num_layers``, ``bidirectional`` and ``batch_first``; an ``nn.GRU``
computes the reset-after variant. One submodule may hold several layers: it is one GRU of the file.

``ScriptedGRURunner`` runs one *alone*: the submodule's own compiled code (the Tensor overload of
its ``forward``, ``forward__0`` in a scripted file, ``forward`` in a traced one) with the file's
weights, on padded input. A scripted ``nn.GRU`` holds the ``PackedSequence`` overload only when
the model called it with one, and a traced one was specialised to the example's shapes and
arguments, so ``lengths`` are not run (declared missing): that is the whole model's business
(docs/model-files.md).
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

__all__ = ["ScriptedGRU", "ScriptedGRURunner", "read_torchscript_grus"]

LENGTHS_REASON = (
    "the file's GRU is run on padded input only: a scripted nn.GRU holds a PackedSequence "
    "overload only when its model packed, a traced one is specialised to its example"
)


@dataclasses.dataclass(frozen=True)
class ScriptedGRU:
    """One ``nn.GRU`` submodule of a TorchScript file: its path, parameters and layout."""

    name: str
    index: int
    params: GRUParams
    batch_first: bool
    module: Any  # torch.jit.RecursiveScriptModule
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


def read_torchscript_grus(path: str) -> list[ScriptedGRU]:
    """Every ``nn.GRU`` submodule of the TorchScript file at ``path``; ``TargetError`` (one line)
    for a missing or unreadable file and a file without one."""
    import torch

    from gruverify.layouts.torch_layout import gru_from_torch

    if not os.path.isfile(path):
        raise TargetError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13: use torch.export
            model = torch.jit.load(path, map_location="cpu")
    except Exception as e:
        detail = f"{type(e).__name__}: {e}".splitlines()[0]
        raise TargetError(f"{path}: not a readable TorchScript file ({detail})") from None
    found: list[ScriptedGRU] = []
    for name, sub in model.named_modules():
        if getattr(sub, "original_name", None) == "GRU":
            state = {k: v.detach() for k, v in sub.state_dict().items()}
            if any(v.dtype != torch.float32 for v in state.values()):
                raise TargetError(f"{path}: GRU {name!r}: its weights are not float32")
            params = gru_from_torch(state)
            found.append(ScriptedGRU(name or "gru", len(found), params, bool(sub.batch_first), sub))
    if not found:
        raise TargetError(f"{path}: no torch.nn.GRU submodule in the TorchScript file")
    return found


class ScriptedGRURunner:
    """A TorchScript file's ``nn.GRU`` submodule called alone (module docstring)."""

    def __init__(self, gru: ScriptedGRU) -> None:
        self.gru = gru
        module = gru.module
        names = module._c._method_names() if hasattr(module, "_c") else []
        self._call = getattr(module, "forward__0" if "forward__0" in names else "forward")
        self.missing = {
            "lengths": LENGTHS_REASON,
            "gradients": "not run: the checks judge the file's forward pass",
            "unbatched": "the file's GRU is run on batched input",
            "batch_first": f"the file's GRU runs with batch_first={gru.batch_first}",
            "dropout": "the file's GRU is run as saved (eval mode)",
        }

    def forward(self, problem: Problem) -> Outputs:
        import torch

        if problem.batch_first or not problem.batched:
            raise ValueError(f"GRU {self.gru.name!r} is run time-major and batched")
        x = torch.tensor(np.asarray(problem.x), dtype=torch.float32)
        if self.gru.batch_first:
            x = x.transpose(0, 1)
        h0 = None if problem.h0 is None else torch.tensor(problem.h0, dtype=torch.float32)
        with torch.no_grad():
            output, h_n = self._call(x, h0)
        if self.gru.batch_first:
            output = output.transpose(0, 1)
        return Outputs(output.double().numpy(), h_n.double().numpy())

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        raise NotImplementedError(f"GRU {self.gru.name!r}: {self.missing['gradients']}")
