"""The GRUs of a Keras file (``.keras``, ``.h5``): each ``GRU`` layer read, and rebuilt alone.

``read_keras_grus(path)`` loads the model (``keras.saving.load_model``, Keras 3 on the torch
backend, ``gruverify.targets.keras_target.import_keras``; ``compile=False``, ``safe_mode=True``)
and lists its ``GRU`` layers and ``Bidirectional(GRU)`` wrappers in the order of
``model.layers`` (a nested model's layers in its place), each read through
``gruverify.layouts.keras_layout.gru_from_keras`` (exact: transposes and slicing; with
``reset_after=False`` Keras holds one bias per gate, read as ``b_i* = sum``, ``b_h* = 0``, which
the reset-before variant computes identically). Refused with one line: activations other than
``tanh`` / ``sigmoid``, ``go_backwards``, a ``Bidirectional`` wrapper whose merge mode is not
``concat`` (the layer alone returns both directions concatenated; the merge is the whole model's
business, see docs/model-files.md), weights that are not float32.

``KerasLayerRunner`` runs one of them *alone*: a fresh ``GRU(H, reset_after=...)`` (or
``Bidirectional``) built by ``gruverify.targets.keras_target.KerasGRUTarget`` and loaded with the
file's weights, i.e. the same Keras code path with the file's weights, not the file's graph.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from gruverify.core.params import GRUCellParams, Variant
from gruverify.core.problem import Gradients, Outputs, Problem
from gruverify.layouts.errors import LayoutError
from gruverify.layouts.keras_layout import gru_from_keras, keras_canonical_form
from gruverify.targets.errors import TargetError
from gruverify.targets.file_gru import OneLayerGRU

__all__ = ["KerasGRU", "KerasLayerRunner", "read_keras_grus", "read_keras_model_grus"]


@dataclasses.dataclass(frozen=True)
class KerasGRU(OneLayerGRU):
    """One GRU layer of a Keras model: its path, canonical cells and variant."""

    name: str
    index: int
    cells: tuple[GRUCellParams[np.ndarray], ...]
    variant: Variant
    bias: bool

    def layout_form(self, cell: GRUCellParams[np.ndarray]) -> GRUCellParams[np.ndarray]:
        """``cell`` as this layer holds it (reset-before: one bias per gate, the sums)."""
        return keras_canonical_form(cell, self.variant == "reset_after")


def _refusal(gru: Any, backward: bool = False) -> str | None:
    """Why the rebuilt layer would not compute what the file's GRU layer computes (``backward``:
    the backward layer of a ``Bidirectional``, which runs ``go_backwards`` by design)."""
    config = gru.get_config()
    for key, want in (("activation", "tanh"), ("recurrent_activation", "sigmoid")):
        if config.get(key, want) != want:
            return f"{key}={config[key]!r} (gruverify's reference computes sigmoid and tanh)"
    if config.get("go_backwards") and not backward:
        return "go_backwards=True (a reverse-only GRU is not a torch.nn.GRU configuration)"
    return None


def _read_layer(layer: Any, name: str, index: int, keras: Any) -> KerasGRU:
    wrapped = isinstance(layer, keras.layers.Bidirectional)
    inner = layer.forward_layer if wrapped else layer
    why = _refusal(inner) or (_refusal(layer.backward_layer, True) if wrapped else None)
    if wrapped and getattr(layer, "merge_mode", "concat") != "concat":
        why = why or f"Bidirectional merge_mode={layer.merge_mode!r} (the layer alone concatenates)"
    if why is not None:
        raise TargetError(f"GRU layer {name!r}: unsupported {why}")
    weights = layer.get_weights()
    if any(np.asarray(w).dtype != np.float32 for w in weights):
        raise TargetError(f"GRU layer {name!r}: its weights are not float32")
    reset_after = bool(inner.get_config().get("reset_after", True))
    try:
        params = gru_from_keras([weights], reset_after)
    except LayoutError as e:
        raise TargetError(f"GRU layer {name!r}: {e}") from None
    return KerasGRU(
        name, index, tuple(params.cells[0]), "reset_after" if reset_after else "reset_before",
        params.bias,
    )  # fmt: skip


def _gru_layers(layers: Any, keras: Any) -> list[Any]:
    """GRU layers and Bidirectional wrappers among ``layers``, nested models' in place."""
    out = []
    for layer in layers:
        if isinstance(layer, (keras.layers.Bidirectional, keras.layers.GRU)):
            out.append(layer)
        elif getattr(layer, "layers", None):
            out += _gru_layers(layer.layers, keras)
    return out


def read_keras_model_grus(model: Any, keras: Any) -> list[KerasGRU]:
    """The GRU layers of a Keras ``model`` in order (module docstring); ``TargetError`` when
    there is none."""
    found = _gru_layers(model.layers, keras)
    if not found:
        raise TargetError(f"the Keras model {model.name!r} has no GRU layer")
    return [_read_layer(layer, layer.name, i, keras) for i, layer in enumerate(found)]


def read_keras_grus(path: str) -> list[KerasGRU]:
    """Every GRU layer of the Keras file at ``path``, in order; ``TargetError`` (one line) for a
    missing or unreadable file, a model without a GRU, a GRU layer gruverify cannot check."""
    from gruverify.targets.keras_target import import_keras

    if not os.path.isfile(path):
        raise TargetError(f"{path}: no such file")
    keras = import_keras()
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:
        detail = f"{type(e).__name__}: {e}".splitlines()[0]
        raise TargetError(f"{path}: not a readable Keras model ({detail})") from None
    try:
        return read_keras_model_grus(model, keras)
    except TargetError as e:
        raise TargetError(f"{path}: {e}") from None


class KerasLayerRunner:
    """One GRU layer of a Keras file rebuilt alone with the file's weights (module docstring)."""

    def __init__(self, gru: KerasGRU) -> None:
        from gruverify.targets.keras_target import KerasGRUTarget

        self.gru = gru
        self.inner = KerasGRUTarget(gru.variant == "reset_after")
        self.missing = dict(self.inner.capabilities.missing)

    def _own(self, problem: Problem) -> Problem:
        """``problem`` with the file's weights: the layer computes with those, whatever weights
        the checks judge it against (the source's, with ``--source``)."""
        return dataclasses.replace(problem, params=self.gru.params)

    def forward(self, problem: Problem) -> Outputs:
        return self.inner.forward(self._own(problem))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        return self.inner.gradients(self._own(problem), d_output, d_h_n)
