"""Keras 3 ``keras.layers.GRU`` on the **TensorFlow** backend as an ``Implementation``.

The same stacks as ``gruverify.targets.keras_target`` (one ``GRU(H, return_sequences=True,
return_state=True)`` per layer, ``Bidirectional(..., merge_mode="concat")`` for two directions;
weights from ``gruverify.layouts.keras_layout``: gates z, r, h, kernels transposed,
``reset_after=False`` folds ``b_i* + b_h*``), but computed by TensorFlow's kernels: on the CPU
Keras' TensorFlow backend runs its generic RNN loop (``tf.while_loop`` over ``GRUCell.call``; the
fused cuDNN kernel is GPU-only). ``reset_after=True`` is judged as reset-after, ``False`` as
reset-before; both use ``h' = z * h + (1 - z) * n``, the canonical update.

The backend. Keras reads ``KERAS_BACKEND`` once, at its first import: building a target imports
keras with ``KERAS_BACKEND=tensorflow`` (unless the variable is set), and raises ``TargetError``
when keras already runs another backend. So these targets and the torch-backend
Keras targets (``keras-reset-after``, ``keras-reset-before``) cannot share a process: run each
in its own interpreter.

Conventions, as for the torch-backend targets: ``lengths`` become a Keras mask ``t < length`` and
the adapter zeros the padded steps of ``output`` (Keras repeats the last valid output there);
``h_n`` is Keras' own. Gradients come from ``tf.GradientTape`` with respect to the input, the
initial state and the layers' variables; a folded bias's gradient is reported for both halves.
Missing: ``unbatched`` (Keras needs a batch axis), ``dropout`` (Keras' dropout acts inside a
layer, not between layers). float32 only.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from gruverify.core.params import GRUCellParams, GRUParams, StackParams, Variant
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem
from gruverify.layouts.keras_layout import gru_cell_from_keras, gru_to_keras
from gruverify.targets.errors import TargetError

__all__ = [
    "KERAS_TF_MISSING",
    "KerasTensorFlowGRUTarget",
    "import_keras_tensorflow",
    "keras_gru_stack",
]

KERAS_TF_MISSING = {
    "unbatched": "keras.layers.GRU needs a batch axis (inputs are (batch, time, features))",
    "dropout": "Keras' dropout / recurrent_dropout act inside a layer (inputs and recurrent "
    "state), not between layers as torch's dropout does; the eval-mode dropout law does not apply",
}


def import_keras_tensorflow() -> Any:
    """``keras`` on the TensorFlow backend; ``TargetError`` when TensorFlow is missing or keras runs
    another backend. TensorFlow is imported first, and ``KERAS_BACKEND`` is set to ``tensorflow``
    (unless set) only for keras' first import, then restored, so a failed build leaves the process
    as it was for the torch-backend Keras targets."""
    try:
        import tensorflow  # noqa: F401
    except ImportError as e:
        raise TargetError(f"keras-tensorflow needs tensorflow (tensorflow-cpu): {e}") from e
    previous = os.environ.get("KERAS_BACKEND")
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = previous or "tensorflow"
    try:
        import keras
    except Exception as e:
        raise TargetError(f"cannot import keras: {type(e).__name__}: {e}") from e
    finally:
        if previous is None:
            os.environ.pop("KERAS_BACKEND", None)
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise TargetError(
            f"keras runs the {backend!r} backend in this process; keras-tensorflow needs "
            "'tensorflow' (set KERAS_BACKEND=tensorflow before keras is first imported, or run "
            "it in its own process)"
        )
    return keras


def keras_gru_stack(keras: Any, params: GRUParams, reset_after: bool) -> list[Any]:
    """Built float32 Keras layers for ``params``' configuration, one per GRU layer:
    ``GRU(H, return_sequences=True, return_state=True)``, wrapped in
    ``Bidirectional(merge_mode="concat")`` for two directions (weights not loaded)."""
    H, D = params.hidden_size, params.num_directions
    layers = []
    for layer in range(params.num_layers):
        gru = keras.layers.GRU(
            H, return_sequences=True, return_state=True, reset_after=reset_after,
            use_bias=params.bias, dtype="float32",
        )  # fmt: skip
        if params.bidirectional:
            gru = keras.layers.Bidirectional(gru, merge_mode="concat", dtype="float32")
        gru.build((None, None, params.input_size if layer == 0 else D * H))
        layers.append(gru)
    return layers


class KerasTensorFlowGRUTarget:
    """``keras.layers.GRU(reset_after=...)`` stacks on the TensorFlow backend, CPU, float32."""

    def __init__(self, reset_after: bool = True, *, dtype: str = "float32", device: str = "cpu"):
        if device != "cpu":
            raise TargetError(f"keras-tensorflow runs on the cpu here, not {device!r}")
        if dtype != "float32":
            raise TargetError(f"keras-tensorflow runs float32 here, not {dtype!r}")
        self.keras = import_keras_tensorflow()
        self.reset_after = reset_after
        self.variant: Variant = "reset_after" if reset_after else "reset_before"
        self.dtype = dtype
        self.device = device
        self.name = "keras-tensorflow" + ("" if reset_after else "[reset-before]")
        self.capabilities = Capabilities(dict(KERAS_TF_MISSING))
        self._stacks: dict[tuple[Any, ...], list[Any]] = {}
        self._loaded: dict[tuple[Any, ...], str] = {}

    def _layers(self, params: GRUParams) -> list[Any]:
        key = (params.input_size, params.hidden_size, params.num_layers, params.bidirectional,
               params.bias)  # fmt: skip
        layers = self._stacks.get(key)
        if layers is None:
            layers = keras_gru_stack(self.keras, params, self.reset_after)
            self._stacks[key] = layers
        digest = params.digest()
        if self._loaded.get(key) != digest:
            for gru, weights in zip(layers, gru_to_keras(params, self.reset_after), strict=True):
                gru.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
            self._loaded[key] = digest
        return layers

    def _run(self, problem: Problem, x: Any, h0: Any) -> tuple[Any, Any, list[Any]]:
        import tensorflow as tf

        if not problem.batched:
            raise ValueError(f"{self.name}: {KERAS_TF_MISSING['unbatched']}")
        p = problem.params
        D = p.num_directions
        if h0 is not None and (len(h0.shape) != 3 or h0.shape[0] != p.num_layers * D):
            raise ValueError(
                f"{self.name}: h0 has shape {tuple(h0.shape)}, expected "
                f"({p.num_layers * D}, batch, {p.hidden_size})"
            )
        layers = self._layers(p)
        seq = x if problem.batch_first else tf.transpose(x, (1, 0, 2))  # (B, T, I)
        mask = None
        if problem.lengths is not None:
            lengths = tf.constant(np.asarray(problem.lengths), tf.int32)
            mask = tf.range(problem.steps)[None, :] < lengths[:, None]
        finals = []
        with tf.device("/CPU:0"):
            for layer, gru in enumerate(layers):
                init = None if h0 is None else [h0[layer * D + d] for d in range(D)]
                result = gru(seq, initial_state=init, mask=mask)
                seq = result[0]
                finals.extend(result[1 : 1 + D])
        if mask is not None:
            seq = seq * tf.cast(mask, seq.dtype)[:, :, None]
        out = seq if problem.batch_first else tf.transpose(seq, (1, 0, 2))
        return out, tf.stack(finals), layers

    def _tensor(self, a: np.ndarray | None) -> Any:
        import tensorflow as tf

        return None if a is None else tf.constant(np.asarray(a, np.float32))

    # -- Implementation -----------------------------------------------------------------------

    def forward(self, problem: Problem) -> Outputs:
        out, h_n, _ = self._run(problem, self._tensor(problem.x), self._tensor(problem.h0))
        return Outputs(np.asarray(out, np.float64), np.asarray(h_n, np.float64))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        import tensorflow as tf

        x, h0 = self._tensor(problem.x), self._tensor(problem.h0)
        with tf.GradientTape() as tape:
            tape.watch(x)
            if h0 is not None:
                tape.watch(h0)
            out, h_n, layers = self._run(problem, x, h0)
            loss = tf.reduce_sum(out) * 0.0 + tf.reduce_sum(h_n) * 0.0
            if d_output is not None:
                loss += tf.reduce_sum(out * self._tensor(d_output))
            if d_h_n is not None:
                loss += tf.reduce_sum(h_n * self._tensor(d_h_n))
        variables = [v.value for gru in layers for v in gru.weights]
        leaves = [x] + ([h0] if h0 is not None else []) + variables
        grads = tape.gradient(loss, leaves)
        as_np = [np.zeros(tuple(v.shape)) if g is None else np.asarray(g, np.float64)
                 for g, v in zip(grads, leaves, strict=True)]  # fmt: skip
        dx, rest = as_np[0], as_np[1:]
        if h0 is not None:
            dh0, rest = rest[0], rest[1:]
        else:
            dh0 = np.zeros(tuple(h_n.shape))
        return Gradients(dx, dh0, self._canonical_grads(problem.params, rest))

    def _canonical_grads(self, params: GRUParams, flat: list[np.ndarray]) -> GRUParams:
        per_dir = 3 if params.bias else 2
        rows, i = [], 0
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
