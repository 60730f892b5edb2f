"""A Keras GRU converted to ONNX by tf2onnx and run by onnxruntime (float32, CPU).

The model: the Keras stacks of ``keras-tensorflow`` (``keras_gru_stack``: ``GRU`` per layer,
``Bidirectional`` for two directions, Keras 3 on the TensorFlow backend), traced by ``tf.function``
through ``Layer.stateless_call`` (``keras_gru_tf_function``, the graph the ``tflite`` target
converts) and converted by ``tf2onnx.convert.from_function`` at ONNX opset 17, then run by an
``onnxruntime.InferenceSession`` on its CPU provider. Weights come from
``gruverify.layouts.keras_layout`` (gates z, r, h; ``reset_after=False`` folds the biases).

Batch and time are **dynamic** axes of the converted model, and by default the weights are
**inputs**: one conversion (1.5-3 s on 2 cores) serves every weight set, batch and length of a
configuration (sizes, layers, directions, bias, with or without ``h0`` and ``mask``).
``Tf2OnnxGRUTarget(weights_as_inputs=False)`` bakes them into the model as initializers, as a
deployed model has them, converting once per weight set (the tests check that both agree, and that
``tf2onnx.convert.from_keras`` of a ``keras.Model`` gives the same numbers).

Measured (tf2onnx 1.17.0, tensorflow-cpu 2.20.0, keras 3.15.1, onnxruntime 1.32.0): tf2onnx
converts Keras 3's GRU (``from_keras`` too: it traces the model with ``tf.function`` on TF >= 2.16),
but its GRU rewriters (``rewriter/gru_tf2_rewriter.py``, written for Keras 2's graphs) do not match
Keras 3's ``while`` loop: the model holds an ONNX ``Loop`` over the cell's MatMul/Sigmoid/Tanh ops,
not an ONNX ``GRU`` node, so onnxruntime runs the cell as Keras wrote it.

``lengths`` become the Keras mask input (``t < length``), as for ``keras-tensorflow``; the adapter
zeros padded output steps (Keras repeats the last valid output there). Missing: ``gradients`` (an
inference session), ``unbatched`` (Keras needs a batch axis), ``dropout``. Judged as reset-after
(``reset_after=True``, the default) or reset-before.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from gruverify.core.params import GRUParams, Variant
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem
from gruverify.targets.errors import TargetError
from gruverify.targets.keras_tensorflow_target import (
    import_keras_tensorflow,
    keras_gru_tf_function,
    keras_weights,
)
from gruverify.targets.recent import Recent

__all__ = ["OPSET", "TF2ONNX_MISSING", "Tf2OnnxGRUTarget", "convert_keras_gru_with_tf2onnx"]

OPSET = 17
GRADIENTS_REASON = "an onnxruntime inference session runs forward only (no gradients)"
TF2ONNX_MISSING = {
    "gradients": GRADIENTS_REASON,
    "unbatched": "keras.layers.GRU needs a batch axis (inputs are (batch, time, features))",
    "dropout": "a converted inference model has no dropout",
}
_MAX_MODELS = 64  # a session is a few hundred kB; the quick profile revisits configurations


def convert_keras_gru_with_tf2onnx(
    params: GRUParams,
    reset_after: bool,
    *,
    initial_state: bool,
    mask: bool,
    weights_as_inputs: bool = True,
    source: str = "keras",
) -> bytes:
    """The serialized ONNX model tf2onnx makes of a Keras GRU stack for ``params``' configuration:
    inputs ``x`` ``(B, T, I)`` (B and T dynamic), optional ``h0`` ``(L * D, B, H)`` and ``mask``
    ``(B, T)``, and (``weights_as_inputs``) ``w{k}`` per Keras weight array; else ``params``'
    weights are initializers. Outputs ``output`` ``(B, T, D * H)`` and ``h_n`` ``(L * D, B, H)``.
    ``source="tf-keras"`` converts Keras 2's layers (``tf_keras``) instead, weights as
    initializers only (its layers are called, their variables frozen by tf2onnx). ``TargetError``
    with tf2onnx's own message when it cannot convert."""
    import tensorflow as tf
    import tf2onnx

    if source == "tf-keras":
        if weights_as_inputs:
            raise TargetError("tf2onnx of tf-keras layers bakes the weights in (no weight inputs)")
        run, specs = _tf_keras_function(params, reset_after, initial_state=initial_state, mask=mask)
    else:
        run, specs, _ = keras_gru_tf_function(
            params, reset_after, (None, None),
            initial_state=initial_state, mask=mask, weights_as_inputs=weights_as_inputs,
        )  # fmt: skip
    names = list(specs)
    signature = [specs[n] for n in names]
    fn = tf.function(lambda *args: run(**dict(zip(names, args, strict=True))))
    try:
        with _optimizers_uncaught():
            proto, _ = tf2onnx.convert.from_function(fn, input_signature=signature, opset=OPSET)
    except Exception:
        try:  # an optimizer failed: convert as users do, where tf2onnx skips it
            proto, _ = tf2onnx.convert.from_function(fn, input_signature=signature, opset=OPSET)
        except Exception as e:
            raise TargetError(
                f"tf2onnx {tf2onnx.__version__} cannot convert the Keras GRU: "
                f"{type(e).__name__}: {e}"
            ) from e
    return proto.SerializeToString()  # type: ignore[no-any-return]


@contextlib.contextmanager
def _optimizers_uncaught() -> Iterator[None]:
    """tf2onnx's ONNX optimizers without ``catch_errors``: by default each optimizer runs on a
    deep copy of the graph so that a failing one can be skipped, which is ~30% of a conversion
    here. tf2onnx turns that off when ``TF2ONNX_CATCH_ERRORS`` is set (1.17.0 compares the
    variable's *name* with "TRUE", so any value does). The same optimizers run in the same order
    and give the same graph; a failure raises instead, and the caller converts again with them
    caught, as users run it."""
    name = "TF2ONNX_CATCH_ERRORS"
    previous = os.environ.get(name)
    os.environ[name] = "FALSE"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def _tf_keras_function(
    params: GRUParams, reset_after: bool, *, initial_state: bool, mask: bool
) -> tuple[Any, dict[str, Any]]:
    """``keras_gru_tf_function``'s ``(run, specs)`` for Keras 2's layers, ``params``' weights
    loaded into them (``set_weights``)."""
    import tensorflow as tf

    from gruverify.layouts.keras_layout import gru_to_keras
    from gruverify.targets.keras_stack import KerasStackTarget, keras_gru_stack
    from gruverify.targets.tf_keras_target import import_tf_keras

    layers = keras_gru_stack(import_tf_keras(), params, reset_after)
    for gru, weights in zip(layers, gru_to_keras(params, reset_after), strict=True):
        gru.set_weights([np.asarray(w, np.float32) for w in weights])
    L, D, H = params.num_layers, params.num_directions, params.hidden_size
    specs = {"x": tf.TensorSpec([None, None, params.input_size], tf.float32, name="x")}
    if initial_state:
        specs["h0"] = tf.TensorSpec([L * D, None, H], tf.float32, name="h0")
    if mask:
        specs["mask"] = tf.TensorSpec([None, None], tf.bool, name="mask")

    def run(**inputs: Any) -> dict[str, Any]:
        seq, finals = KerasStackTarget._through(
            layers, inputs["x"], inputs.get("h0"), inputs.get("mask"), D
        )
        return {"output": seq, "h_n": tf.stack(finals)}

    return run, specs


class Tf2OnnxGRUTarget:
    """Keras GRU stacks -> tf2onnx -> onnxruntime (module docstring)."""

    def __init__(
        self,
        reset_after: bool = True,
        *,
        dtype: str = "float32",
        device: str = "cpu",
        weights_as_inputs: bool = True,
        source: str = "keras",
    ) -> None:
        if source not in ("keras", "tf-keras"):
            raise TargetError(f"tf2onnx converts 'keras' or 'tf-keras' layers, not {source!r}")
        if source == "tf-keras" and weights_as_inputs:
            raise TargetError(
                "tf2onnx of tf-keras layers bakes the weights in: weights_as_inputs=False"
            )
        if dtype != "float32" or device != "cpu":
            raise TargetError(f"tf2onnx runs float32 on the cpu here, not {dtype} on {device}")
        import_keras_tensorflow()
        try:
            import onnxruntime
            import tf2onnx  # noqa: F401
        except ImportError as e:
            raise TargetError(f"tf2onnx needs tf2onnx and onnxruntime: {e}") from e
        self.ort = onnxruntime
        self.reset_after = reset_after
        self.variant: Variant = "reset_after" if reset_after else "reset_before"
        self.weights_as_inputs = weights_as_inputs
        self.source = source
        self.dtype = dtype
        self.device = device
        tags = (
            ([] if source == "keras" else [source])
            + ([] if reset_after else ["reset-before"])
            + ([] if weights_as_inputs or source != "keras" else ["constant-weights"])
        )
        self.name = "tf2onnx" + (f"[{', '.join(tags)}]" if tags else "")
        self.capabilities = Capabilities(dict(TF2ONNX_MISSING))
        self.conversions = 0
        self.compile_seconds = 60.0
        """A new configuration converts the model (seconds on 2 cores): the checker's per-call
        limit does not go below this."""
        self._sessions: Recent[Any] = Recent(_MAX_MODELS)

    def _session(self, problem: Problem) -> Any:
        p = problem.params
        digest = None if self.weights_as_inputs else p.digest()
        key = (p.input_size, p.hidden_size, p.num_layers, p.num_directions, p.bias,
               problem.h0 is not None, problem.lengths is not None, digest)  # fmt: skip
        return self._sessions.get(key, lambda: self._convert(problem))

    def _convert(self, problem: Problem) -> Any:
        model = convert_keras_gru_with_tf2onnx(
            problem.params, self.reset_after,
            initial_state=problem.h0 is not None, mask=problem.lengths is not None,
            weights_as_inputs=self.weights_as_inputs, source=self.source,
        )  # fmt: skip
        self.conversions += 1
        self.last_model = model
        options = self.ort.SessionOptions()
        options.intra_op_num_threads = 1
        return self.ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    # -- Implementation -----------------------------------------------------------------------

    def forward(self, problem: Problem) -> Outputs:
        if not problem.batched:
            raise ValueError(f"{self.name}: {TF2ONNX_MISSING['unbatched']}")
        p = problem.params
        x = np.asarray(problem.x, np.float32)
        x = x if problem.batch_first else np.swapaxes(x, 0, 1)
        B = x.shape[0]
        feeds: dict[str, np.ndarray] = {"x": np.ascontiguousarray(x)}
        if problem.h0 is not None:
            want = (p.num_layers * p.num_directions, B, p.hidden_size)
            if np.shape(problem.h0) != want:
                raise ValueError(
                    f"{self.name}: h0 has shape {np.shape(problem.h0)}, expected {want}"
                )
            feeds["h0"] = np.asarray(problem.h0, np.float32)
        mask = None
        if problem.lengths is not None:
            mask = np.arange(problem.steps)[None, :] < np.asarray(problem.lengths)[:, None]
            feeds["mask"] = mask
        if self.weights_as_inputs:
            feeds.update({f"w{k}": w for k, w in enumerate(keras_weights(p, self.reset_after))})
        session = self._session(problem)
        output, h_n = session.run(["output", "h_n"], feeds)
        out = np.asarray(output, np.float64)
        if mask is not None:
            out = out * mask[:, :, None]
        out = out if problem.batch_first else np.swapaxes(out, 0, 1)
        return Outputs(out, np.asarray(h_n, np.float64))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        raise NotImplementedError(f"{self.name}: {GRADIENTS_REASON}")
