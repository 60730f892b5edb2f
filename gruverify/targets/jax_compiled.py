"""What the JAX library targets (equinox, haiku, flax) share: a jitted run and its VJP, on the CPU.

A subclass gives ``_tree(params)`` (the library's parameter pytree), ``_inputs(problem)`` (input
and initial state as jax arrays), ``_run_fn(problem)`` (``run(tree, x, h0) -> (out, h_n)``, not
jitted) with the key it may be reused under (``_compile_key(problem)``) and ``_dparams(problem,
g_tree)`` (the parameter gradients in canonical names), and calls ``super().__init__()``. This base
jits ``run`` and its VJP once per key and turns them into ``forward`` and ``gradients``.
"""

from __future__ import annotations

import importlib
from collections.abc import Hashable
from typing import Any

import numpy as np

from gruverify.core.params import GRUParams
from gruverify.core.problem import Gradients, Outputs, Problem
from gruverify.targets.errors import TargetError

__all__ = ["JaxCompiledTarget", "jit_with_vjp", "require_jax", "scan_cell"]


def require_jax(name: str, dtype: str, device: str, library: str, install: str) -> None:
    """``TargetError`` unless ``dtype`` is float32 (float64 would need ``jax_enable_x64``, a
    process-wide switch), ``device`` the cpu (jax would use a GPU whenever it has one), and jax
    and ``library`` import (``install``: what to install)."""
    if dtype != "float32":
        raise TargetError(f"{name} runs float32 only (float64 needs jax_enable_x64), not {dtype!r}")
    if device != "cpu":
        raise TargetError(f"{name} runs on the cpu here, not {device!r}")
    try:
        importlib.import_module("jax")
        importlib.import_module(library)
    except ImportError as e:
        raise TargetError(f"{name} needs jax and {install}: {e}") from e


def jit_with_vjp(run: Any) -> tuple[Any, Any]:
    """``jax.jit(run)`` for ``run(tree, x, h0) -> (out, h_n)``, and its jitted VJP
    ``vjp(tree, x, h0, d_out, d_hn) -> (g_tree, g_x, g_h0)``: what ``_compiled`` returns."""
    import jax

    def vjp(tree: Any, x: Any, h0: Any, d_out: Any, d_hn: Any) -> Any:
        _, pullback = jax.vjp(run, tree, x, h0)
        return pullback((d_out, d_hn))

    return jax.jit(run), jax.jit(vjp)


def scan_cell(step: Any, x: Any, h0: Any, batch_first: bool) -> tuple[Any, Any]:
    """One layer and direction over time under ``jax.lax.scan``: ``step(h, x_t) -> (h', y_t)``
    from ``h0[0]``; the output in the caller's layout and ``h_n`` ``(1, ..., H)``."""
    import jax
    import jax.numpy as jnp

    seq = jnp.swapaxes(x, 0, 1) if batch_first else x
    h, out = jax.lax.scan(step, h0[0], seq)
    return (jnp.swapaxes(out, 0, 1) if batch_first else out), h[None]


class JaxCompiledTarget:
    """``forward`` and ``gradients`` of a jitted JAX GRU, run on the CPU device."""

    def __init__(self) -> None:
        self._jitted: dict[Hashable, tuple[Any, Any]] = {}

    def _tree(self, params: GRUParams) -> Any:
        raise NotImplementedError

    def _inputs(self, problem: Problem) -> tuple[Any, Any]:
        raise NotImplementedError

    def _compile_key(self, problem: Problem) -> Hashable:
        raise NotImplementedError

    def _run_fn(self, problem: Problem) -> Any:
        raise NotImplementedError

    def _compiled(self, problem: Problem) -> tuple[Any, Any]:
        """``jit_with_vjp(self._run_fn(problem))``, built once per ``_compile_key(problem)``."""
        key = self._compile_key(problem)
        fns = self._jitted.get(key)
        if fns is None:
            fns = jit_with_vjp(self._run_fn(problem))
            self._jitted[key] = fns
        return fns

    def _dparams(self, problem: Problem, g_tree: Any) -> GRUParams:
        raise NotImplementedError

    def forward(self, problem: Problem) -> Outputs:
        import jax

        with jax.default_device(jax.devices("cpu")[0]):
            x, h0 = self._inputs(problem)
            run, _ = self._compiled(problem)
            out, h_n = run(self._tree(problem.params), x, h0)
        return Outputs(np.asarray(out, np.float64), np.asarray(h_n, np.float64))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        import jax
        import jax.numpy as jnp

        with jax.default_device(jax.devices("cpu")[0]):
            x, h0 = self._inputs(problem)
            run, vjp = self._compiled(problem)
            tree = self._tree(problem.params)
            out, h_n = jax.eval_shape(run, tree, x, h0)
            d_out, d_hn = (
                jnp.zeros(s.shape, jnp.float32) if d is None else jnp.asarray(d, jnp.float32)
                for s, d in ((out, d_output), (h_n, d_h_n))
            )
            g_tree, g_x, g_h0 = vjp(tree, x, h0, d_out, d_hn)
        dh0 = np.zeros(tuple(h_n.shape)) if problem.h0 is None else np.asarray(g_h0, np.float64)
        return Gradients(np.asarray(g_x, np.float64), dh0, self._dparams(problem, g_tree))
