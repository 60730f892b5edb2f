"""What the Keras targets share, whatever backend Keras runs on (torch: ``keras_target``,
TensorFlow: ``keras_tensorflow_target``; ``tflite_target`` builds its model with the same stacks).

A stack is one ``GRU(H, return_sequences=True, return_state=True)`` per GRU layer, wrapped in
``Bidirectional(merge_mode="concat")`` for two directions, each layer reading the previous one's
output (``keras_gru_stack``). ``KerasStackTarget`` is the part of a target that is written in
Keras' terms only: the layers, built once per configuration and reloaded only when the weights
change (``gruverify.layouts.gru_to_keras``), the shape checks, the run through the layers, and the
weight gradients mapped back to canonical names. A subclass sets ``keras``, ``reset_after``,
``dtype`` and ``name`` and does the backend's part: tensors, the mask, the loss and autodiff.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gruverify.core.params import GRUCellParams, GRUParams, StackParams
from gruverify.core.problem import Gradients, Problem, split_leaf_gradients
from gruverify.layouts.keras_layout import gru_cell_from_keras, gru_to_keras

__all__ = [
    "DROPOUT_REASON",
    "KERAS_MISSING",
    "UNBATCHED_REASON",
    "KerasStackTarget",
    "keras_gru_stack",
]

UNBATCHED_REASON = "keras.layers.GRU needs a batch axis (inputs are (batch, time, features))"
DROPOUT_REASON = (
    "Keras' dropout / recurrent_dropout act inside a layer (inputs and recurrent state), not "
    "between layers as torch's dropout does; the eval-mode dropout law does not apply"
)
KERAS_MISSING = {"unbatched": UNBATCHED_REASON, "dropout": DROPOUT_REASON}


def keras_gru_stack(
    keras: Any, params: GRUParams, reset_after: bool, dtype: str = "float32"
) -> list[Any]:
    """Built Keras layers for ``params``' configuration, one per GRU layer:
    ``GRU(H, return_sequences=True, return_state=True)``, wrapped in
    ``Bidirectional(merge_mode="concat")`` for two directions (weights not loaded)."""
    H, D = params.hidden_size, params.num_directions
    layers = []
    for layer in range(params.num_layers):
        gru = keras.layers.GRU(
            H, return_sequences=True, return_state=True, reset_after=reset_after,
            use_bias=params.bias, dtype=dtype,
        )  # fmt: skip
        if params.bidirectional:
            gru = keras.layers.Bidirectional(gru, merge_mode="concat", dtype=dtype)
        gru.build((None, None, params.input_size if layer == 0 else D * H))
        layers.append(gru)
    return layers


class KerasStackTarget:
    """The backend-free part of a Keras GRU target (module docstring)."""

    keras: Any
    reset_after: bool
    dtype: str
    name: str

    def __init__(self) -> None:
        self._stacks: dict[tuple[Any, ...], list[Any]] = {}
        self._loaded: dict[tuple[Any, ...], str] = {}

    def _layers(self, params: GRUParams) -> list[Any]:
        key = (params.input_size, params.hidden_size, params.num_layers, params.bidirectional,
               params.bias)  # fmt: skip
        layers = self._stacks.get(key)
        if layers is None:
            layers = keras_gru_stack(self.keras, params, self.reset_after, self.dtype)
            self._stacks[key] = layers
        digest = params.digest()
        if self._loaded.get(key) != digest:
            for gru, weights in zip(layers, gru_to_keras(params, self.reset_after), strict=True):
                gru.set_weights([np.asarray(w, dtype=self.dtype) for w in weights])
            self._loaded[key] = digest
        return layers

    def _check_call(self, problem: Problem, h0: Any) -> None:
        """``ValueError`` for an unbatched problem, or an ``h0`` whose first axis is not L * D
        (Keras broadcasts the batch axis itself, so only the axis the adapter splits is checked)."""
        if not problem.batched:
            raise ValueError(f"{self.name}: {UNBATCHED_REASON}")
        p = problem.params
        if h0 is not None and (
            len(h0.shape) != 3 or h0.shape[0] != p.num_layers * p.num_directions
        ):
            raise ValueError(
                f"{self.name}: h0 has shape {tuple(h0.shape)}, expected "
                f"({p.num_layers * p.num_directions}, batch, {p.hidden_size})"
            )

    @staticmethod
    def _through(layers: list[Any], seq: Any, h0: Any, mask: Any, D: int) -> tuple[Any, list[Any]]:
        """Runs batch-major ``seq`` through the layers, layer ``l`` starting from ``h0[l * D:
        (l + 1) * D]``: the last layer's output and every layer's final states, in h_n order."""
        finals = []
        for layer, gru in enumerate(layers):
            init = None if h0 is None else [h0[layer * D + d] for d in range(D)]
            result = gru(seq, initial_state=init, mask=mask)
            seq = result[0]
            finals.extend(result[1 : 1 + D])
        return seq, finals

    def _gradients_from(
        self,
        problem: Problem,
        grads: Sequence[Any],
        leaves: Sequence[Any],
        h_n_shape: tuple[int, ...],
        to_numpy: Callable[[Any], np.ndarray],
    ) -> Gradients:
        """``Gradients`` from autodiff's answer for ``leaves`` = [x, h0 (when given), the layers'
        weights in order] (``split_leaf_gradients``)."""
        dx, dh0, rest = split_leaf_gradients(
            grads, leaves, problem.h0 is not None, h_n_shape, to_numpy
        )
        return Gradients(dx, dh0, self._canonical_grads(problem.params, rest))

    def _canonical_grads(self, params: GRUParams, flat: list[np.ndarray]) -> GRUParams:
        """Keras-layout weight gradients -> canonical names. Kernels are a permutation and
        transposition of the canonical matrices, so the layout converter maps gradients too; a
        folded bias (reset_after=False) gives its gradient to both b_i* and b_h*."""
        per_dir = 3 if params.bias else 2
        rows = []
        i = 0
        for _ in range(params.num_layers):
            row = []
            for _ in range(params.num_directions):
                cell: GRUCellParams[np.ndarray] = gru_cell_from_keras(
                    flat[i : i + per_dir], self.reset_after if params.bias else None
                )
                i += per_dir
                if params.bias and not self.reset_after:
                    cell = cell.replace(b_hr=cell.b_ir, b_hz=cell.b_iz, b_hn=cell.b_in)
                row.append(cell)
            rows.append(tuple(row))
        return StackParams(tuple(rows), bias=params.bias)
