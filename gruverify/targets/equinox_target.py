"""``equinox.nn.GRUCell`` (jax, float32, CPU) scanned over time, as an ``Implementation``.

Equinox's cell is one step on unbatched vectors, ``cell(x (I,), h (H,)) -> h'``; the target runs it
the way Equinox documents: ``jax.lax.scan`` over time, ``jax.vmap`` over the batch (an unbatched
problem runs without vmap), the whole run under ``jax.jit``. Weights come from
``gruverify.layouts.equinox_layout`` (gates r, z, n; ``b_hr``, ``b_hz`` folded into ``bias``;
``bias_n = b_hn``) and are put into the cell with ``equinox.tree_at``. It computes the reset-after
GRU, update written ``h' = n + z * (h - n)`` (the canonical update, rounded differently).

Features: ``bias=False`` is ``GRUCell(use_bias=False)`` (``bias = bias_n = None``); ``h0=None``
starts from zeros; ``batch_first`` is a transposition at the boundary; gradients come from
``jax.vjp`` with respect to the input, the initial state and the cell's arrays, mapped back with
the converter (a folded bias's gradient is reported for both halves: ``dL/db_hr = dL/db_ir``,
which holds for the true GRU too). Missing: ``multilayer``, ``bidirectional``, ``lengths`` (a cell:
one layer, one direction, every step), ``dropout``. float32 only (float64 would need the
process-wide ``jax_enable_x64``), arrays placed on the CPU.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from gruverify.core.params import GRUCellParams, GRUParams, StackParams, Variant
from gruverify.core.problem import Capabilities, Problem
from gruverify.layouts.equinox_layout import (
    EQUINOX_FIELDS,
    gru_cell_from_equinox,
    gru_cell_to_equinox,
)
from gruverify.targets.jax_compiled import (
    JaxCompiledTarget,
    require_jax,
    scan_cell,
)

__all__ = ["EQUINOX_MISSING", "EquinoxGRUCellTarget"]

CELL_REASON = "equinox.nn.GRUCell is one step of one layer in one direction"
EQUINOX_MISSING = {
    "multilayer": CELL_REASON,
    "bidirectional": CELL_REASON,
    "lengths": CELL_REASON + " (scan runs every step)",
    "dropout": "equinox.nn.GRUCell has no dropout",
}


class EquinoxGRUCellTarget(JaxCompiledTarget):
    """``equinox.nn.GRUCell`` under ``jax.lax.scan`` (and ``jax.vmap`` over the batch)."""

    variant: Variant = "reset_after"
    capabilities = Capabilities(EQUINOX_MISSING)

    def __init__(self, *, dtype: str = "float32", device: str = "cpu") -> None:
        require_jax("equinox", dtype, device, "equinox", "equinox")
        super().__init__()
        self.dtype = dtype
        self.device = device
        self.name = "equinox"
        self._weights: tuple[str, Any] | None = None

    def _tree(self, params: GRUParams) -> tuple[Any, ...]:
        import jax.numpy as jnp

        digest = params.digest()
        if self._weights is not None and self._weights[0] == digest:
            return self._weights[1]  # type: ignore[no-any-return]
        fields = gru_cell_to_equinox(params.cell(0, 0), use_bias=params.bias)
        arrays = tuple(jnp.asarray(fields[k], jnp.float32) for k in self._names(params.bias))
        self._weights = (digest, arrays)
        return arrays

    @staticmethod
    def _names(bias: bool) -> tuple[str, ...]:
        return EQUINOX_FIELDS if bias else EQUINOX_FIELDS[:2]

    def _compile_key(self, problem: Problem) -> Hashable:
        p = problem.params
        bf = problem.batched and problem.batch_first
        return (p.input_size, p.hidden_size, p.bias, problem.batched, bf)

    def _run_fn(self, problem: Problem) -> Any:
        """``run(fields, x, h0) -> (output, h_n)``: the cell vmapped over the batch, scanned."""
        import equinox as eqx
        import jax

        p = problem.params
        batched, bf = problem.batched, problem.batched and problem.batch_first
        base = eqx.nn.GRUCell(p.input_size, p.hidden_size, use_bias=p.bias, key=jax.random.key(0))
        names = self._names(p.bias)

        def run(fields: Any, x: Any, h0: Any) -> tuple[Any, Any]:
            cell = eqx.tree_at(lambda c: [getattr(c, k) for k in names], base, list(fields))
            step = jax.vmap(cell) if batched else cell

            def body(h: Any, x_t: Any) -> tuple[Any, Any]:
                h = step(x_t, h)
                return h, h

            return scan_cell(body, x, h0, bf)

        return run

    def _inputs(self, problem: Problem) -> tuple[Any, Any]:
        import jax.numpy as jnp

        p = problem.params
        if p.num_layers != 1 or p.bidirectional or problem.lengths is not None:
            raise ValueError(f"{self.name}: {CELL_REASON} ({problem.describe()})")
        x = jnp.asarray(np.asarray(problem.x, np.float32))
        B = (np.shape(problem.x)[0 if problem.batch_first else 1],) if problem.batched else ()
        want = (1, *B, p.hidden_size)
        if problem.h0 is None:
            return x, jnp.zeros(want, jnp.float32)
        if tuple(np.shape(problem.h0)) != want:
            raise ValueError(
                f"{self.name}: h0 has shape {tuple(np.shape(problem.h0))}, expected {want}"
            )
        return x, jnp.asarray(np.asarray(problem.h0, np.float32))

    # -- Implementation -----------------------------------------------------------------------

    def _dparams(self, problem: Problem, g_tree: Any) -> GRUParams:
        names = self._names(problem.params.bias)
        tree: dict[str, Any] = {k: None for k in EQUINOX_FIELDS}
        tree.update({k: np.asarray(g, np.float64) for k, g in zip(names, g_tree, strict=True)})
        cell: GRUCellParams[np.ndarray] = gru_cell_from_equinox(tree)
        cell = cell.replace(b_hr=cell.b_ir.copy(), b_hz=cell.b_iz.copy())
        return StackParams(((cell,),), bias=problem.params.bias)
