"""The GRUs of an OpenVINO IR (``.xml`` with its ``.bin``): each ``GRUSequence`` op, rebuilt alone.

``read_openvino_grus(path)`` reads the model (``openvino.Core().read_model``) and lists its
``GRUSequence`` ops in topological order. Each op's ``W``, ``R`` and ``B`` are constants, possibly
behind a ``Convert`` (``openvino.save_model`` compresses weights to float16 by default: the values
are then the float16 ones, as the runtime decompresses them); they are read through
``gruverify.layouts.openvino_layout.gru_from_openvino`` (exact: slicing; ``B`` holds the sums
OpenVINO specifies, read as ``b_i* = sum``, ``b_h* = 0`` where the variant adds them). Refused with
one line: activations other than ``sigmoid, tanh``, ``clip``, a reverse-only direction, weights
computed in the graph.

``OpenVinoLayerRunner`` runs one *alone*: a one-``GRUSequence`` model built with the file's
weights (``gruverify.targets.openvino_target.OpenVinoGRUTarget``: dynamic batch and time, as the
converter writes them), compiled for the CPU plugin with its default inference precision
(``runtime="openvino"``, what a user of the file gets) or with ``INFERENCE_PRECISION_HINT = f32``
(``"openvino-f32"``).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from gruverify.core.params import GRUCellParams, Variant
from gruverify.core.problem import Gradients, Outputs, Problem
from gruverify.layouts.errors import LayoutError
from gruverify.layouts.openvino_layout import gru_from_openvino, openvino_canonical_form
from gruverify.targets.errors import TargetError
from gruverify.targets.file_gru import OneLayerGRU

__all__ = ["OpenVinoGRU", "OpenVinoLayerRunner", "read_openvino_grus"]


@dataclasses.dataclass(frozen=True)
class OpenVinoGRU(OneLayerGRU):
    """One ``GRUSequence`` op of an IR: its friendly name, canonical cells and variant."""

    name: str
    index: int
    cells: tuple[GRUCellParams[np.ndarray], ...]
    variant: Variant
    bias: bool = True

    def layout_form(self, cell: GRUCellParams[np.ndarray]) -> GRUCellParams[np.ndarray]:
        """``cell`` as a GRUSequence holds it (the biases OpenVINO specifies as sums)."""
        return openvino_canonical_form(cell, self.variant == "reset_after")


def _constant(op: Any, slot: int, what: str, name: str) -> np.ndarray:
    """The values feeding input ``slot`` of ``op``: a constant, through ``Convert`` ops."""
    node = op.input(slot).get_source_output().get_node()
    while node.get_type_name() == "Convert":
        node = node.input(0).get_source_output().get_node()
    if node.get_type_name() != "Constant":
        raise TargetError(
            f"GRU {name!r}: its {what} is computed in the graph ({node.get_type_name()}), not "
            "stored: it cannot be checked alone"
        )
    return np.asarray(node.get_data(), dtype=np.float64)


def _refusal(attrs: dict[str, Any]) -> str | None:
    acts = [str(a).lower() for a in attrs.get("activations", [])]
    if acts and acts != ["sigmoid", "tanh"]:
        return f"activations {acts} (gruverify's reference computes sigmoid and tanh)"
    if float(attrs.get("clip", 0.0) or 0.0) != 0.0:
        return f"clip={attrs['clip']} (gruverify's reference does not clip pre-activations)"
    if attrs.get("direction") == "reverse":
        return "direction='reverse' (a reverse-only GRU is not a torch.nn.GRU configuration)"
    return None


def _read_op(op: Any, index: int) -> OpenVinoGRU:
    name = op.get_friendly_name()
    attrs = op.get_attributes()
    why = _refusal(attrs)
    if why is not None:
        raise TargetError(f"GRU {name!r}: unsupported {why}")
    lbr = bool(attrs.get("linear_before_reset", False))
    W, R, B = (_constant(op, k, w, name) for k, w in ((3, "W"), (4, "R"), (5, "B")))
    try:
        cells = gru_from_openvino(W, R, B, lbr)
    except LayoutError as e:
        raise TargetError(f"GRU {name!r}: {e}") from None
    return OpenVinoGRU(name, index, cells, "reset_after" if lbr else "reset_before")


def read_openvino_grus(path: str) -> list[OpenVinoGRU]:
    """Every ``GRUSequence`` op of the IR at ``path``; ``TargetError`` (one line) for a missing
    or unreadable file, an IR without one and a GRU gruverify cannot check."""
    if not os.path.isfile(path):
        raise TargetError(f"{path}: no such file")
    try:
        import openvino
    except ImportError:
        raise TargetError(f"{path}: reading an OpenVINO IR needs openvino") from None
    try:
        model = openvino.Core().read_model(path)
    except Exception as e:
        detail = f"{type(e).__name__}: {e}".splitlines()[0]
        raise TargetError(f"{path}: not a readable OpenVINO IR ({detail})") from None
    ops = [op for op in model.get_ordered_ops() if op.get_type_name() == "GRUSequence"]
    if not ops:
        raise TargetError(f"{path}: no GRUSequence op in the IR")
    return [_read_op(op, i) for i, op in enumerate(ops)]


class OpenVinoLayerRunner:
    """One ``GRUSequence`` of an IR rebuilt alone with the file's weights (module docstring)."""

    def __init__(self, gru: OpenVinoGRU, runtime: str = "openvino") -> None:
        from gruverify.targets.openvino_target import OpenVinoGRUTarget

        if runtime not in ("openvino", "openvino-f32"):
            raise TargetError(f"--runtime {runtime}: an OpenVINO IR runs on openvino[-f32]")
        self.gru = gru
        precision = "f32" if runtime == "openvino-f32" else None
        self.inner = OpenVinoGRUTarget(gru.variant, precision=precision)
        self.missing = dict(self.inner.capabilities.missing)

    def forward(self, problem: Problem) -> Outputs:
        return self.inner.forward(dataclasses.replace(problem, params=self.gru.params))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        raise NotImplementedError(f"GRU {self.gru.name!r}: {self.missing['gradients']}")
