"""MLX ``mlx.nn.GRU`` on its CPU backend (float32) as an ``Implementation``.

``mlx.nn.GRU`` is one layer in one direction that loops over time itself and returns every step's
state, batch-major (``(N, L, D)``) or unbatched (``(L, D)``); the final state is the last output.
Weights come from ``gruverify.layouts.mlx_layout`` (gates r, z, n; ``b_hr``, ``b_hz`` folded into
``b``; ``bhn = b_hn``) and are loaded with ``Module.update``; the reset-after GRU with the canonical
update. ``h0=None`` is MLX's own ``hidden=None`` path (its first step computes ``(1 - z) * n``);
time-major problems are transposed at the boundary; ``bias=False`` is ``GRU(bias=False)``.
Gradients come from ``mlx.core.vjp`` with respect to the input, the initial state and the layer's
parameters (a folded bias's gradient is reported for ``b_ir`` and ``b_hr`` alike). Computation runs
on ``mx.cpu`` (the GPU stream is Apple's Metal).

Missing: ``multilayer``, ``bidirectional`` (one layer, one direction: stacking or reversing would
be gruverify's code), ``lengths`` (it runs every step of every sequence), ``dropout``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gruverify.core.params import GRUParams, StackParams, Variant
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem
from gruverify.layouts.mlx_layout import gru_cell_from_mlx, gru_cell_to_mlx
from gruverify.targets.errors import TargetError

__all__ = ["MLX_MISSING", "MlxGRUTarget"]

LAYER_REASON = "mlx.nn.GRU is one layer in one direction"
MLX_MISSING = {
    "multilayer": LAYER_REASON,
    "bidirectional": LAYER_REASON,
    "lengths": "mlx.nn.GRU runs every step of every sequence (no lengths or mask)",
    "dropout": "mlx.nn.GRU has no dropout",
}


class MlxGRUTarget:
    """``mlx.nn.GRU`` on the CPU (module docstring)."""

    variant: Variant = "reset_after"
    capabilities = Capabilities(MLX_MISSING)

    def __init__(self, *, dtype: str = "float32", device: str = "cpu") -> None:
        if dtype != "float32":
            raise TargetError(f"mlx runs float32 here, not {dtype!r}")
        if device != "cpu":
            raise TargetError(f"mlx runs on its cpu backend here, not {device!r}")
        try:
            import mlx.core as mx
            import mlx.nn
        except ImportError as e:
            raise TargetError(f"the mlx target needs mlx (pip install 'mlx[cpu]'): {e}") from e
        self.mx = mx
        self.nn: Any = mlx.nn  # mlx.nn.GRU is missing from mlx's type stubs
        self.dtype = dtype
        self.device = device
        self.name = "mlx"
        self._layers: dict[tuple[int, int, bool], Any] = {}

    def _layer(self, params: GRUParams) -> tuple[Any, dict[str, Any]]:
        """The layer of this configuration (built once) and the weights as MLX arrays."""
        mx = self.mx
        key = (params.input_size, params.hidden_size, params.bias)
        layer = self._layers.get(key)
        if layer is None:
            layer = self.nn.GRU(params.input_size, params.hidden_size, bias=params.bias)
            self._layers[key] = layer
        weights = {
            k: mx.array(v.astype(np.float32))
            for k, v in gru_cell_to_mlx(params.cell(0, 0), bias=params.bias).items()
        }
        return layer, weights

    def _inputs(self, problem: Problem) -> tuple[Any, Any]:
        mx = self.mx
        p = problem.params
        if p.num_layers != 1 or p.bidirectional or problem.lengths is not None:
            raise ValueError(f"{self.name}: {LAYER_REASON}, every step ({problem.describe()})")
        x = np.asarray(problem.x, np.float32)
        if problem.batched and not problem.batch_first:
            x = np.swapaxes(x, 0, 1)
        if problem.h0 is None:
            return mx.array(np.ascontiguousarray(x)), None
        B = (x.shape[0],) if problem.batched else ()
        want = (1, *B, p.hidden_size)
        if tuple(np.shape(problem.h0)) != want:
            raise ValueError(
                f"{self.name}: h0 has shape {tuple(np.shape(problem.h0))}, expected {want}"
            )
        return mx.array(np.ascontiguousarray(x)), mx.array(np.asarray(problem.h0[0], np.float32))

    def _run(self, layer: Any, weights: dict[str, Any], x: Any, h0: Any) -> Any:
        layer.update(weights)
        return layer(x, h0)

    def _outputs(self, problem: Problem, ys: np.ndarray) -> Outputs:
        y = np.asarray(ys, np.float64)
        h_n = y[..., -1, :][None]
        if problem.batched and not problem.batch_first:
            y = np.swapaxes(y, 0, 1)
        return Outputs(y, h_n)

    # -- Implementation -----------------------------------------------------------------------

    def forward(self, problem: Problem) -> Outputs:
        mx = self.mx
        with mx.stream(mx.cpu):
            x, h0 = self._inputs(problem)
            layer, weights = self._layer(problem.params)
            ys = self._run(layer, weights, x, h0)
            mx.eval(ys)
            return self._outputs(problem, np.array(ys))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        mx = self.mx
        with mx.stream(mx.cpu):
            x, h0 = self._inputs(problem)
            layer, weights = self._layer(problem.params)
            names = sorted(weights)
            ys = self._run(layer, weights, x, h0)
            cot = np.zeros(ys.shape, np.float32)
            if d_output is not None:
                d = np.asarray(d_output, np.float32)
                cot += d if not problem.batched or problem.batch_first else np.swapaxes(d, 0, 1)
            if d_h_n is not None:
                cot[..., -1, :] += np.asarray(d_h_n[0], np.float32)

            def fn(*args: Any) -> Any:
                w = dict(zip(names, args[2:], strict=True))
                return self._run(layer, w, args[0], args[1])

            h_in = h0 if h0 is not None else mx.zeros(ys[..., 0, :].shape)
            primals = [x, h_in, *(weights[k] for k in names)]
            _, grads = mx.vjp(fn, primals, [mx.array(cot)])
            mx.eval(grads)
        g = [np.array(a, np.float64) for a in grads]
        dx = g[0] if not problem.batched or problem.batch_first else np.swapaxes(g[0], 0, 1)
        dh0 = np.zeros((1, *g[1].shape)) if h0 is None else g[1][None]
        cell = gru_cell_from_mlx(dict(zip(names, g[2:], strict=True)))
        cell = cell.replace(b_hr=cell.b_ir.copy(), b_hz=cell.b_iz.copy())
        dparams: GRUParams = StackParams(((cell,),), bias=problem.params.bias)
        return Gradients(dx, dh0, dparams)
