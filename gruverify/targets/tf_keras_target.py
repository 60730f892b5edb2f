"""Keras 2's ``tf_keras.layers.GRU`` (the ``tf-keras`` package, TensorFlow's Keras before Keras 3)
as an ``Implementation``.

Keras 2 is a GRU of its own: its own ``GRU``/``GRUCell`` code (``tf_keras/src/layers/rnn/gru.py``),
which on the CPU runs ``standard_gru`` (``backend.rnn`` over a ``tf.while_loop``) for
``reset_after=True`` and ``GRUCell.call`` for ``reset_after=False``. It shares Keras 3's weight
layout (gates z, r, h; kernels transposed; ``reset_after=False`` folds ``b_i* + b_h*``), so the stacks
are ``keras_stack.keras_gru_stack`` built with the ``tf_keras`` module and loaded by
``gruverify.layouts.keras_layout``, and the target is ``keras-tensorflow``'s
(``KerasTensorFlowGRUTarget``: mask for ``lengths``, padded output steps zeroed, gradients from
``tf.GradientTape``) with Keras 2 in place of Keras 3. Keras 2 does not read ``KERAS_BACKEND``:
it runs beside Keras 3 on any backend in one process.

``tf-keras`` 2.N requires ``tensorflow`` 2.N (2.20.1: ``tensorflow>=2.20,<2.21``); the distribution
name ``tensorflow``, which ``tensorflow-cpu`` does not provide, so it is installed ``--no-deps`` next to
``tensorflow-cpu`` (scripts/library_envs.sh). Missing: ``unbatched``, ``dropout`` (as Keras 3).
float32 only.
"""

from __future__ import annotations

from typing import Any

from gruverify.core.params import Variant
from gruverify.core.problem import Capabilities
from gruverify.targets.errors import TargetError
from gruverify.targets.keras_stack import KERAS_MISSING, KerasStackTarget
from gruverify.targets.keras_tensorflow_target import KerasTensorFlowGRUTarget

__all__ = ["TfKerasGRUTarget", "import_tf_keras"]


def import_tf_keras() -> Any:
    """The ``tf_keras`` module; ``TargetError`` when it (or TensorFlow) cannot be imported."""
    try:
        import tensorflow  # noqa: F401
        import tf_keras
    except Exception as e:
        raise TargetError(
            f"tf-keras needs tensorflow (tensorflow-cpu) and tf-keras: {type(e).__name__}: {e}"
        ) from e
    return tf_keras


class TfKerasGRUTarget(KerasTensorFlowGRUTarget):
    """``tf_keras.layers.GRU(reset_after=...)`` stacks, CPU, float32 (module docstring)."""

    def __init__(self, reset_after: bool = True, *, dtype: str = "float32", device: str = "cpu"):
        if device != "cpu":
            raise TargetError(f"tf-keras runs on the cpu here, not {device!r}")
        if dtype != "float32":
            raise TargetError(f"tf-keras runs float32 here, not {dtype!r}")
        KerasStackTarget.__init__(self)
        self.keras = import_tf_keras()
        self.reset_after = reset_after
        self.variant: Variant = "reset_after" if reset_after else "reset_before"
        self.dtype = dtype
        self.device = device
        self.name = "tf-keras" + ("" if reset_after else "[reset-before]")
        self.capabilities = Capabilities(dict(KERAS_MISSING))

    @staticmethod
    def _leaf(variable: Any) -> Any:
        """Keras 2's weights are ``tf.Variable`` s: the tape differentiates them directly."""
        return variable
