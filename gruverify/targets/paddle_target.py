"""PaddlePaddle ``paddle.nn.GRU`` (CPU, float32) as an ``Implementation``.

Paddle's GRU has torch's layout (``gruverify.layouts.paddle_layout``: ``weight_ih_l{k}`` ...,
gates r, z, c, all six biases), the reset-after variant and the canonical update. Every feature is
Paddle's own: ``num_layers``, ``direction="bidirect"``, ``time_major`` (``batch_first`` is
``time_major=False``), ``sequence_length`` for lengths, ``initial_states`` (None: zeros),
``bias_ih_attr=bias_hh_attr=False`` for ``bias=False``, ``dropout`` between layers (``eval()``
disables it). One layer object per configuration serves every problem of it; weights are loaded with
``set_state_dict`` when they change. Forward runs in ``eval()`` mode under ``paddle.no_grad()``;
gradients come from ``paddle.grad`` of ``sum(d_output * output) + sum(d_h_n * h_n)`` with respect to
the input, the initial state and the parameters.

Measured (paddlepaddle 3.3.1, CPU):

* **``bias_ih_attr=bias_hh_attr=False`` crashes the process**: ``paddle.nn.GRU(3, 4,
  bias_ih_attr=False, bias_hh_attr=False)(paddle.randn([2, 5, 3]))`` dies with a segmentation fault
  in ``phi::RnnKernel`` (``DenseTensor::ShareDataWith`` -> ``check_memory_size``). A crash would
  end the checker, so ``bias_false`` is declared missing with that reason.
* **Wrong gradients for the reverse direction with ``sequence_length``**: forward is right, but
  the backward pass of a bidirectional GRU given lengths returns wrong gradients for the input,
  the initial state and the reverse direction's parameters (e.g. ``dL/db_hz[0]`` 0.0135 where
  the finite difference of Paddle's own forward gives -0.0222, as the reference does). One
  direction with lengths, and two directions without, are right. The gradient checks report it.
* **NaN gradients at saturated gates**: with a large input (x = -300 into a one-unit input) the
  forward is finite and right, but the backward returns NaN for ``dx`` and the reset gate's
  parameters (``W_ir``, ``W_hr``, ``b_ir``, ``b_hr``) where the true gradients are ~0. The checker
  reports it as a broken output contract of ``gradients``.

Missing: ``unbatched`` (the layer takes 3-D input only), ``bias_false`` (above). float32 only.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from gruverify.core.params import Variant
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem, split_leaf_gradients
from gruverify.layouts.paddle_layout import gru_from_paddle, gru_to_paddle, paddle_direction
from gruverify.targets.errors import TargetError

__all__ = ["NO_BIAS_REASON", "PADDLE_MISSING", "PaddleGRUTarget"]

UNBATCHED_REASON = "paddle.nn.GRU takes 3-D input only ((batch, time, features) or time-major)"
NO_BIAS_REASON = (
    "paddle.nn.GRU(bias_ih_attr=False, bias_hh_attr=False) crashes the process on the CPU "
    "(paddlepaddle 3.3.1: segmentation fault in phi::RnnKernel)"
)
PADDLE_MISSING = {"unbatched": UNBATCHED_REASON, "bias_false": NO_BIAS_REASON}


class PaddleGRUTarget:
    """``paddle.nn.GRU`` on the CPU (module docstring)."""

    variant: Variant = "reset_after"
    capabilities = Capabilities(PADDLE_MISSING)

    def __init__(
        self, *, dtype: str = "float32", device: str = "cpu", dropout: float = 0.0
    ) -> None:
        if dtype != "float32" or device != "cpu":
            raise TargetError(f"paddle runs float32 on the cpu here, not {dtype} on {device}")
        try:
            import paddle
        except ImportError as e:
            raise TargetError(f"the paddle target needs paddlepaddle: {e}") from e
        self.paddle = paddle
        self.dtype = dtype
        self.device = device
        self.dropout = dropout
        self.name = "paddle" + (f"[dropout={dropout}]" if dropout else "")
        self._layers: dict[tuple[Any, ...], Any] = {}
        self._loaded: dict[tuple[Any, ...], str] = {}

    def with_dropout(self, dropout: float) -> PaddleGRUTarget:
        """The same target with layers built with ``dropout`` (for the eval-mode dropout law)."""
        return PaddleGRUTarget(dtype=self.dtype, device=self.device, dropout=dropout)

    def _layer(self, problem: Problem) -> Any:
        paddle = self.paddle
        p = problem.params
        key = (p.input_size, p.hidden_size, p.num_layers, p.bidirectional, p.bias,
               problem.batch_first)  # fmt: skip
        layer = self._layers.get(key)
        if layer is None:
            if not p.bias:
                raise ValueError(f"{self.name}: {NO_BIAS_REASON}")
            paddle.set_device("cpu")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                layer = paddle.nn.GRU(
                    p.input_size, p.hidden_size, p.num_layers,
                    direction=paddle_direction(p.bidirectional),
                    time_major=not problem.batch_first, dropout=self.dropout,
                )  # fmt: skip
            self._layers[key] = layer
        digest = p.digest()
        if self._loaded.get(key) != digest:
            state = {k: paddle.to_tensor(v.astype(np.float32)) for k, v in gru_to_paddle(p).items()}
            _, unexpected = layer.set_state_dict(state)
            if unexpected:
                raise TargetError(f"{self.name}: set_state_dict rejected {unexpected}")
            self._loaded[key] = digest
        return layer

    def _call(self, problem: Problem, x: Any, h0: Any) -> tuple[Any, Any, Any]:
        paddle = self.paddle
        if not problem.batched:
            raise ValueError(f"{self.name}: {UNBATCHED_REASON}")
        p = problem.params
        if h0 is not None and h0.shape[0] != p.num_layers * p.num_directions:
            raise ValueError(
                f"{self.name}: h0 has shape {tuple(h0.shape)}, expected "
                f"({p.num_layers * p.num_directions}, batch, {p.hidden_size})"
            )
        layer = self._layer(problem)
        lengths = None
        if problem.lengths is not None:
            lengths = paddle.to_tensor(np.asarray(problem.lengths, np.int64))
        out, h_n = layer(x, h0, lengths)
        return out, h_n, layer

    def _tensor(self, a: np.ndarray | None, grad: bool = False) -> Any:
        if a is None:
            return None
        t = self.paddle.to_tensor(np.asarray(a, np.float32))
        t.stop_gradient = not grad
        return t

    # -- Implementation -----------------------------------------------------------------------

    def forward(self, problem: Problem) -> Outputs:
        paddle = self.paddle
        with paddle.no_grad():
            layer = self._layer(problem)
            layer.eval()
            out, h_n, _ = self._call(problem, self._tensor(problem.x), self._tensor(problem.h0))
        return Outputs(np.asarray(out.numpy(), np.float64), np.asarray(h_n.numpy(), np.float64))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        paddle = self.paddle
        layer = self._layer(problem)
        layer.train()
        x, h0 = self._tensor(problem.x, True), self._tensor(problem.h0, True)
        out, h_n, _ = self._call(problem, x, h0)
        loss = out.sum() * 0.0 + h_n.sum() * 0.0
        if d_output is not None:
            loss = loss + (out * self._tensor(d_output)).sum()
        if d_h_n is not None:
            loss = loss + (h_n * self._tensor(d_h_n)).sum()
        names = list(gru_to_paddle(problem.params))
        params = dict(layer.named_parameters())
        leaves = [x] + ([h0] if h0 is not None else []) + [params[k] for k in names]
        grads = paddle.grad([loss], leaves, allow_unused=True)
        dx, dh0, rest = split_leaf_gradients(
            grads, leaves, h0 is not None, tuple(h_n.shape), _paddle_np
        )
        return Gradients(dx, dh0, gru_from_paddle(dict(zip(names, rest, strict=True))))


def _paddle_np(t: Any) -> np.ndarray:
    return np.asarray(t.numpy(), np.float64)
