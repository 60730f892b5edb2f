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

from gruverify.core.params import Variant
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem
from gruverify.targets.errors import TargetError
from gruverify.targets.keras_stack import KERAS_MISSING, KerasStackTarget

__all__ = ["KerasTensorFlowGRUTarget", "import_keras_tensorflow"]


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


class KerasTensorFlowGRUTarget(KerasStackTarget):
    """``keras.layers.GRU(reset_after=...)`` stacks on the TensorFlow backend, CPU, float32."""

    def __init__(self, reset_after: bool = True, *, dtype: str = "float32", device: str = "cpu"):
        if device != "cpu":
            raise TargetError(f"keras-tensorflow runs on the cpu here, not {device!r}")
        if dtype != "float32":
            raise TargetError(f"keras-tensorflow runs float32 here, not {dtype!r}")
        super().__init__()
        self.keras = import_keras_tensorflow()
        self.reset_after = reset_after
        self.variant: Variant = "reset_after" if reset_after else "reset_before"
        self.dtype = dtype
        self.device = device
        self.name = "keras-tensorflow" + ("" if reset_after else "[reset-before]")
        self.capabilities = Capabilities(dict(KERAS_MISSING))

    def _run(self, problem: Problem, x: Any, h0: Any) -> tuple[Any, Any, list[Any]]:
        import tensorflow as tf

        self._check_call(problem, h0)
        layers = self._layers(problem.params)
        seq = x if problem.batch_first else tf.transpose(x, (1, 0, 2))  # (B, T, I)
        mask = None
        if problem.lengths is not None:
            lengths = tf.constant(np.asarray(problem.lengths), tf.int32)
            mask = tf.range(problem.steps)[None, :] < lengths[:, None]
        with tf.device("/CPU:0"):
            seq, finals = self._through(layers, seq, h0, mask, problem.params.num_directions)
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
        return self._gradients_from(
            problem, grads, leaves, tuple(h_n.shape), lambda g: np.asarray(g, np.float64)
        )
