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
from collections.abc import Callable
from typing import Any

import numpy as np

from gruverify.core.params import GRUParams, Variant
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem
from gruverify.layouts.keras_layout import gru_to_keras
from gruverify.targets.errors import TargetError
from gruverify.targets.keras_stack import KERAS_MISSING, KerasStackTarget, keras_gru_stack

__all__ = [
    "KerasTensorFlowGRUTarget",
    "import_keras_tensorflow",
    "keras_gru_tf_function",
    "keras_weights",
]


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


def keras_weights(params: GRUParams, reset_after: bool) -> list[np.ndarray]:
    """``params``' Keras weight arrays (``gru_to_keras``), flattened over the layers, float32."""
    return [np.asarray(w, np.float32) for layer in gru_to_keras(params, reset_after) for w in layer]


def keras_gru_tf_function(
    params: GRUParams,
    reset_after: bool,
    shape: tuple[int | None, int | None],
    *,
    initial_state: bool,
    mask: bool,
    weights_as_inputs: bool,
) -> tuple[Callable[..., dict[str, Any]], dict[str, Any], list[Any]]:
    """A Keras GRU stack (``keras_gru_stack``, TensorFlow backend) as a function for the
    converters (TFLite, tf2onnx) to trace: ``(run, specs, layers)``, where ``run(**inputs)`` takes
    the tensors ``specs`` names and returns ``{"output": (B, T, D * H), "h_n": (L * D, B, H)}``.
    Inputs: batch-major ``x`` ``(B, T, I)`` (``shape = (B, T)``, None for a dynamic axis), optional
    ``h0`` ``(L * D, B, H)`` and ``mask`` ``(B, T)`` bool, and (``weights_as_inputs``) one ``w{k}``
    per Keras weight array in ``keras_weights`` order; else ``params``' weights are constants. The
    layers run through ``Layer.stateless_call``, so the weights are tensors of the traced graph."""
    import tensorflow as tf

    keras = import_keras_tensorflow()
    layers = keras_gru_stack(keras, params, reset_after)
    weights = keras_weights(params, reset_after)
    B, T = shape
    L, D, H = params.num_layers, params.num_directions, params.hidden_size
    specs = {"x": tf.TensorSpec([B, T, params.input_size], tf.float32, name="x")}
    if initial_state:
        specs["h0"] = tf.TensorSpec([L * D, B, H], tf.float32, name="h0")
    if mask:
        specs["mask"] = tf.TensorSpec([B, T], tf.bool, name="mask")
    if weights_as_inputs:
        specs.update(
            {
                f"w{k}": tf.TensorSpec(w.shape, tf.float32, name=f"w{k}")
                for k, w in enumerate(weights)
            }
        )
    frozen = [[np.asarray(v.numpy()) for v in gru.non_trainable_variables] for gru in layers]

    def run(**inputs: Any) -> dict[str, Any]:
        seq, finals, k = inputs["x"], [], 0
        for layer, gru in enumerate(layers):
            init = None if "h0" not in inputs else [inputs["h0"][layer * D + d] for d in range(D)]
            n = len(gru.trainable_variables)
            trainable = [inputs[f"w{j}"] if weights_as_inputs else tf.constant(weights[j])
                         for j in range(k, k + n)]  # fmt: skip
            k += n
            fixed = [tf.constant(v) for v in frozen[layer]]
            result, _ = gru.stateless_call(
                trainable, fixed, seq,
                initial_state=init, mask=inputs.get("mask"),
            )  # fmt: skip
            seq = result[0]
            finals.extend(result[1 : 1 + D])
        return {"output": seq, "h_n": tf.stack(finals)}

    return run, specs, layers


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

    @staticmethod
    def _leaf(variable: Any) -> Any:
        """The tensor the tape differentiates for a layer weight (Keras 3 wraps a tf.Variable)."""
        return variable.value

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
        variables = [self._leaf(v) for gru in layers for v in gru.weights]
        leaves = [x] + ([h0] if h0 is not None else []) + variables
        grads = tape.gradient(loss, leaves)
        return self._gradients_from(
            problem, grads, leaves, tuple(h_n.shape), lambda g: np.asarray(g, np.float64)
        )
