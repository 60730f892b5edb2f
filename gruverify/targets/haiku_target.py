"""``haiku.GRU`` unrolled by ``haiku.dynamic_unroll`` (jax, float32, CPU) as an ``Implementation``.

Haiku's GRU is the **reset-before** GRU ``a = tanh(W_ia x + W_ha (r * h) + b_a)`` with Haiku's own
update convention ``h' = (1 - z_hk) * h + z_hk * a``: its update gate multiplies the candidate, the
complement of the canonical ``z`` (``z_hk = 1 - z``). The layout converter
(``gruverify.layouts.haiku_layout``) maps that exactly by a sign flip of the update gate's weights
and bias, and folds ``b_i* + b_h*`` into Haiku's single bias per gate, so the target is judged
against the reset-before reference.

What runs is Haiku's: ``hk.dynamic_unroll`` (a ``jax.lax.scan`` over time) of

* ``hk.DeepRNN([hk.GRU(H), ...])`` for a one-direction stack of ``L`` layers (every layer steps at
  each time step; the state is a tuple of ``L`` states),
* per layer, ``hk.GRU`` forward and ``hk.GRU`` with ``dynamic_unroll(reverse=True)`` for two
  directions, their outputs concatenated (forward half first) as the next layer's input: Haiku has
  no bidirectional core, so the concatenation is gruverify's, the reverse scan Haiku's.

``batch_first`` is ``dynamic_unroll(time_major=False)``; unbatched inputs run as they are (``hk.GRU``
takes rank-1 inputs); ``h0=None`` is the core's ``initial_state`` (zeros); ``bias=False`` is ``b = 0``
(Haiku always has a bias). Gradients come from ``jax.vjp`` with respect to the input, the initial
state and Haiku's parameters, mapped back with the converter (a folded bias's gradient is reported
for ``b_i*`` and ``b_h*`` alike, which holds for the true GRU too). Missing: ``lengths``
(``dynamic_unroll`` runs every sequence for all ``T`` steps; ``hk.ResetCore`` resets a state, it does
not stop it), ``dropout`` (none). float32 only (float64 needs the process-wide ``jax_enable_x64``).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from gruverify.core.params import GRUParams, StackParams, Variant
from gruverify.core.problem import Capabilities, Problem
from gruverify.layouts.haiku_layout import gru_cell_from_haiku, gru_cell_to_haiku
from gruverify.targets.jax_compiled import JaxCompiledTarget, require_jax

__all__ = ["HAIKU_MISSING", "HaikuGRUTarget", "haiku_module_name"]

HAIKU_MISSING = {
    "lengths": "hk.dynamic_unroll runs every sequence for all T steps (no sequence lengths; "
    "hk.ResetCore resets a state, it does not stop it)",
    "dropout": "haiku.GRU has no dropout",
}


def haiku_module_name(layer: int, direction: int, num_directions: int) -> str:
    """The Haiku module name of a stack's cell: ``gru_l{layer}`` (built outside the ``DeepRNN``
    that steps it, so not under its name) for one direction, ``gru_l{layer}_d{direction}`` for
    two."""
    if num_directions == 1:
        return f"gru_l{layer}"
    return f"gru_l{layer}_d{direction}"


class HaikuGRUTarget(JaxCompiledTarget):
    """``haiku.GRU`` stacks under ``hk.dynamic_unroll`` (module docstring)."""

    variant: Variant = "reset_before"
    capabilities = Capabilities(HAIKU_MISSING)

    def __init__(self, *, dtype: str = "float32", device: str = "cpu") -> None:
        require_jax("haiku", dtype, device, "haiku", "dm-haiku")
        super().__init__()
        self.dtype = dtype
        self.device = device
        self.name = "haiku"
        self._weights: tuple[str, Any] | None = None

    def _tree(self, params: GRUParams) -> dict[str, dict[str, Any]]:
        import jax.numpy as jnp

        digest = params.digest()
        if self._weights is not None and self._weights[0] == digest:
            return self._weights[1]  # type: ignore[no-any-return]
        D = params.num_directions
        tree = {
            haiku_module_name(layer, d, D): {
                k: jnp.asarray(v, jnp.float32) for k, v in gru_cell_to_haiku(cell).items()
            }
            for layer, row in enumerate(params.cells)
            for d, cell in enumerate(row)
        }
        self._weights = (digest, tree)
        return tree

    def _network(self, problem: Problem) -> Any:
        """``f(x, h0) -> (output, h_n)`` (``h0`` (L*D, [B,] H) or None) as a Haiku transform."""
        import haiku as hk
        import jax.numpy as jnp

        p = problem.params
        L, D, H = p.num_layers, p.num_directions, p.hidden_size
        time_major = not (problem.batched and problem.batch_first)
        batch = np.shape(problem.x)[1 if time_major else 0] if problem.batched else None

        def f(x: Any, h0: Any) -> tuple[Any, Any]:
            if D == 1:
                core = hk.DeepRNN([hk.GRU(H, name=f"gru_l{k}") for k in range(L)], name="stack")
                init = core.initial_state(batch) if h0 is None else tuple(h0)
                out, finals = hk.dynamic_unroll(core, x, init, time_major=time_major)
                return out, jnp.stack(finals)
            seq, finals = x, []
            for k in range(L):
                outs = []
                for d in range(D):
                    gru = hk.GRU(H, name=f"gru_l{k}_d{d}")
                    init = gru.initial_state(batch) if h0 is None else h0[k * D + d]
                    y, h_last = hk.dynamic_unroll(gru, seq, init, time_major=time_major,
                                                  reverse=d == 1)  # fmt: skip
                    outs.append(y)
                    finals.append(h_last)
                seq = jnp.concatenate(outs, axis=-1)
            return seq, jnp.stack(finals)

        return hk.without_apply_rng(hk.transform(f))

    def _compile_key(self, problem: Problem) -> Hashable:
        p = problem.params
        return (p.input_size, p.hidden_size, p.num_layers, p.num_directions, problem.batched,
                problem.batched and problem.batch_first, problem.h0 is None,
                np.shape(problem.x)[1 if not problem.batch_first else 0] if problem.batched
                else None)  # fmt: skip

    def _run_fn(self, problem: Problem) -> Any:
        return self._network(problem).apply

    def _inputs(self, problem: Problem) -> tuple[Any, Any]:
        import jax.numpy as jnp

        p = problem.params
        if problem.lengths is not None:
            raise ValueError(f"{self.name}: {HAIKU_MISSING['lengths']}")
        x = jnp.asarray(np.asarray(problem.x, np.float32))
        if problem.h0 is None:
            return x, None
        B = (np.shape(problem.x)[0 if problem.batch_first else 1],) if problem.batched else ()
        want = (p.num_layers * p.num_directions, *B, p.hidden_size)
        if tuple(np.shape(problem.h0)) != want:
            raise ValueError(
                f"{self.name}: h0 has shape {tuple(np.shape(problem.h0))}, expected {want}"
            )
        return x, jnp.asarray(np.asarray(problem.h0, np.float32))

    # -- Implementation -----------------------------------------------------------------------

    def _dparams(self, problem: Problem, g_tree: Any) -> GRUParams:
        p = problem.params
        rows = []
        for layer, row in enumerate(p.cells):
            cells = []
            for d in range(len(row)):
                g = g_tree[haiku_module_name(layer, d, p.num_directions)]
                c = gru_cell_from_haiku({k: np.asarray(v, np.float64) for k, v in g.items()})
                cells.append(c.replace(b_hr=c.b_ir.copy(), b_hz=c.b_iz.copy(), b_hn=c.b_in.copy()))
            rows.append(tuple(cells))
        return StackParams(tuple(rows), bias=p.bias)
