"""Keras 3 ``keras.layers.GRU`` on the torch backend as an ``Implementation``.

Two targets, each judged against its own variant: ``reset_after=True`` (Keras' default) computes
the reset-after GRU ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``reset_after=False`` the
reset-before GRU ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)``; both ``h' = (1 - z) n + z h``.

A stack is one Keras layer per GRU layer, ``GRU(H, return_sequences=True, return_state=True)``, or
``Bidirectional(GRU(...), merge_mode="concat")`` for two directions, each layer reading the previous
one's output; weights come from ``gruverify.layouts.gru_to_keras`` (gates z, r, h, kernels
transposed; ``reset_after=False`` folds ``b_i* + b_h*`` into its single bias). Layers are built
once per configuration and reloaded only when the weights change. Keras is batch-major: time-major
problems are transposed at the boundary.

The backend. Keras reads ``KERAS_BACKEND`` once, at its first import, so this module sets it to
``torch`` (``os.environ.setdefault``) before importing keras: the layers are then torch modules
whose weights are ``keras.Variable`` objects wrapping torch ``Parameter`` s (``variable.value``),
and gradients come from torch autograd through the layer. If keras was already imported with
another backend, building a target raises ``TargetError``.

Conventions and measured limits (keras 3.15.1, torch 2.13, CPU):

* ``lengths`` become a Keras mask ``t < length``. Keras then repeats the last valid output at padded
  steps; the reference (torch's ``pad_packed_sequence``) has zeros there, so the adapter zeros
  padded steps of ``output`` (a convention, like the layout); ``h_n`` is Keras' own.
* float64: ``keras.ops.matmul(float64, float64)`` returns float32 (``dtypes.result_type`` forces
  64-bit results to 32 bits, "aligned with JAX's default"), and Keras' ``GRUCell.call`` uses it. The
  reset-after layer without a mask runs a fused torch path that stays in float64 (2e-16 from the
  reference); the reset-before layer, and any masked call, run ``GRUCell.call`` and compute in float32
  (5e-8 from the float64 reference). So float64 is offered for ``reset_after=True`` without
  ``lengths`` only, and refused for ``reset_after=False``.
* ``unbatched``: Keras layers need a batch axis. ``dropout``: Keras' ``dropout`` and
  ``recurrent_dropout`` drop inputs and recurrent state inside a layer, not torch's between-layer
  dropout, so the eval-mode dropout law does not apply.
* Keras does not check the initial state's batch against the input's: it broadcasts (input batch 1
  with a state of batch 2 gives two outputs; a state of batch 1 serves an input of batch 3). The
  adapter checks only the axis it splits (``L * D``), so the checker's "bad initial state rejected"
  law reports Keras' behaviour.
* Gradients of a folded bias (``reset_after=False``): ``b_i*`` and ``b_h*`` enter the pre-activation
  as one sum, so both get the gradient of the Keras bias entry (which is what the reference gives).
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

__all__ = ["KerasGRUTarget", "import_keras"]

FLOAT64_LENGTHS_REASON = (
    "a mask sends Keras through GRUCell.call, whose keras.ops.matmul computes float64 in float32 "
    "(keras 3.15: dtypes.result_type forces 64-bit results to 32 bits)"
)
FLOAT64_RESET_BEFORE_REASON = (
    "Keras GRU(reset_after=False) runs GRUCell.call, whose keras.ops.matmul computes float64 in "
    "float32 (keras 3.15: dtypes.result_type forces 64-bit results to 32 bits): measured 5e-8 "
    "from the float64 reference, so it is not a float64 GRU"
)


def import_keras() -> Any:
    """``keras`` on the torch backend: sets ``KERAS_BACKEND=torch`` unless set, imports keras and
    raises ``TargetError`` when keras runs another backend (it reads the variable only once)."""
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except Exception as e:
        raise TargetError(
            f"cannot import keras with KERAS_BACKEND={os.environ.get('KERAS_BACKEND')!r}: "
            f"{type(e).__name__}: {e}"
        ) from e
    backend = keras.backend.backend()
    if backend != "torch":
        raise TargetError(
            f"keras runs the {backend!r} backend; the Keras targets need 'torch' (set "
            "KERAS_BACKEND=torch before keras is first imported)"
        )
    return keras


class KerasGRUTarget(KerasStackTarget):
    """``keras.layers.GRU(reset_after=...)`` stacks on the torch backend (module docstring)."""

    def __init__(self, reset_after: bool = True, *, dtype: str = "float32", device: str = "cpu"):
        if device != "cpu":
            raise TargetError(f"the Keras targets run on the cpu here, not {device!r}")
        if dtype not in ("float32", "float64"):
            raise TargetError(f"the Keras targets run float32 (or float64), not {dtype!r}")
        if dtype == "float64" and not reset_after:
            raise TargetError(f"keras-reset-before in float64: {FLOAT64_RESET_BEFORE_REASON}")
        super().__init__()
        self.keras = import_keras()
        self.reset_after = reset_after
        self.variant: Variant = "reset_after" if reset_after else "reset_before"
        self.dtype = dtype
        self.device = device
        self.name = f"keras-{self.variant.replace('_', '-')}" + (
            f"[{dtype}]" if dtype != "float32" else ""
        )
        missing = dict(KERAS_MISSING)
        if dtype == "float64":
            missing["lengths"] = FLOAT64_LENGTHS_REASON
        self.capabilities = Capabilities(missing)

    def _tensor(self, a: np.ndarray | None, requires_grad: bool = False) -> Any:
        import torch

        if a is None:
            return None
        t = torch.tensor(np.array(a, dtype=np.float64), dtype=getattr(torch, self.dtype))
        return t.requires_grad_(requires_grad)

    def _run(self, problem: Problem, x: Any, h0: Any) -> tuple[Any, Any, list[Any]]:
        """Output (caller's layout), h_n (L*D, B, H) and the stack's layers, computed on
        ``self.device`` (Keras' torch backend would otherwise pick CUDA whenever it exists)."""
        with self.keras.device(self.device):
            return self._run_on_device(problem, x, h0)

    def _run_on_device(self, problem: Problem, x: Any, h0: Any) -> tuple[Any, Any, list[Any]]:
        import torch

        self._check_call(problem, h0)
        layers = self._layers(problem.params)
        seq = x if problem.batch_first else x.transpose(0, 1)  # (B, T, I)
        mask = None
        if problem.lengths is not None:
            steps = torch.arange(problem.steps)[None, :]
            mask = steps < torch.as_tensor(np.asarray(problem.lengths))[:, None]
        seq, finals = self._through(layers, seq, h0, mask, problem.params.num_directions)
        if mask is not None:
            seq = seq * mask[:, :, None].to(seq.dtype)
        out = seq if problem.batch_first else seq.transpose(0, 1)
        return out, torch.stack(finals), layers

    # -- Implementation -----------------------------------------------------------------------

    def forward(self, problem: Problem) -> Outputs:
        import torch

        with torch.no_grad():
            out, h_n, _ = self._run(problem, self._tensor(problem.x), self._tensor(problem.h0))
        return Outputs(_np(out), _np(h_n))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        import torch

        x = self._tensor(problem.x, True)
        h0 = self._tensor(problem.h0, True)
        with torch.enable_grad():
            out, h_n, layers = self._run(problem, x, h0)
            variables = [v for gru in layers for v in gru.weights]
            loss = out.sum() * 0 + h_n.sum() * 0
            if d_output is not None:
                loss = loss + (out * self._tensor(d_output)).sum()
            if d_h_n is not None:
                loss = loss + (h_n * self._tensor(d_h_n)).sum()
            leaves = [x] + ([h0] if h0 is not None else []) + [v.value for v in variables]
            grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        return self._gradients_from(problem, list(grads), leaves, tuple(h_n.shape), _np)


def _np(t: Any) -> np.ndarray:
    return t.detach().to("cpu").double().numpy()  # type: ignore[no-any-return]
