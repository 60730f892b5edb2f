"""Flax ``linen.GRUCell`` and ``nnx.GRUCell`` (jax, float32, CPU) as ``Implementation`` s.

A cell is one layer and one direction; the adapter runs it over time with a Python loop
``(h_t, y_t) = cell(h_{t-1}, x_t)`` from ``h_0`` (zeros when the problem gives none), the same
``h' = (1 - z) * n + z * h`` reset-after GRU the reference computes. ``multilayer``,
``bidirectional`` and ``lengths`` are missing ("a GRUCell: one layer, one direction"): stacking,
reversing and masking would be gruverify's code, not Flax's. Unbatched inputs (``x`` (T, I)) run
as they are: Flax's Dense layers act on the last axis.

Weights come from ``gruverify.layouts.flax_layout``. Flax has no ``b_hr`` and ``b_hz``: the converter
stores ``b_ir + b_hr`` and ``b_iz + b_hz`` (they enter the pre-activation as one sum). Gradients come
from ``jax.vjp`` of ``L = sum(d_output * output) + sum(d_h_n * h_n)`` with respect to the input, the
initial state and the Flax parameters, mapped back with the converter's inverse. The gradient of a
folded bias is reported for both halves: ``dL/db_hr = dL/db_ir`` and ``dL/db_hz = dL/db_iz``,
which holds for the true GRU as well (each pair enters as a sum).

``flax.nnx.GRUCell`` has no ``b_hn`` parameter (google/flax#5594: its ``dense_h`` has no bias, while
``b_hn`` sits inside ``r * (W_hn h + b_hn)`` and cannot be folded). The nnx target converts with
``drop_b_hn=True`` so that it runs, and computes a different GRU whenever ``b_hn != 0``: the forward
check fails there, which is the finding, and its ``dL/db_hn`` is reported as 0 (nnx's output does
not depend on ``b_hn``). float64 would need ``jax_enable_x64`` (a process-wide switch), so these
targets run float32 only, and on the cpu: arrays are placed there explicitly, since jax would use a
GPU whenever it has one, where float32 matmuls default to reduced (TF32-like) precision.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Literal

import numpy as np

from gruverify.core.params import GRUCellParams, GRUParams, StackParams, Variant
from gruverify.core.problem import Capabilities, Problem
from gruverify.layouts.flax_layout import (
    gru_cell_from_flax_linen,
    gru_cell_from_flax_nnx,
    gru_cell_to_flax_linen,
    gru_cell_to_flax_nnx,
)
from gruverify.targets.jax_compiled import (
    JaxCompiledTarget,
    require_jax,
    scan_cell,
)

__all__ = ["FLAX_KINDS", "FlaxGRUCellTarget", "FlaxKind"]

FlaxKind = Literal["linen", "nnx"]
FLAX_KINDS: tuple[FlaxKind, ...] = ("linen", "nnx")

CELL_REASON = "a GRUCell: one layer, one direction"
CELL_MISSING = {
    "multilayer": CELL_REASON,
    "bidirectional": CELL_REASON,
    "lengths": CELL_REASON,
    "dropout": "a GRUCell has no dropout",
}
NNX_NO_B_HN = "flax.nnx.GRUCell has no b_hn parameter"


class FlaxGRUCellTarget(JaxCompiledTarget):
    """``flax.linen.GRUCell`` (``kind="linen"``) or ``flax.nnx.GRUCell`` (``kind="nnx"``) stepped
    over time (module docstring)."""

    variant: Variant = "reset_after"
    capabilities = Capabilities(CELL_MISSING)

    def __init__(self, kind: FlaxKind, *, dtype: str = "float32", device: str = "cpu") -> None:
        if kind not in FLAX_KINDS:
            raise ValueError(f"kind must be one of {FLAX_KINDS}, got {kind!r}")
        require_jax(f"flax-{kind}", dtype, device, "flax", "flax")
        super().__init__()
        self.kind: FlaxKind = kind
        self.dtype = dtype
        self.device = device
        self.name = f"flax-{kind}"
        self.description = (
            "flax.linen.GRUCell stepped over time (jax, float32)"
            if kind == "linen"
            else f"flax.nnx.GRUCell stepped over time (jax, float32); {NNX_NO_B_HN}"
        )
        self._cells: dict[tuple[int, int], Any] = {}
        self._weights: tuple[str, Any] | None = None

    # -- the cell as a pure function of (weights, h, x) -----------------------------------------

    def _cell_fn(self, I: int, H: int) -> Any:
        """``step(weights, h, x) -> (h', y)`` for a cell of these sizes (built once)."""
        fn = self._cells.get((I, H))
        if fn is not None:
            return fn
        if self.kind == "linen":
            import flax.linen as nn

            cell = nn.GRUCell(features=H)

            def fn(weights: Any, h: Any, x: Any) -> Any:
                return cell.apply({"params": weights}, h, x)

        else:
            import jax
            from flax import nnx

            split: Any = nnx.split(nnx.GRUCell(I, H, rngs=nnx.Rngs(0)), nnx.Param, ...)
            graphdef, state, rest = split

            def fn(weights: Any, h: Any, x: Any) -> Any:
                params = jax.tree_util.tree_map(lambda a: a, state)  # a copy: no shared mutation
                nnx.replace_by_pure_dict(params, weights)
                return nnx.merge(graphdef, params, rest)(h, x)

        self._cells[(I, H)] = fn
        return fn

    def _tree(self, params: GRUParams) -> Any:
        import jax
        import jax.numpy as jnp

        digest = params.digest()
        if self._weights is not None and self._weights[0] == digest:
            return self._weights[1]
        cell: GRUCellParams[np.ndarray] = params.cell(0, 0)
        tree: Any
        if self.kind == "linen":
            tree = gru_cell_to_flax_linen(cell)["params"]
        else:
            tree = gru_cell_to_flax_nnx(cell, drop_b_hn=True)
        tree = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), tree)
        self._weights = (digest, tree)
        return tree

    def _check(self, problem: Problem) -> None:
        p = problem.params
        if p.num_layers != 1 or p.bidirectional or problem.lengths is not None:
            raise ValueError(f"{self.name}: {CELL_REASON} ({problem.describe()})")

    def _compile_key(self, problem: Problem) -> Hashable:
        p = problem.params
        return (p.input_size, p.hidden_size, problem.batched and problem.batch_first)

    def _run_fn(self, problem: Problem) -> Any:
        """``run(weights, x, h0) -> (output, h_n)`` (caller's layout); time runs in
        ``jax.lax.scan``, so a compilation serves every sequence length of a shape."""
        p = problem.params
        batch_first = problem.batched and problem.batch_first
        step = self._cell_fn(p.input_size, p.hidden_size)

        def run(weights: Any, x: Any, h0: Any) -> tuple[Any, Any]:
            def body(h: Any, x_t: Any) -> tuple[Any, Any]:
                h_next, y = step(weights, h, x_t)
                return h_next, y

            return scan_cell(body, x, h0, batch_first)

        return run

    def _inputs(self, problem: Problem) -> tuple[Any, Any]:
        import jax.numpy as jnp

        self._check(problem)
        x = jnp.asarray(np.asarray(problem.x, np.float32))
        if problem.h0 is None:
            B = (np.shape(problem.x)[0 if problem.batch_first else 1],) if problem.batched else ()
            h0 = jnp.zeros((1, *B, problem.params.hidden_size), jnp.float32)
        else:
            B = (np.shape(problem.x)[0 if problem.batch_first else 1],) if problem.batched else ()
            want = (1, *B, problem.params.hidden_size)
            if tuple(np.shape(problem.h0)) != want:
                raise ValueError(
                    f"{self.name}: h0 has shape {tuple(np.shape(problem.h0))}, expected {want} "
                    "(one layer, one direction)"
                )
            h0 = jnp.asarray(np.asarray(problem.h0, np.float32))
        return x, h0

    def _dparams(self, problem: Problem, g_tree: Any) -> GRUParams:
        """Flax-layout gradients -> canonical names; a folded bias's gradient goes to both halves
        (module docstring)."""
        import jax

        g_tree = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), g_tree)
        if self.kind == "linen":
            cell = gru_cell_from_flax_linen(g_tree)
        else:
            cell = gru_cell_from_flax_nnx(g_tree)  # b_hn: 0, nnx does not depend on it
        cell = cell.replace(b_hr=cell.b_ir.copy(), b_hz=cell.b_iz.copy())
        return StackParams(((cell,),), bias=problem.params.bias)
