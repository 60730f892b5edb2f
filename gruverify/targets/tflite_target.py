"""A Keras GRU converted to TensorFlow Lite and run by the LiteRT interpreter (float32, CPU).

The model: the Keras stacks of ``keras-tensorflow`` (``keras_gru_stack``: ``GRU`` per layer,
``Bidirectional`` for two directions, TensorFlow backend), traced by ``tf.function`` through
``Layer.stateless_call`` and converted by ``tf.lite.TFLiteConverter.from_concrete_functions`` with
TFLite builtin ops only (no Select TF ops), then run by ``ai_edge_litert.interpreter.Interpreter``
(its default CPU path: the XNNPACK delegate where it applies). Weights come from
``gruverify.layouts.keras_layout`` (gates z, r, h; ``reset_after=False`` folds the biases).

By default the weights are **inputs** of the converted model (``stateless_call`` takes them as
tensors), so one conversion (~1.5 s on 2 cores) serves every weight set of a configuration and
shape; ``TFLiteGRUTarget(weights_as_inputs=False)`` bakes them into the flatbuffer as constants, as a
deployed model has them, converting once per weight set (the tests check that both agree).

Measured (tensorflow-cpu 2.20, ai-edge-litert 2.3.0, keras 3.15.1):

* The converter needs a **static batch and time**: with either axis unknown, lowering the GRU's
  ``tf.while_loop`` tensor lists to builtins fails ("failed to legalize operation
  'tf.TensorListReserve'", it asks for Select TF ops). So the model is converted per
  ``(batch, T)``.
* ``lengths`` become the Keras mask input (``t < length``), as for ``keras-tensorflow``; the adapter
  zeros padded output steps (Keras repeats the last valid output there).

Missing: ``gradients`` (an inference interpreter), ``unbatched`` (Keras needs a batch axis),
``dropout``. Judged as reset-after (``reset_after=True``, the default) or reset-before.
"""

from __future__ import annotations

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

__all__ = ["TFLITE_MISSING", "TFLiteGRUTarget", "convert_keras_gru_to_tflite"]

GRADIENTS_REASON = "the LiteRT interpreter runs inference only (no gradients)"
TFLITE_MISSING = {
    "gradients": GRADIENTS_REASON,
    "unbatched": "keras.layers.GRU needs a batch axis (inputs are (batch, time, features))",
    "dropout": "a converted inference model has no dropout",
}
_MAX_MODELS = 16


def convert_keras_gru_to_tflite(
    params: GRUParams,
    reset_after: bool,
    shape: tuple[int, int],
    *,
    initial_state: bool,
    mask: bool,
    weights_as_inputs: bool = True,
    optimize: bool = False,
) -> bytes:
    """The TFLite flatbuffer of a Keras GRU stack for ``params``' configuration, batch-major input
    ``x`` ``(B, T, I)`` (``shape = (B, T)``), optional ``h0`` ``(L * D, B, H)`` and ``mask``
    ``(B, T)``, and (``weights_as_inputs``) one input ``w{k}`` per Keras weight array, in
    ``gru_to_keras`` order; else ``params``' weights are constants. Outputs: ``output``
    ``(B, T, D * H)`` and ``h_n`` ``(L * D, B, H)``. ``optimize``: the converter's
    ``optimizations = [tf.lite.Optimize.DEFAULT]`` without a representative dataset (dynamic-range
    quantization of constant weights, ``gruverify.targets.tflite_quantized``)."""
    import tensorflow as tf

    run, specs, layers = keras_gru_tf_function(
        params, reset_after, shape,
        initial_state=initial_state, mask=mask, weights_as_inputs=weights_as_inputs,
    )  # fmt: skip
    fn = tf.function(run).get_concrete_function(**specs)
    holder = tf.Module()  # a trackable object: the converter then writes a signature
    holder.layers = layers
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], holder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if optimize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()  # type: ignore[no-any-return]


class TFLiteGRUTarget:
    """Keras GRU stacks -> TFLite -> LiteRT interpreter (module docstring)."""

    def __init__(
        self,
        reset_after: bool = True,
        *,
        dtype: str = "float32",
        device: str = "cpu",
        weights_as_inputs: bool = True,
    ) -> None:
        if dtype != "float32" or device != "cpu":
            raise TargetError(f"tflite runs float32 on the cpu, not {dtype} on {device}")
        import_keras_tensorflow()
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:
            raise TargetError(f"tflite needs ai-edge-litert (the LiteRT interpreter): {e}") from e
        self.interpreter_class = Interpreter
        self.reset_after = reset_after
        self.variant: Variant = "reset_after" if reset_after else "reset_before"
        self.weights_as_inputs = weights_as_inputs
        self.dtype = dtype
        self.device = device
        tags = ([] if reset_after else ["reset-before"]) + (
            [] if weights_as_inputs else ["constant-weights"]
        )
        self.name = "tflite" + (f"[{', '.join(tags)}]" if tags else "")
        self.capabilities = Capabilities(dict(TFLITE_MISSING))
        self.conversions = 0
        self.compile_seconds = 60.0
        """A new (batch, T) converts the model (seconds on 2 cores): the checker's per-call limit
        does not go below this."""
        self._runners: Recent[Any] = Recent(_MAX_MODELS)

    def _runner(self, problem: Problem, B: int) -> Any:
        p = problem.params
        digest = None if self.weights_as_inputs else p.digest()
        key = (p.input_size, p.hidden_size, p.num_layers, p.num_directions, p.bias, B,
               problem.steps, problem.h0 is not None, problem.lengths is not None, digest)  # fmt: skip
        return self._runners.get(key, lambda: self._convert(problem, B))

    def _convert(self, problem: Problem, B: int) -> Any:
        """A signature runner of ``problem``'s configuration, converted now."""
        flat = convert_keras_gru_to_tflite(
            problem.params, self.reset_after, (B, problem.steps),
            initial_state=problem.h0 is not None, mask=problem.lengths is not None,
            weights_as_inputs=self.weights_as_inputs,
        )  # fmt: skip
        self.conversions += 1
        return self.interpreter_class(model_content=flat).get_signature_runner()

    # -- Implementation -----------------------------------------------------------------------

    def forward(self, problem: Problem) -> Outputs:
        if not problem.batched:
            raise ValueError(f"{self.name}: {TFLITE_MISSING['unbatched']}")
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
        result = self._runner(problem, B)(**feeds)
        out = np.asarray(result["output"], np.float64)
        if mask is not None:
            out = out * mask[:, :, None]
        out = out if problem.batch_first else np.swapaxes(out, 0, 1)
        return Outputs(out, np.asarray(result["h_n"], np.float64))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        raise NotImplementedError(f"{self.name}: {GRADIENTS_REASON}")
