"""A deployed model file as a target: one ``Implementation`` per GRU it holds, with its weights.

``gruverify check model.onnx`` names a file, not a class: ``is_model_file`` recognises the spec
(a path ending in ``.onnx``), ``file_grus(spec, declaration)`` lists the GRUs the run checks (every
GRU of the file, or the one ``Declaration.node`` names) with, when ``Declaration.source`` names the
model the file was made from, the source layer each is matched to and how they differ
(``gruverify.targets.model_source``), and ``file_target`` builds the target of one GRU
(``resolve_target`` calls it for a model file).

A ``ModelFileTarget`` runs its GRU alone on the file's runtime (onnxruntime: the node extracted
with the file's own weights, ``gruverify.targets.onnx_file``) and declares the weights the checks
must use, ``fixed_params``: the file's (read through the exact converters of
``gruverify.layouts.onnx_layout``) or, with a source, the source's. The checker then draws inputs,
initial states, lengths and batch sizes as usual but pins the sizes, directions and biases to those
weights (``gruverify.conformance.cases``) and skips the checks that change weights ("weights fixed
by the file"). Its ``variant`` is the file's (``linear_before_reset``) or the source's: with a
source, the reference computes what the source computes, so a file whose weights or attributes
differ from the source's fails its forward checks, and ``source_differences`` says how.
The target refuses a problem with other weights (``ValueError``): it computes with the file's.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

import numpy as np

from gruverify.core.params import GRUParams, StackParams, Variant
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem
from gruverify.targets.declaration import Declaration
from gruverify.targets.errors import TargetError
from gruverify.targets.model_source import (
    SourceGRU,
    differences,
    load_source,
    match_sources,
)
from gruverify.targets.onnx_file import OnnxGRU, OnnxNodeRunner, read_onnx_grus

__all__ = [
    "MODEL_SUFFIXES",
    "FileGRU",
    "ModelFileTarget",
    "file_grus",
    "file_target",
    "is_model_file",
    "read_grus",
]

MODEL_SUFFIXES = (".onnx", ".keras", ".h5", ".pt", ".pt2", ".xml")
"""The file names ``gruverify check FILE`` takes as model files."""

FIXED_BY = "weights fixed by"
FIXED = f"{FIXED_BY} the file"


def is_model_file(spec: Any) -> bool:
    """Whether the target spec names a model file (by its suffix, ``MODEL_SUFFIXES``)."""
    return isinstance(spec, str) and spec.lower().endswith(MODEL_SUFFIXES)


@dataclasses.dataclass(frozen=True)
class FileGRU:
    """One GRU of the file as the run checks it: the file's GRU and its source layer (if any)."""

    gru: Any  # OnnxGRU, KerasGRU, ScriptedGRU or ExportedGRU: name, rows, variant, bias, params, shape()
    source: tuple[SourceGRU, ...] | None = None
    """The source layer of each of the GRU's layers."""
    source_spec: str | None = None

    @property
    def name(self) -> str:
        return str(self.gru.name)

    def differences(self) -> list[str] | None:
        """How the file's GRU differs from its source (empty: exactly), None without a source."""
        return None if self.source is None else differences(self.gru, self.source)

    @property
    def fixed_params(self) -> GRUParams:
        """The weights the checks use: the source's when there is one, else the file's."""
        if self.source is None:
            own: GRUParams = self.gru.params
            return own
        rows = tuple(tuple(s.cells) for s in self.source)
        bias = self.gru.bias or any(np.any(v) for row in rows for c in row for v in _biases(c))
        return StackParams(rows, bias=bias)

    @property
    def variant(self) -> Variant:
        return self.gru.variant if self.source is None else self.source[0].variant

    def source_name(self) -> str:
        """The matched source layers' names (``a.layer0 + a.layer1``)."""
        return " + ".join(s.name for s in self.source or ())


def _biases(cell: Any) -> list[Any]:
    return [cell.b_ir, cell.b_iz, cell.b_in, cell.b_hr, cell.b_hz, cell.b_hn]


def read_grus(path: str) -> list[Any]:
    """Every GRU of the model file at ``path`` (``OnnxGRU``, ``KerasGRU``, ``OpenVinoGRU``,
    ``ScriptedGRU`` or ``ExportedGRU``), by its suffix."""
    if path.lower().endswith(".onnx"):
        return read_onnx_grus(path)  # type: ignore[return-value]
    if path.lower().endswith(".xml"):
        from gruverify.targets.openvino_file import read_openvino_grus

        return read_openvino_grus(path)  # type: ignore[return-value]
    if path.lower().endswith(".pt2"):
        from gruverify.targets.torch_export_file import read_exported_grus

        return read_exported_grus(path)  # type: ignore[return-value]
    if path.lower().endswith(".pt"):
        from gruverify.targets.torchscript_file import read_torchscript_grus

        return read_torchscript_grus(path)  # type: ignore[return-value]
    from gruverify.targets.keras_file import read_keras_grus

    return read_keras_grus(path)  # type: ignore[return-value]


def file_grus(spec: str, declaration: Declaration | None = None) -> list[FileGRU]:
    """The GRUs of the file ``spec`` a run checks (module docstring); ``TargetError`` (one line)
    for a file that cannot be used, an unknown ``node`` and a source that cannot be matched."""
    declaration = declaration or Declaration()
    grus = read_grus(spec)
    entries = [FileGRU(g) for g in grus]
    if declaration.source:
        sources = match_sources(
            grus, load_source(declaration.source, read_grus), declaration.source, declaration.match
        )
        entries = [FileGRU(g, s, declaration.source) for g, s in zip(grus, sources, strict=True)]
    if declaration.node is None:
        return entries
    chosen = [e for e in entries if e.name == declaration.node]
    if not chosen:
        names = [e.name for e in entries]
        close = difflib.get_close_matches(declaration.node, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise TargetError(
            f"--node {declaration.node!r}: no such GRU in {spec}; {hint}its GRUs: {', '.join(names)}"
        )
    return chosen


def file_target(
    spec: str, declaration: Declaration | None, device: str, dtype: str | None
) -> ModelFileTarget:
    """The target of the file's one GRU (or of the GRU ``declaration.node`` names)."""
    entries = file_grus(spec, declaration)
    if len(entries) > 1:
        raise TargetError(
            f"{spec} holds {len(entries)} GRUs ({', '.join(e.name for e in entries)}): name one "
            "with --node (gruverify check FILE checks each)"
        )
    if dtype not in (None, "float32"):
        raise TargetError(f"{spec}: the file's GRUs run in float32 (its weights), not {dtype}")
    return ModelFileTarget(spec, entries[0], device, (declaration or Declaration()).runtime)


def _runner(gru: Any, runtime: str | None) -> Any:
    """What runs the file's GRU alone: its node on the ONNX runtime, its Keras layer rebuilt, its
    scripted submodule, its exported program's ``aten.gru`` op; ``TargetError`` for a ``runtime`` the format does not run on."""
    if isinstance(gru, OnnxGRU):
        return OnnxNodeRunner(gru, runtime or "onnxruntime")
    from gruverify.targets.openvino_file import OpenVinoGRU, OpenVinoLayerRunner

    if isinstance(gru, OpenVinoGRU):
        return OpenVinoLayerRunner(gru, runtime or "openvino")
    if runtime is not None:
        raise TargetError(
            f"--runtime {runtime}: only an ONNX file's or an OpenVINO IR's GRUs run on another "
            "runtime"
        )
    from gruverify.targets.torchscript_file import ScriptedGRU, ScriptedGRURunner

    if isinstance(gru, ScriptedGRU):
        return ScriptedGRURunner(gru)
    from gruverify.targets.torch_export_file import ExportedGRU, ExportedGRURunner

    if isinstance(gru, ExportedGRU):
        return ExportedGRURunner(gru)
    from gruverify.targets.keras_file import KerasLayerRunner

    return KerasLayerRunner(gru)


class ModelFileTarget:
    """One GRU of a model file run alone on the file's runtime, its weights fixed (module doc)."""

    dtype = "float32"

    def __init__(
        self, path: str, entry: FileGRU, device: str = "cpu", runtime: str | None = None
    ) -> None:
        if device != "cpu":
            raise TargetError(f"{path}: the file's GRUs run on the cpu here, not {device}")
        gru = entry.gru
        self.name = f"{path}::{gru.name}" + (f"[{runtime}]" if runtime else "")
        self.device = device
        self.node = gru.name
        self.variant: Variant = entry.variant
        self.fixed_params: GRUParams = entry.fixed_params
        self.fixed_by = (
            FIXED if entry.source is None else f"{FIXED_BY} --source {entry.source_spec}"
        )
        found = entry.differences()
        self.source_differences = None if found is None else "; ".join(found)
        """How the file differs from its source ("": exactly the source's), None: no source."""
        self._runner = _runner(gru, runtime)
        missing = dict(self._runner.missing)
        if self.fixed_params.num_layers == 1:
            missing["multilayer"] = f"{FIXED}: its GRU has one layer"
        if gru.directions == 1:
            missing["bidirectional"] = f"{FIXED}: its GRU has one direction"
        self.capabilities = Capabilities(missing)
        self._digest = self.fixed_params.digest()

    def _fixed(self, problem: Problem) -> None:
        if problem.params.digest() != self._digest:
            raise ValueError(
                f"{self.name} computes with the {self.fixed_by.removeprefix(FIXED_BY + ' ')}'s "
                "weights only; this problem has other weights"
            )

    def forward(self, problem: Problem) -> Outputs:
        self._fixed(problem)
        return self._runner.forward(problem)  # type: ignore[no-any-return]

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        self._fixed(problem)
        return self._runner.gradients(problem, d_output, d_h_n)  # type: ignore[no-any-return]
